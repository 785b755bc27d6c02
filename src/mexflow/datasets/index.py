"""The canonical clip index (DESIGN §3) and its construction from any supported corpus."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

INDEX_COLUMNS = ["dataset", "subject", "clip", "clip_id", "frame_dir", "frame_pattern", "frames",
                 "onset", "apex", "offset", "apex_source", "fps", "emotion", "class5", "class3",
                 "aus", "au_codes", "shard"]
REJECTED_COLUMNS = ["dataset", "clip_id", "file", "reason"]

_LAYOUT_DEFAULTS = {
    "casme2": {"frames_subdir": "CASME2_RAW_selected", "annotation": "CASME2-coding-*.xlsx",
               "fps": 200.0},
}


def assign_shards(index: pd.DataFrame, n_shards: int) -> pd.Series:
    """Shard of each clip: round-robin over clips sorted by clip_id (balanced, deterministic)."""
    if n_shards < 1:
        raise ValueError("shards must be >= 1")
    order = index["clip_id"].rank(method="first").astype(int) - 1
    return (order % n_shards).astype(int)


def build_index(dataset: str, spec: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the corpus described by a `datasets:` entry of the config.

    spec keys: format (casme2 | synthetic), root, shards, on_bad_clip, missing_apex, and for
    real corpora optional frames_subdir / annotation / fps overrides; a synthetic dataset is read
    with the adapter of its `synthetic.layout` (casme2). Returns (index, rejected) with the
    canonical columns, sorted by clip_id.
    """
    fmt = spec["format"]
    layout = spec.get("synthetic", {}).get("layout", "casme2") if fmt == "synthetic" else fmt
    if layout != "casme2":
        raise ValueError(f"dataset {dataset!r}: corpus format {layout!r} is not supported yet")
    from mexflow.datasets.casme2 import read_casme2

    opts = {**_LAYOUT_DEFAULTS[layout], **{k: spec[k] for k in ("frames_subdir", "annotation", "fps") if k in spec}}
    if fmt == "synthetic":
        from mexflow.synthetic.corpus import CODING_FILE
        opts["annotation"] = CODING_FILE
    index, rejected = read_casme2(dataset, Path(spec["root"]), **opts,
                                  missing_apex=spec.get("missing_apex", "midpoint"),
                                  on_bad_clip=spec.get("on_bad_clip", "error"))
    if index.empty:
        raise ValueError(f"dataset {dataset!r}: no usable clip in {spec['root']} "
                         f"({len(rejected)} rejected)")
    index = index.sort_values("clip_id").reset_index(drop=True)
    index["shard"] = assign_shards(index, int(spec.get("shards", 1)))
    rejected = rejected.reindex(columns=list(dict.fromkeys(REJECTED_COLUMNS + list(rejected.columns))))
    return index[INDEX_COLUMNS], rejected


def load_index(path) -> pd.DataFrame:
    """Read index.parquet; list columns come back as Python lists."""
    df = pd.read_parquet(path)
    for col in ("frames", "aus", "au_codes"):
        df[col] = df[col].map(list)
    return df
