"""Temporally normalised (and magnified) clip shards: `results/{dataset}/clips/{condition}/`.

A clip shard stores per clip: `frames` (T, S, S[, 3]) uint8, `source_frames` (T,) float64 (the
source frame number of each output frame, fractional for TIM), `key_frames` (2, S, S[, 3]) uint8
(the aligned onset and apex frames, for onset->apex features) and `key_frame_numbers` (2,).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from mexflow.shards import ShardWriter, iter_clips
from mexflow.temporal import key_frame_indices, normalise_clip

# (aligned frames (N, S, S[, 3]) uint8, fps) -> magnified frames of the same shape
WindowMagnifier = Callable[[np.ndarray, float], np.ndarray]
# (clip_id, frames (T, ...), key_frames (2, ...)) -> (frames, key_frames), magnified
ClipMagnifier = Callable[[str, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def normalise_aligned_shard(aligned_dir, aligned: pd.DataFrame, index: pd.DataFrame, out_npz,
                            n_frames: int, method: str,
                            magnify: WindowMagnifier | None = None) -> pd.DataFrame:
    """Normalise every aligned clip of a shard to `n_frames` frames; with `magnify`, each clip's
    whole aligned window (at the corpus frame rate, index column `fps`) is magnified first, as
    the Emotion Engine applies EVM to raw frames before temporal sampling.

    index: the dataset's clip index with a `clip_id` column. Returns the shard's manifest.
    """
    index = index.set_index("clip_id")
    writer = ShardWriter(out_npz)
    for row, arrays in iter_clips(Path(aligned_dir), aligned, ["frames", "frame_numbers"]):
        clip_id, numbers, frames = row["clip_id"], arrays["frame_numbers"], arrays["frames"]
        if magnify is not None:
            frames = magnify(frames, float(index.at[clip_id, "fps"]))
        clip, positions = normalise_clip(frames, int(n_frames), method)
        try:
            keys = key_frame_indices(numbers, int(index.at[clip_id, "onset"]), int(index.at[clip_id, "apex"]))
        except ValueError as exc:
            raise ValueError(f"clip {clip_id}: {exc}; the temporal window must contain onset and apex") from exc
        source = np.interp(positions, np.arange(len(numbers)), numbers.astype(np.float64))
        writer.add(clip_id, frames=clip, source_frames=source, key_frames=frames[keys],
                   key_frame_numbers=numbers[keys])
    return writer.write()


def magnify_clip_shard(clips_dir, manifest: pd.DataFrame, out_npz, magnify: ClipMagnifier,
                       clip_meta: Callable[[str], dict] | None = None) -> pd.DataFrame:
    """Apply a per-clip magnifier to every clip of a normalised shard (frames and the onset/apex
    key frames), keeping the other arrays. `clip_meta(clip_id)` adds columns to the clip's
    manifest row. Returns the new shard's manifest."""
    writer = ShardWriter(out_npz)
    for row, arrays in iter_clips(Path(clips_dir), manifest):
        frames, keys = magnify(row["clip_id"], arrays["frames"], arrays["key_frames"])
        if frames.shape != arrays["frames"].shape or keys.shape != arrays["key_frames"].shape:
            raise ValueError(f"clip {row['clip_id']}: the magnifier changed the clip's shape "
                             f"{arrays['frames'].shape} -> {frames.shape}")
        meta = clip_meta(row["clip_id"]) if clip_meta is not None else None
        writer.add(row["clip_id"], meta, **{**arrays, "frames": frames, "key_frames": keys})
    return writer.write()
