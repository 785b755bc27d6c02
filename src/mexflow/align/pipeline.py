"""Align all clips of an index shard and store them as one shard NPZ."""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from mexflow.align.clip import AlignParams, ClipFrameReader, NoFaceError, align_frames, reference_frame
from mexflow.datasets.errors import Rejections
from mexflow.datasets.index import REJECTED_COLUMNS, clip_folder
from mexflow.io import BadFrameError
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
                detector=None, on_bad_frame: str = "error",
                roots: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Align every clip (index rows) over its temporal `window` and write `out_npz`.

    roots: corpus root per dataset; the index's `frame_dir` is relative to it (absolute
    frame_dirs are used as they are).

    Returns (manifest, rejected). A clip whose reference frame has no face is an error naming
    the corpus, clip and file, or a rejection row, as `alignment['on_no_face']` says. A clip with
    a bad frame file (missing, empty, truncated, undecodable, or of another size or channel count
    than its reference frame; mexflow.io.BadFrameError) is likewise an error (CorpusError naming
    corpus, clip and file) or a rejection row, as `on_bad_frame` says (the rule passes the
    dataset's on_bad_clip): the clip is left out of the shard, the other clips go on.
    """
    log = log or logging.getLogger(__name__)
    params = AlignParams.from_dict(alignment)
    detector = detector or make_detector(alignment.get("detector", "mtcnn"), params)
    writer = ShardWriter(out_npz)
    rejected_rows: list[dict] = []   # both policies' rows, in clip order
    rejections, frame_rejections = {}, {}
    for _, row in rows.iterrows():
        ds = row["dataset"]
        if ds not in rejections:
            rejections[ds] = Rejections(ds, alignment.get("on_no_face", "error"), rejected_rows)
            frame_rejections[ds] = Rejections(ds, on_bad_frame, rejected_rows)
        rej, frame_rej = rejections[ds], frame_rejections[ds]
        frames = window_frames(row["frames"], row["onset"], row["apex"], row["offset"], window)
        ref = reference_frame(row["onset"], row["apex"], row["frames"], params.reference)
        folder = clip_folder((roots or {}).get(ds, ""), row["frame_dir"])
        read = ClipFrameReader(folder, row["frame_pattern"])
        try:
            a = align_frames(read, frames, ref, detector, params)
        except BadFrameError as err:
            frame_rej.bad(row["clip_id"], err.path, f"bad frame: {err.problem}")
            log.warning("%s: rejected, bad frame %s: %s", row["clip_id"], err.path, err.problem)
            continue
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
    rejected = pd.DataFrame(rejected_rows, columns=REJECTED_COLUMNS)
    return writer.write(), rejected
