"""Fine-tuning data from the pipeline's shards, and the subjects fine-tuning may see."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mexflow.shards import iter_clips

# Face-part masks that carry the face-aware weight (all of the geometry masks except "face").
PART_REGIONS = ("right_brow", "left_brow", "right_eye", "left_eye", "nose", "mouth")


def reserved_subjects(subjects, n: int, seed: int) -> list[str]:
    """The `n` subjects (sorted) set aside for magnifier fine-tuning when evaluation subjects must
    stay out of it; deterministic in `seed`. ValueError when n leaves fewer than 2 subjects."""
    pool = sorted(set(map(str, subjects)))
    if not 0 < n <= len(pool) - 2:
        raise ValueError(f"cannot reserve {n} of {len(pool)} subjects for fine-tuning and keep at "
                         f"least 2 for evaluation")
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(pool, size=n, replace=False).tolist())


def part_mask_weights(masks: np.ndarray, names: list[str]) -> np.ndarray:
    """(H, W) float32 union of the face-part masks (brows, eyes, nose, mouth) of (R, H, W) bool."""
    picked = [masks[i] for i, n in enumerate(names) if n in PART_REGIONS]
    if not picked:
        raise ValueError(f"no face-part masks among regions {names}")
    return np.logical_or.reduce(picked).astype(np.float32)


def load_training_clips(clip_shards: list[tuple[Path, pd.DataFrame]],
                        geometry_shards: list[tuple[Path, pd.DataFrame]] | None = None,
                        clip_ids: set[str] | None = None) -> tuple[list[str], list[np.ndarray], list[np.ndarray] | None]:
    """Normalised clips (T, S, S, 3) uint8 (gray replicated to RGB) among `clip_ids` (all
    when None) and, with geometry shards, their face-part mask weights (S, S) float32. Clips
    without geometry (rejected by FaceMesh) are left out of the masked list and of the clips
    alike, so the two stay paired. Returns (clip_ids, clips, masks or None)."""
    from mexflow.magnify.generator import as_rgb  # torch: not for the evaluate jobs that import this module

    masks_by_clip: dict[str, np.ndarray] = {}
    if geometry_shards is not None:
        for folder, manifest in geometry_shards:
            for row, a in iter_clips(folder, manifest, ["masks"]):
                masks_by_clip[row["clip_id"]] = part_mask_weights(a["masks"], row["regions"].split(","))
    ids, clips, masks = [], [], []
    for folder, manifest in clip_shards:
        for row, a in iter_clips(folder, manifest, ["frames"]):
            cid = row["clip_id"]
            if clip_ids is not None and cid not in clip_ids:
                continue
            if geometry_shards is not None and cid not in masks_by_clip:
                continue
            f = a["frames"]
            ids.append(cid)
            clips.append(as_rgb(f))
            if geometry_shards is not None:
                masks.append(masks_by_clip[cid])
    return ids, clips, (masks if geometry_shards is not None else None)


def reserved_clip_ids(index: pd.DataFrame, n: int, seed: int) -> set[str]:
    """Clips of the subjects reserved for fine-tuning, chosen per corpus (`dataset` column) so a
    composite set excludes exactly what each member reserved."""
    out: set[str] = set()
    for _, part in index.groupby("dataset", sort=True):
        keep = set(reserved_subjects(part["subject"], n, seed))
        out |= set(part.loc[part["subject"].astype(str).isin(keep), "clip_id"])
    return out
