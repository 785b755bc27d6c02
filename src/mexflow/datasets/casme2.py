"""CASME II adapter (also reads the synthetic corpus written in this layout).

Layout: `{root}/{frames_subdir}/sub{NN}/{Filename}/img{N}.jpg` and a coding spreadsheet
`{root}/{annotation}` (glob) with columns Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame,
Action Units, Estimated Emotion on row 1 (other columns are ignored). Frame numbers are those of
the file names; a clip's folder may hold frames outside onset..offset.
"""
from __future__ import annotations

import pandas as pd

from mexflow.datasets.common import ClipSource, IndexBuilder
from mexflow.datasets.sheets import cell_text, corpus_root, find_annotation, read_annotation

REQUIRED = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
            "Estimated Emotion"]


def casme2_subject(cell) -> str:
    """Subject cell (1, '1', '01' or 'sub01') -> folder name 'sub01'."""
    text = cell_text(cell)
    return f"sub{int(text):02d}" if text.isdigit() else text


def read_casme2(dataset: str, root, *, on_bad_clip: str = "error", missing_apex: str = "midpoint",
                frames_subdir: str = "CASME2_RAW_selected", annotation: str = "CASME2-coding-*.xlsx",
                fps: float = 200.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a CASME II-layout corpus into (index rows, rejected rows).

    Layout options: frames_subdir (folder under root holding sub{NN}/), annotation (glob of the
    coding sheet, relative to root), fps. missing_apex: 'midpoint' uses (onset + offset) // 2
    for apex cells of '/' (apex_source 'midpoint'); 'bad_clip' treats them as a defect.
    on_bad_clip: 'error' raises CorpusError at the first bad clip, 'reject' records it.
    """
    root = corpus_root(root, dataset)
    builder = IndexBuilder(dataset, label_format="casme2", fps=fps, on_bad_clip=on_bad_clip,
                           missing_apex=missing_apex)
    sheet = find_annotation(root, annotation, dataset)
    for row in read_annotation(sheet, dataset, REQUIRED):
        subject, clip = casme2_subject(row["Subject"]), cell_text(row["Filename"])
        builder.add(ClipSource(
            subject=subject, clip=clip, where=row.where, clip_dir=root / frames_subdir / subject / clip,
            onset=row["OnsetFrame"], apex=row["ApexFrame"], offset=row["OffsetFrame"],
            emotion=row["Estimated Emotion"], aus=row["Action Units"]))
    return builder.result()
