"""Feature banks: per-shard NPZ + manifests, merged and loaded aligned with the clip index."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from mexflow.shards import iter_clips


def param_hash(spec: dict) -> str:
    """Short stable hash of a feature set's parameters (sorted-key JSON, SHA-256, 12 hex)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def merge_manifests(manifests: Sequence[pd.DataFrame], paths: Sequence[str], condition: str,
                    feature_set: str, spec: dict) -> pd.DataFrame:
    """Concatenate shard manifests; `file` becomes relative to the bank folder."""
    parts = []
    for df, p in zip(manifests, paths):
        df = df.copy()
        df["file"] = Path(p).with_suffix(".npz").name
        parts.append(df)
    merged = pd.concat(parts, ignore_index=True)
    if merged["clip_id"].duplicated().any():
        dup = merged.loc[merged["clip_id"].duplicated(), "clip_id"].tolist()
        raise ValueError(f"bank {condition}/{feature_set}: clips in several shards: {dup[:5]}")
    merged["condition"], merged["feature_set"] = condition, feature_set
    merged["params"], merged["param_hash"] = json.dumps(spec, sort_keys=True), param_hash(spec)
    return merged


def load_bank(manifest_path, clip_ids: Sequence[str], name: str = "vector",
              transform: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[np.ndarray, list[str]]:
    """Array `name` of every clip in `clip_ids`, stacked in that order, from a bank manifest.

    Typically `clip_ids` is the clip index's `clip_id` column, so row i of the result belongs to
    the i-th indexed clip that the bank holds. name: "vector" (D,) float32 descriptors, or a dense
    array such as "data" (flow (F, H, W, 3) float16, LBP images, 3D FFT, 28x28 flow maps).
    Returns (stacked array (n_found, ...) in the bank's dtype, missing clip_ids); the rows follow
    `[c for c in clip_ids if c not in missing]`. Clips of one bank must share the array's shape.
    transform: applied to each clip's array before it is stored (e.g. resizing a dense bank for
    a deep model), so only the transformed stack is ever held in memory whole.
    """
    manifest_path = Path(manifest_path)
    manifest = pd.read_parquet(manifest_path)
    present = set(manifest["clip_id"])
    missing = [c for c in clip_ids if c not in present]
    found = [c for c in clip_ids if c in present]
    if not found:
        return np.empty((0, 0), np.float32), missing
    row_of = {c: i for i, c in enumerate(found)}
    wanted = manifest[manifest["clip_id"].isin(row_of)]
    out = None
    # Filled in place (peak memory ~1x the bank, not 2x as gathering and stacking would be).
    for row, arr in iter_clips(manifest_path.parent, wanted, [name]):
        if name not in arr:
            raise KeyError(f"bank {manifest_path}: clip {row['clip_id']} has no array {name!r}")
        a = arr[name] if transform is None else transform(arr[name])
        if out is None:
            out = np.empty((len(found), *a.shape), a.dtype)
        elif a.shape != out.shape[1:]:
            raise ValueError(f"bank {manifest_path}: {name!r} of clip {row['clip_id']} has shape "
                             f"{a.shape}, others {out.shape[1:]}")
        out[row_of[row["clip_id"]]] = a
    return out, missing


def load_vectors(manifest_path, clip_ids: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Descriptors (n_found, D) float32 of `clip_ids` in that order, and the missing clip_ids
    (see load_bank)."""
    X, missing = load_bank(manifest_path, clip_ids, "vector")
    return X.astype(np.float32, copy=False), missing
