"""SAMM adapter.

Layout: `{root}/{frames_subdir}/{SSS}/{Filename}/{SSS}_{frame:05d}.jpg` (grayscale JPEGs, 200 fps;
SSS = subject zero-padded to 3 digits) and `{root}/SAMM_Micro_FACS_Codes_v2.xlsx`, whose table
sits below a text preamble (header on row 13 of the release; found by content, never by number).
Columns used: Subject, Filename, Onset Frame, Apex Frame, Offset Frame, Action Units,
Estimated Emotion, Objective Classes. An apex of -1 means "no apex". Objective Classes 1..7 ->
objective "I".."VII".
"""
from __future__ import annotations

import pandas as pd

from mexflow.datasets.common import ClipSource, IndexBuilder
from mexflow.datasets.sheets import cell_text, corpus_root, find_annotation, read_annotation

REQUIRED = ["Subject", "Filename", "Onset Frame", "Apex Frame", "Offset Frame", "Action Units",
            "Estimated Emotion", "Objective Classes"]
HEADER_MARKERS = ["Filename", "Onset Frame"]


def samm_subject(cell) -> str:
    """Subject cell (6, '6' or '006') -> folder name '006'."""
    text = cell_text(cell)
    return f"{int(text):03d}" if text.isdigit() else text


def read_samm(dataset: str, root, *, on_bad_clip: str = "error", missing_apex: str = "midpoint",
              frames_subdir: str = "SAMM", annotation: str = "SAMM_Micro_FACS_Codes*.xlsx",
              fps: float = 200.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a SAMM corpus into (index rows, rejected rows).

    Layout options: frames_subdir (folder under root holding the SSS/ subject folders),
    annotation (glob of the FACS-codes sheet, relative to root), fps. missing_apex decides apex
    cells of -1 or blank ('midpoint' or 'bad_clip'); on_bad_clip: 'error' or 'reject'.
    """
    root = corpus_root(root, dataset)
    builder = IndexBuilder(dataset, label_format="samm", fps=fps, on_bad_clip=on_bad_clip,
                           missing_apex=missing_apex)
    sheet = find_annotation(root, annotation, dataset)
    for row in read_annotation(sheet, dataset, REQUIRED, header_markers=HEADER_MARKERS):
        subject, clip = samm_subject(row["Subject"]), cell_text(row["Filename"])
        builder.add(ClipSource(
            subject=subject, clip=clip, where=row.where, clip_dir=root / frames_subdir / subject / clip,
            onset=row["Onset Frame"], apex=row["Apex Frame"], offset=row["Offset Frame"],
            emotion=row["Estimated Emotion"], aus=row["Action Units"],
            objective=row["Objective Classes"]))
    return builder.result()
