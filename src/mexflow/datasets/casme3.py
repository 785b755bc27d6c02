"""CAS(ME)^3 part A adapter.

Layout: `{root}/{frames_subdir}/{subject}/{Filename}/color/{n}.jpg` (30 fps; one folder per
recording, which several micro-expressions share) and
`{root}/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx` with columns Subject, Filename, Onset, Apex,
Offset, AU, emotion (matched case-insensitively; an Objective class column is ignored).

Quirks handled: one recording (Filename) holds several micro-expressions, so the clip name is
"{Filename}_{onset}"; recordings lack some frame numbers (dropped frames, tolerated up to
max_dropped_frames strictly inside onset..offset); some clips have apex = onset.
"""
from __future__ import annotations

import pandas as pd

from mexflow.datasets.common import ClipSource, IndexBuilder, frame_cell
from mexflow.datasets.sheets import cell_text, corpus_root, find_annotation, read_annotation

REQUIRED = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "emotion"]
HEADER_MARKERS = ["Subject", "Filename"]


def _clip_name(recording: str, onset_cell) -> str:
    try:
        onset = frame_cell(onset_cell)
    except ValueError:
        onset = None
    return f"{recording}_{onset if onset is not None else cell_text(onset_cell)}"


def read_casme3(dataset: str, root, *, on_bad_clip: str = "error", missing_apex: str = "midpoint",
                frames_subdir: str = "frame",
                annotation: str = "cas(me)3_part_A_ME_label_JpgIndex*.xlsx", fps: float = 30.0,
                max_dropped_frames: int = 2, onset_apex_equal: str = "keep",
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read CAS(ME)^3 part A into (index rows, rejected rows).

    Layout options: frames_subdir (folder under root holding {subject}/), annotation (glob of the
    label sheet, relative to root), fps; max_dropped_frames: frames strictly inside
    onset..offset that may be missing on disk (onset, apex and offset frames must exist);
    onset_apex_equal: 'keep' (apex_source 'onset_equals_apex'), 'midpoint' (apex
    (onset+offset)//2) or 'bad_clip'. missing_apex and on_bad_clip as for every adapter.
    """
    root = corpus_root(root, dataset)
    builder = IndexBuilder(dataset, label_format="casme3", fps=fps, on_bad_clip=on_bad_clip,
                           missing_apex=missing_apex, onset_apex_equal=onset_apex_equal,
                           max_dropped_frames=max_dropped_frames)
    sheet = find_annotation(root, annotation, dataset)
    for row in read_annotation(sheet, dataset, REQUIRED, header_markers=HEADER_MARKERS):
        subject, recording = cell_text(row["Subject"]), cell_text(row["Filename"])
        builder.add(ClipSource(
            subject=subject, clip=_clip_name(recording, row["Onset"]) if recording else "",
            where=row.where, clip_dir=root / frames_subdir / subject / recording / "color",
            onset=row["Onset"], apex=row["Apex"], offset=row["Offset"],
            emotion=row["emotion"], aus=row["AU"]))
    return builder.result()
