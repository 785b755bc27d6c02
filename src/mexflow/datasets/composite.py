"""Composite and cross-corpus sets: several member datasets combined into one clip index.

A composite dataset (config `format: composite`, `members: [casme2, samm, smic]`) never reads a
corpus itself: its index is the concatenation of its members' indexes, and its feature banks are
its members' banks (no clip is aligned or featurised twice). Subjects and clip ids are already
namespaced by the member dataset ("samm/006"), so two corpora can never share a subject; the
`dataset` column names each clip's member, which is what leave-one-corpus-out groups by.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from mexflow.datasets.index import REJECTED_COLUMNS


def build_composite_index(dataset: str, members: Mapping[str, pd.DataFrame],
                          rejected: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate member indexes (name -> canonical index) into the composite's index.

    Checks that every member's subjects and clip ids carry its own namespace ("{member}/...") and
    that no clip id repeats. `shard` keeps the member's shard (banks are the members' banks).
    Returns (index sorted by clip_id, rejected rows of all members).
    """
    if len(members) < 2:
        raise ValueError(f"composite dataset {dataset!r} needs at least 2 members, got {list(members)}")
    parts = []
    for name, index in members.items():
        if index.empty:
            raise ValueError(f"composite dataset {dataset!r}: member {name!r} has no clip")
        for col in ("subject", "clip_id"):
            bad = index.loc[~index[col].astype(str).str.startswith(f"{name}/"), col]
            if len(bad):
                raise ValueError(f"composite dataset {dataset!r}: member {name!r} has {col} values "
                                 f"outside its namespace, e.g. {bad.iloc[0]!r}")
        if set(index["dataset"]) != {name}:
            raise ValueError(f"composite dataset {dataset!r}: member {name!r} index names datasets "
                             f"{sorted(set(index['dataset']))}")
        parts.append(index)
    merged = pd.concat(parts, ignore_index=True)
    dup = merged.loc[merged["clip_id"].duplicated(), "clip_id"]
    if len(dup):
        raise ValueError(f"composite dataset {dataset!r}: clip ids in several members: {dup.tolist()[:5]}")
    rej = [r for r in rejected.values() if not r.empty]
    rejected_all = (pd.concat(rej, ignore_index=True) if rej else pd.DataFrame(columns=REJECTED_COLUMNS))
    return merged.sort_values("clip_id").reset_index(drop=True), rejected_all


def merge_member_banks(manifests: Sequence[pd.DataFrame], paths: Sequence[str | Path],
                       out_path: str | Path) -> pd.DataFrame:
    """One bank manifest over the members' bank manifests of the same (condition, feature set).

    Each row's `file` is rewritten relative to the folder of `out_path`, so the composite bank
    reads the members' NPZ files where they are. Members must have been computed with the same
    parameters (same `param_hash`); a mismatch is an error naming the members.
    """
    out_dir = Path(out_path).parent
    parts = []
    for df, p in zip(manifests, paths):
        df = df.copy()
        src = Path(p).parent
        df["file"] = [os.path.relpath(src / f, out_dir) for f in df["file"]]
        parts.append(df)
    merged = pd.concat(parts, ignore_index=True)
    hashes = {str(p): sorted(set(df["param_hash"])) for df, p in zip(manifests, paths)}
    if merged["param_hash"].nunique() > 1:
        raise ValueError(f"member banks were computed with different parameters: {hashes}")
    if merged["clip_id"].duplicated().any():
        raise ValueError(f"clips in several member banks: {merged.loc[merged['clip_id'].duplicated(), 'clip_id'].tolist()[:5]}")
    return merged
