"""Align all clips of an index shard and store them as one shard NPZ."""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from mexflow.align.clip import AlignParams, NoFaceError, align_frames, read_frame_bgr, reference_frame
from mexflow.datasets.errors import Rejections
from mexflow.datasets.index import REJECTED_COLUMNS
from mexflow.shards import ShardWriter
from mexflow.temporal import window_frames


DETECTORS = ("mtcnn", "mediapipe")


def make_detector(name: str, params: AlignParams):
    """The face detector named by config key alignment.detector (mtcnn | mediapipe).

    mtcnn searches faces of at least params.min_face_px full-resolution pixels on frames shrunk
    by params.detect_downscale; mediapipe (BlazeFace, model params.mediapipe_model) resizes its
    input itself and returns a box calibrated onto MTCNN's (see mediapipe_detector).
    """
    if name == "mtcnn":
        from mexflow.align.mtcnn import MTCNN

        return MTCNN(min_face_size=max(12, round(params.min_face_px / max(params.detect_downscale, 1))))
    if name == "mediapipe":
        from mexflow.align.mediapipe_detector import MediaPipeFaceDetector

        return MediaPipeFaceDetector(model_selection=params.mediapipe_model)
    raise ValueError(f"unknown face detector {name!r}; known: {DETECTORS}")


def align_shard(rows: pd.DataFrame, alignment: dict, window, out_npz, log=None,
                detector=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Align every clip (index rows) over its temporal `window` and write `out_npz`.

    Returns (manifest, rejected). A clip whose reference frame has no face is an error naming
    the corpus, clip and file, or a rejection row, as `alignment['on_no_face']` says.
    """
    log = log or logging.getLogger(__name__)
    params = AlignParams.from_dict(alignment)
    detector = detector or make_detector(alignment.get("detector", "mtcnn"), params)
    writer = ShardWriter(out_npz)
    rejections = {}
    for _, row in rows.iterrows():
        rej = rejections.setdefault(row["dataset"], Rejections(row["dataset"], alignment.get("on_no_face", "error")))
        frames = window_frames(row["frames"], row["onset"], row["apex"], row["offset"], window)
        ref = reference_frame(row["onset"], row["apex"], row["frames"], params.reference)
        folder = Path(row["frame_dir"])

        def read(n, folder=folder, pattern=row["frame_pattern"]):
            return read_frame_bgr(folder / pattern.format(n))

        try:
            a = align_frames(read, frames, ref, detector, params)
        except NoFaceError:
            rej.bad(row["clip_id"], str(folder / row["frame_pattern"].format(ref)),
                    "no face detected on the alignment reference frame")
            continue
        writer.add(row["clip_id"], meta={"reference": a.reference, "n_frames": len(frames),
                                         "detection_score": float(a.detection[4]),
                                         "ncc_min": float(a.ncc.min()), "transform": params.transform,
                                         "fallback_frames": a.fallbacks},
                   frames=a.frames, frame_numbers=a.frame_numbers, shifts=a.shifts, ncc=a.ncc,
                   box=a.box, detection=a.detection, transforms=a.transforms, eyes=a.eyes,
                   eye_ncc=a.eye_ncc)
        log.info("%s: %d frames, max shift %.2f px, min NCC %.3f, %d translation fallbacks",
                 row["clip_id"], len(frames), float(abs(a.shifts).max()), float(a.ncc.min()), a.fallbacks)
    rejected = pd.DataFrame([r for rej in rejections.values() for r in rej.rows],
                            columns=REJECTED_COLUMNS)
    return writer.write(), rejected
