"""The canonical clip index (DESIGN §3) and its construction from any supported corpus."""
from __future__ import annotations

import inspect
import os
from pathlib import Path, PurePosixPath

import pandas as pd

from mexflow.datasets.casme2 import read_casme2
from mexflow.datasets.casme3 import read_casme3
from mexflow.datasets.columns import ADAPTER_COLUMNS, INDEX_COLUMNS, REJECTED_COLUMNS
from mexflow.datasets.fourdme import read_4dme
from mexflow.datasets.samm import read_samm
from mexflow.datasets.smic import read_smic

__all__ = ["ADAPTERS", "ADAPTER_COLUMNS", "INDEX_COLUMNS", "REJECTED_COLUMNS", "assign_shards",
           "build_index", "load_index"]

# Corpus format -> adapter read_X(dataset, root, *, on_bad_clip, missing_apex, **layout_options).
ADAPTERS = {"casme2": read_casme2, "samm": read_samm, "casme3": read_casme3, "4dme": read_4dme,
            "smic": read_smic}
# Spec keys that are not layout options: build_index's own, and those other stages read (target:
# the evaluation's label set; members: composite sets). Every other key goes to the adapter.
_GENERAL_KEYS = ("format", "root", "shards", "on_bad_clip", "missing_apex", "synthetic", "target",
                 "members")


def assign_shards(index: pd.DataFrame, n_shards: int) -> pd.Series:
    """Shard of each clip: round-robin over clips sorted by clip_id (balanced, deterministic)."""
    if n_shards < 1:
        raise ValueError("shards must be >= 1")
    order = index["clip_id"].rank(method="first").astype(int) - 1
    return (order % n_shards).astype(int)


def _synthetic_options(dataset: str, spec: dict) -> tuple[str, dict]:
    """(layout, options) of a synthetic dataset: the generator's file names and frame rate."""
    from mexflow.synthetic.corpus import LAYOUT_FILES as layout_files

    synthetic = spec.get("synthetic") or {}
    layout = synthetic.get("layout", "casme2")
    if layout not in layout_files:
        raise ValueError(f"dataset {dataset!r}: synthetic layout {layout!r} is not written by the "
                         f"generator; known layouts: {sorted(layout_files)}")
    # The generator records synthetic.fps, or else the real corpus' rate: the adapter's default.
    fps = {"fps": synthetic["fps"]} if synthetic.get("fps") is not None else {}
    return layout, {**fps, **_layout_options(spec), **layout_files[layout]}


def _layout_options(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k not in _GENERAL_KEYS}


def _check_options(dataset: str, layout: str, reader, options: dict) -> None:
    accepted = {name for name, p in inspect.signature(reader).parameters.items()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"dataset {dataset!r}: option(s) {unknown} not understood by the {layout} "
                         f"adapter; it accepts {sorted(accepted)}")


def build_index(dataset: str, spec: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the corpus described by a `datasets:` entry of the config.

    spec keys: format (casme2 | samm | casme3 | 4dme | smic | synthetic), root, shards,
    on_bad_clip, missing_apex, and optional layout options of the format's adapter (see its
    docstring: frames_subdir, annotation, fps, ...). A synthetic dataset is read with the adapter
    of its `synthetic.layout`, using the file names the generator writes. Returns (index,
    rejected): index has INDEX_COLUMNS sorted by clip_id, rejected starts with REJECTED_COLUMNS.
    """
    fmt = spec.get("format")
    if fmt == "synthetic":
        layout, options = _synthetic_options(dataset, spec)
    else:
        layout, options = fmt, _layout_options(spec)
    if layout not in ADAPTERS:
        raise ValueError(f"dataset {dataset!r}: unknown corpus format {layout!r}; known formats: "
                         f"{sorted(ADAPTERS) + ['synthetic']}")
    if "root" not in spec:
        raise ValueError(f"dataset {dataset!r}: the spec has no 'root'")
    reader = ADAPTERS[layout]
    _check_options(dataset, layout, reader, options)
    index, rejected = reader(dataset, Path(spec["root"]), on_bad_clip=spec.get("on_bad_clip", "error"),
                             missing_apex=spec.get("missing_apex", "midpoint"), **options)
    if index.empty:
        raise ValueError(f"dataset {dataset!r}: no usable clip in {spec['root']} "
                         f"({len(rejected)} rejected)")
    index = index.sort_values("clip_id").reset_index(drop=True)
    index["frame_dir"] = relative_frame_dirs(index["frame_dir"], spec["root"])
    index["shard"] = assign_shards(index, int(spec.get("shards", 1)))
    rejected = rejected.reindex(columns=list(dict.fromkeys(REJECTED_COLUMNS + list(rejected.columns))))
    return index[INDEX_COLUMNS], rejected


def relative_frame_dirs(frame_dirs, root) -> list[str]:
    """Clip folders as POSIX paths relative to the corpus root, so that an index (and every result
    keyed on it) stays valid when the corpus or the work directory moves: the folder is found
    again as `clip_folder(root, frame_dir)` with the root the config gives at run time."""
    base = Path(root).resolve()
    return [PurePosixPath(*Path(os.path.relpath(Path(d).resolve(), base)).parts).as_posix()
            for d in frame_dirs]


def clip_folder(root, frame_dir) -> Path:
    """The folder of a clip's frames: `frame_dir` of the index under the corpus `root` (an
    absolute frame_dir, as adapters return and older indexes hold, is used as it is)."""
    return Path(root) / frame_dir


def load_index(path) -> pd.DataFrame:
    """Read index.parquet; list columns come back as Python lists."""
    df = pd.read_parquet(path)
    for col in ("frames", "aus", "au_codes"):
        df[col] = df[col].map(list)
    return df
