"""Sharded NPZ stores: many clips' arrays in one NPZ per shard, plus a Parquet manifest.

A shard file holds arrays named `{key}.{name}` where key is `c{n:05d}` (n = position in the
shard) and name is the array's role (e.g. `frames`); the manifest maps clip_id -> (file, key)
and records each array's shape and dtype. NPZ members load lazily, so reading one clip reads
only its arrays.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mexflow.io import save_npz_atomic


class ShardWriter:
    """Collect clips' arrays in memory and write them as one shard NPZ."""

    def __init__(self, path, compressed: bool = True):
        self.path, self.compressed = Path(path), compressed
        self.arrays: dict[str, np.ndarray] = {}
        self.rows: list[dict] = []

    def add(self, clip_id: str, meta: dict | None = None, **arrays: np.ndarray) -> None:
        key = f"c{len(self.rows):05d}"
        for name, arr in arrays.items():
            self.arrays[f"{key}.{name}"] = np.asarray(arr)
        self.rows.append({
            "clip_id": clip_id, "file": self.path.name, "key": key,
            "arrays": json.dumps({n: [list(np.shape(a)), str(np.asarray(a).dtype)] for n, a in arrays.items()}),
            **(meta or {}),
        })

    def write(self) -> pd.DataFrame:
        """Write the NPZ atomically and return its manifest rows."""
        save_npz_atomic(self.path, compressed=self.compressed, **self.arrays)
        return pd.DataFrame(self.rows, columns=None if self.rows else ["clip_id", "file", "key", "arrays"])


def read_clip(folder, row, names=None) -> dict[str, np.ndarray]:
    """Arrays of one manifest row (a Series or dict with file and key), optionally only `names`."""
    folder = Path(folder)
    with np.load(folder / row["file"], allow_pickle=False) as z:
        prefix = row["key"] + "."
        return {k[len(prefix):]: z[k] for k in z.files
                if k.startswith(prefix) and (names is None or k[len(prefix):] in names)}


def iter_clips(folder, manifest: pd.DataFrame, names=None):
    """Yield (manifest row, arrays) for every clip, opening each shard file once."""
    folder = Path(folder)
    for fname, rows in manifest.groupby("file", sort=False):
        with np.load(folder / fname, allow_pickle=False) as z:
            for _, row in rows.iterrows():
                prefix = row["key"] + "."
                yield row, {k[len(prefix):]: z[k] for k in z.files
                            if k.startswith(prefix) and (names is None or k[len(prefix):] in names)}
