"""SMIC-HS adapter (high-speed camera part of SMIC).

Layout: `{root}/{frames_subdir}/{s}/micro/{emotion}/{clip}/image{NNNNNN}.bmp` with subject
folders s1, s2, ... and emotion folders negative / positive / surprise; there is no annotation
file. The label is the emotion folder's name; onset and offset are the first and last frame on
disk and the apex is always their midpoint (SMIC codes no apex); no action units.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from mexflow.datasets.common import ClipSource, IndexBuilder
from mexflow.datasets.errors import CorpusError
from mexflow.datasets.sheets import corpus_root


def _folders(parent: Path) -> list[Path]:
    return sorted(p for p in parent.iterdir() if p.is_dir())


def read_smic(dataset: str, root, *, on_bad_clip: str = "error", missing_apex: str = "midpoint",
              frames_subdir: str = "HS", fps: float = 100.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read SMIC-HS into (index rows, rejected rows), one row per clip folder.

    Layout options: frames_subdir (folder under root holding s1/, s2/, ...), fps. missing_apex is
    accepted for a uniform signature and has no effect (the apex is always the midpoint). A
    subject folder without micro/ contributes no clip. Raises CorpusError when
    root/frames_subdir is missing; an emotion folder outside the smic vocabulary gives its clips
    'unknown label', a clip folder without frame files is a bad clip.
    """
    root = corpus_root(root, dataset)
    builder = IndexBuilder(dataset, label_format="smic", fps=fps, on_bad_clip=on_bad_clip,
                           missing_apex=missing_apex)
    frames_root = root / frames_subdir
    if not frames_root.is_dir():
        raise CorpusError(dataset, None, str(frames_root), "SMIC-HS frames folder not found")
    for subject_dir in _folders(frames_root):
        micro = subject_dir / "micro"
        if not micro.is_dir():
            continue
        for emotion_dir in _folders(micro):
            for clip_dir in _folders(emotion_dir):
                builder.add(ClipSource(subject=subject_dir.name, clip=clip_dir.name,
                                       where=str(clip_dir), clip_dir=clip_dir,
                                       emotion=emotion_dir.name, span_from_frames=True))
    return builder.result()
