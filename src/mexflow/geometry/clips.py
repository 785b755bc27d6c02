"""Landmarks and region masks for every aligned clip of a shard (the `geometry_shard` rule)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mexflow.datasets.errors import Rejections
from mexflow.datasets.index import REJECTED_COLUMNS
from mexflow.geometry.masks import region_masks
from mexflow.landmarks import FaceMeshError, FaceMeshRunner, clip_landmarks
from mexflow.shards import ShardWriter, iter_clips


def geometry_shard(aligned_dir, aligned: pd.DataFrame, geometry: dict, out_npz,
                   log=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """FaceMesh landmarks on each clip's aligned reference crop (and every frame when
    `geometry['per_frame']`) plus the face-region masks at the crop resolution.

    aligned: the aligned shard's manifest (clip_id, file, key, reference, ...). Stored per clip:
    `reference_landmarks` (478, 2) float32 crop pixels, `masks` (R, S, S) bool in the order of
    `region_names`, and with per_frame `landmarks` (N, 478, 2) float32 (NaN where no face) and
    `found` (N,) bool. A clip whose reference crop has no face is an error naming the clip, or a
    rejection row, as `geometry['on_no_face']` says (default error).
    Returns (manifest, rejected).
    """
    log = log or logging.getLogger(__name__)
    per_frame = bool(geometry.get("per_frame", False))
    policy = geometry.get("on_no_face", "error")
    writer = ShardWriter(out_npz)
    rejections: dict[str, Rejections] = {}
    with FaceMeshRunner(static_image_mode=True) as runner:
        for row, arrays in iter_clips(aligned_dir, aligned, ["frames", "frame_numbers"]):
            numbers = arrays["frame_numbers"]
            ref_index = int(np.flatnonzero(numbers == int(row["reference"]))[0])
            dataset = row["clip_id"].split("/", 1)[0]
            rej = rejections.setdefault(dataset, Rejections(dataset, policy))
            try:
                geo = clip_landmarks(arrays["frames"], ref_index, per_frame=per_frame, runner=runner)
            except FaceMeshError as exc:
                rej.bad(row["clip_id"], str(Path(aligned_dir) / row["file"]),
                        f"FaceMesh found no face on the aligned reference crop: {exc}")
                continue
            names, masks = region_masks(geo["reference_landmarks"], arrays["frames"].shape[1:3])
            writer.add(row["clip_id"], meta={"regions": ",".join(names)}, masks=masks, **geo)
            log.info("%s: mask areas %s", row["clip_id"],
                     dict(zip(names, masks.reshape(len(names), -1).sum(1).tolist())))
    rejected = pd.DataFrame([r for rej in rejections.values() for r in rej.rows],
                            columns=REJECTED_COLUMNS)
    return writer.write(), rejected
