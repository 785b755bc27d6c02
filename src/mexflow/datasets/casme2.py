"""CASME II adapter (also reads the synthetic corpus, which is written in this layout).

Layout: `{root}/{frames_subdir}/sub{NN}/{Filename}/img{N}.jpg` and a coding spreadsheet
`{root}/{annotation}` (glob) with columns Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame,
Action Units, Estimated Emotion (blank unnamed columns are ignored). Frame numbers are those of
the file names; a clip's folder may hold frames outside onset..offset.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from mexflow.datasets.errors import CorpusError, Rejections
from mexflow.datasets.labels import map_label
from mexflow.synthetic.action_units import parse_au_string

REQUIRED = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
            "Estimated Emotion"]
_FRAME = re.compile(r"^img(\d+)\.jpg$", re.IGNORECASE)


def find_annotation(root: Path, pattern: str, corpus: str) -> Path:
    hits = sorted(root.glob(pattern))
    if not hits:
        raise CorpusError(corpus, None, str(root / pattern), "annotation file not found")
    if len(hits) > 1:
        raise CorpusError(corpus, None, str(root / pattern),
                          f"several annotation files match: {[h.name for h in hits]}")
    return hits[0]


def read_coding(path: Path, corpus: str) -> pd.DataFrame:
    """The coding sheet with the required columns, blank rows dropped."""
    try:
        df = pd.read_excel(path, dtype=object) if path.suffix in (".xlsx", ".xls") else \
            pd.read_csv(path, dtype=object)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file named
        raise CorpusError(corpus, None, str(path), f"cannot read annotation file: {exc}") from exc
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise CorpusError(corpus, None, str(path),
                          f"annotation header lacks columns {missing}; found {list(df.columns)}")
    df = df[REQUIRED]
    return df[~df[["Subject", "Filename"]].isna().all(axis=1)].reset_index(drop=True)


def _int_or_none(value) -> int | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    if text in ("", "/", "-"):
        return None
    f = float(text)
    if f != int(f):
        raise ValueError(f"frame number {value!r} is not an integer")
    return int(f)


def list_frames(clip_dir: Path) -> list[int]:
    """Frame numbers present in a clip folder (img{N}.jpg), sorted."""
    with os.scandir(clip_dir) as it:
        nums = [int(m.group(1)) for e in it if (m := _FRAME.match(e.name))]
    return sorted(nums)


def read_casme2(dataset: str, root, *, frames_subdir: str = "CASME2_RAW_selected",
                annotation: str = "CASME2-coding-*.xlsx", fps: float = 200.0,
                missing_apex: str = "midpoint", on_bad_clip: str = "error",
                label_format: str = "casme2") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a CASME II-layout corpus into (index rows, rejected rows).

    missing_apex: 'midpoint' uses (onset + offset) // 2 for apex cells of '/' and records
    apex_source='midpoint'; 'bad_clip' treats them like any other defect (on_bad_clip decides).
    """
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(dataset, None, str(root), "corpus root is not a folder")
    rej = Rejections(dataset, on_bad_clip)
    ann = find_annotation(root, annotation, dataset)
    coding = read_coding(ann, dataset)
    frames_root = root / frames_subdir
    rows, seen = [], set()
    for i, r in coding.iterrows():
        subj_raw = str(r["Subject"]).strip()
        subj = f"sub{int(float(subj_raw)):02d}" if subj_raw.replace(".", "").isdigit() else subj_raw
        clip = str(r["Filename"]).strip()
        clip_id = f"{dataset}/{subj}/{clip}"
        where = f"{ann.name} row {i + 2}"
        if clip_id in seen:
            rej.bad(clip_id, where, "duplicate annotation row for this subject and clip")
            continue
        seen.add(clip_id)
        try:
            onset, apex, offset = (_int_or_none(r[c]) for c in ("OnsetFrame", "ApexFrame", "OffsetFrame"))
        except ValueError as exc:
            rej.bad(clip_id, where, str(exc))
            continue
        if onset is None or offset is None:
            rej.bad(clip_id, where, "onset or offset frame is missing")
            continue
        if onset > offset:
            rej.bad(clip_id, where, f"onset {onset} is after offset {offset}")
            continue
        apex_source = "annotated"
        if apex is None:
            if missing_apex != "midpoint":
                rej.bad(clip_id, where, f"apex is {r['ApexFrame']!r}")
                continue
            apex, apex_source = (onset + offset) // 2, "midpoint"
        if not onset <= apex <= offset:
            rej.bad(clip_id, where, f"apex {apex} outside onset..offset {onset}..{offset}")
            continue
        try:
            c5, c3 = map_label(label_format, r["Estimated Emotion"])
        except KeyError:
            rej.bad(clip_id, where, f"unknown label {r['Estimated Emotion']!r}")
            continue
        try:
            codes = parse_au_string(r["Action Units"])
        except ValueError as exc:
            rej.bad(clip_id, where, str(exc))
            continue
        clip_dir = frames_root / subj / clip
        if not clip_dir.is_dir():
            rej.bad(clip_id, str(clip_dir), "clip folder not found")
            continue
        frames = list_frames(clip_dir)
        have = set(frames)
        missing = [f for f in range(onset, offset + 1) if f not in have]
        if missing:
            rej.bad(clip_id, str(clip_dir / f"img{missing[0]}.jpg"),
                    f"{len(missing)} frame(s) of onset..offset missing on disk, first img{missing[0]}.jpg")
            continue
        rows.append({
            "dataset": dataset, "subject": f"{dataset}/{subj}", "clip": clip, "clip_id": clip_id,
            "frame_dir": str(clip_dir.resolve()), "frame_pattern": "img{}.jpg", "frames": frames,
            "onset": onset, "apex": apex, "offset": offset, "apex_source": apex_source,
            "fps": float(fps), "emotion": str(r["Estimated Emotion"]).strip(),
            "class5": c5, "class3": c3,
            "aus": [c.au for c in codes], "au_codes": [str(c) for c in codes],
        })
    return pd.DataFrame(rows), pd.DataFrame(rej.rows)
