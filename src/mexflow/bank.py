"""Feature banks: per-shard NPZ + manifests, merged and loaded aligned with the clip index."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

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


def load_vectors(manifest_path, clip_ids: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Descriptors of `clip_ids` in that order, from a bank manifest.

    Returns (X of shape (n_found, D) float32, missing clip_ids). The rows of X follow
    `[c for c in clip_ids if c not in missing]`.
    """
    manifest_path = Path(manifest_path)
    manifest = pd.read_parquet(manifest_path)
    present = set(manifest["clip_id"])
    missing = [c for c in clip_ids if c not in present]
    wanted = manifest[manifest["clip_id"].isin(set(clip_ids))]
    vectors = {row["clip_id"]: arrays["vector"]
               for row, arrays in iter_clips(manifest_path.parent, wanted, ["vector"])}
    found = [c for c in clip_ids if c in vectors]
    if not found:
        return np.empty((0, 0), np.float32), missing
    return np.stack([vectors[c] for c in found]).astype(np.float32), missing
