"""4DME adapter (the micro-expression part, grayscale 2D frames).

Layout: `{root}/{frames_subdir}/{sub_ID}/{fold_name}/<frame files>` (60 fps; file naming
discovered per folder) and `{root}/4DME_Labelling_Micro_release v1.xlsx` with columns sub_ID,
fold_name, Emotion, Onset, Apex, Offset, AUs (others ignored). Emotion cells may be compounds
("Surprise+Positive"), merged by labels.yaml `compound_merges: 4dme` before class5/class3 are
looked up; the index's `emotion` keeps the raw cell. AU cells may carry marks ("L12(k)+R14").
"""
from __future__ import annotations

import pandas as pd

from mexflow.datasets.common import ClipSource, IndexBuilder
from mexflow.datasets.sheets import cell_text, corpus_root, find_annotation, read_annotation

REQUIRED = ["sub_ID", "fold_name", "Emotion", "Onset", "Apex", "Offset", "AUs"]
HEADER_MARKERS = ["sub_ID", "fold_name"]


def read_4dme(dataset: str, root, *, on_bad_clip: str = "error", missing_apex: str = "midpoint",
              frames_subdir: str = "frames", annotation: str = "4DME_Labelling_Micro*.xlsx",
              fps: float = 60.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a 4DME corpus into (index rows, rejected rows).

    Layout options: frames_subdir (folder under root holding {sub_ID}/), annotation (glob of the
    labelling sheet, relative to root), fps. missing_apex and on_bad_clip as for every adapter.
    """
    root = corpus_root(root, dataset)
    builder = IndexBuilder(dataset, label_format="4dme", fps=fps, on_bad_clip=on_bad_clip,
                           missing_apex=missing_apex)
    sheet = find_annotation(root, annotation, dataset)
    for row in read_annotation(sheet, dataset, REQUIRED, header_markers=HEADER_MARKERS):
        subject, clip = cell_text(row["sub_ID"]), cell_text(row["fold_name"])
        builder.add(ClipSource(
            subject=subject, clip=clip, where=row.where, clip_dir=root / frames_subdir / subject / clip,
            onset=row["Onset"], apex=row["Apex"], offset=row["Offset"],
            emotion=row["Emotion"], aus=row["AUs"]))
    return builder.result()
