"""Align one clip: detect the face once on a reference frame, then track it on every frame.

Output crops are square, `crop_size` pixels, RGB uint8, translation-compensated with sub-pixel
precision (REFERENCES §1.5, upgraded from integer to sub-pixel matching).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from mexflow.align.template import CropBox, TemplateTracker, crop_resize


class NoFaceError(RuntimeError):
    """No face was found on a clip's reference frame."""


@dataclass(frozen=True)
class AlignParams:
    crop_size: int = 224          # output side, pixels
    margin: float = 0.25          # crop side = detection side * (1 + margin)
    centre_shift: float = 0.04    # crop centre moved down by this fraction of its side
    template_frac: float = 0.7    # template = central fraction of the detection box
    search_px: int = 16           # largest head translation searched, pixels
    detect_downscale: float = 3.0  # run the detector on the frame shrunk by this factor
    min_face_px: int = 80         # smallest face searched, full-resolution pixels
    reference: str = "onset"      # onset | first | apex

    @classmethod
    def from_dict(cls, d: dict) -> "AlignParams":
        return cls(**{k: v for k, v in (d or {}).items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class AlignedClip:
    frames: np.ndarray        # (N, S, S, 3) uint8 RGB crops
    frame_numbers: np.ndarray  # (N,) int
    shifts: np.ndarray        # (N, 2) float32 (dx, dy) pixels of the face vs the reference frame
    ncc: np.ndarray           # (N,) float32 template-match score
    box: np.ndarray           # (3,) float64 crop box (cx, cy, size) in reference-frame pixels
    detection: np.ndarray     # (5,) float64 detector box x1, y1, x2, y2 and score
    reference: int            # reference frame number


def read_frame_bgr(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 in OpenCV's BGR order; grayscale files are expanded to 3 channels.
    IOError naming the file when it cannot be decoded."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise IOError(f"cannot decode image {path}")
    return img


def detect_face(detector, image: np.ndarray, downscale: float) -> np.ndarray:
    """Largest face on `image` (RGB uint8) as (x1, y1, x2, y2, score) in full-resolution pixels."""
    small = image
    if downscale > 1:
        small = cv2.resize(image, None, fx=1 / downscale, fy=1 / downscale, interpolation=cv2.INTER_AREA)
    det = detector.detect_largest(small)
    if det is None:
        raise NoFaceError("no face detected")
    return np.array([*(np.asarray(det.box, float) * max(downscale, 1)), det.score])


def align_frames(read_bgr: Callable[[int], np.ndarray], frame_numbers: Sequence[int], reference: int,
                 detector, params: AlignParams) -> AlignedClip:
    """Align the frames `frame_numbers` against frame `reference`.

    read_bgr(n) returns frame n as (H, W, 3) uint8 BGR (OpenCV's decoding order, so full frames
    are never colour-converted; only the crops are turned into RGB).

    The detector is any object with `detect_largest(image) -> detection | None` whose detection
    has `.box` (x1, y1, x2, y2) and `.score` (e.g. mexflow.align.mtcnn.MTCNN).
    """
    ref = read_bgr(reference)
    det = detect_face(detector, cv2.cvtColor(ref, cv2.COLOR_BGR2RGB), params.detect_downscale)
    box = CropBox.from_detection(det[:4], params.margin, params.centre_shift)
    x1, y1, x2, y2 = det[:4]
    f = (1 - params.template_frac) / 2
    h, w = ref.shape[:2]
    region = (int(max(0, round(x1 + f * (x2 - x1)))), int(max(0, round(y1 + f * (y2 - y1)))),
              int(min(w, round(x2 - f * (x2 - x1)))), int(min(h, round(y2 - f * (y2 - y1)))))
    tracker = TemplateTracker(ref, region, params.search_px)
    n = len(frame_numbers)
    s = params.crop_size
    out = np.empty((n, s, s, 3), np.uint8)
    shifts = np.zeros((n, 2), np.float32)
    ncc = np.ones(n, np.float32)
    guess = (0.0, 0.0)  # head motion between consecutive high-speed frames is tiny
    for i, fno in enumerate(frame_numbers):
        img = ref if fno == reference else read_bgr(fno)
        if fno != reference:
            dx, dy, score = tracker.shift(img, guess)
            shifts[i], ncc[i], guess = (dx, dy), score, (dx, dy)
        out[i] = cv2.cvtColor(crop_resize(img, box, float(shifts[i, 0]), float(shifts[i, 1]), s),
                              cv2.COLOR_BGR2RGB)
    return AlignedClip(out, np.asarray(frame_numbers), shifts, ncc,
                       np.array([box.cx, box.cy, box.size]), det, int(reference))


def reference_frame(onset: int, apex: int, frames: Sequence[int], which: str) -> int:
    """Frame number used as alignment reference."""
    if which == "onset":
        return onset
    if which == "apex":
        return apex
    if which == "first":
        return int(frames[0])
    raise ValueError(f"alignment reference must be onset, apex or first, got {which!r}")
