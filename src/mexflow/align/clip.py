"""Align one clip: detect the face once on a reference frame, then track it on every frame.

Output crops are square, `crop_size` pixels, RGB uint8. Two motion models (REFERENCES §1.5,
upgraded from integer to sub-pixel matching):

- translation: the face template's sub-pixel shift per frame;
- similarity: rotation and scale as well, from two eye patches tracked on top of the face
  template (mexflow.align.similarity, which also says how the translation is anchored); a
  frame whose eye patches match poorly (NCC < min_eye_ncc) or give an implausible scale falls
  back to its translation and is counted.

Either way each frame gets one frame -> reference affine, composed with the crop box into a
single warp (template.warp_crop), so a similarity with rotation 0 and scale 1 crops exactly as
the translation does.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from mexflow.align.geometry import apply_affine, invert_affine, translation_affine
from mexflow.align.similarity import EyePairTracker, SimilarityTracker
from mexflow.align.template import CropBox, TemplateTracker, warp_crop
from mexflow.io import BadFrameError, frame_channels, read_frame

TRANSFORMS = ("translation", "similarity")
# A tracked similarity whose scale differs from 1 by more than this is a tracking failure (a
# head does not approach the camera by 10 % within a micro-expression clip): fall back.
MAX_SCALE_CHANGE = 0.10

log = logging.getLogger(__name__)


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
    transform: str = "translation"  # translation | similarity
    eye_patch_frac: float = 0.45  # similarity: eye patch side / inter-ocular distance
    min_eye_ncc: float = 0.8      # similarity: below this eye-patch NCC a frame falls back
    mediapipe_model: int = 0      # MediaPipe detector: 0 short-range, 1 full-range model

    def __post_init__(self):
        if self.transform not in TRANSFORMS:
            raise ValueError(f"alignment transform must be one of {TRANSFORMS}, got {self.transform!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "AlignParams":
        return cls(**{k: v for k, v in (d or {}).items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class AlignedClip:
    frames: np.ndarray        # (N, S, S, 3) uint8 RGB crops
    frame_numbers: np.ndarray  # (N,) int
    shifts: np.ndarray        # (N, 2) float32 (dx, dy) pixels: motion of the crop centre vs the
    #                           reference frame (the face template's shift for translation)
    ncc: np.ndarray           # (N,) float32 face template-match score
    box: np.ndarray           # (3,) float64 crop box (cx, cy, size) in reference-frame pixels
    detection: np.ndarray     # (5,) float64 detector box x1, y1, x2, y2 and score
    reference: int            # reference frame number
    transforms: np.ndarray    # (N, 2, 3) float32 frame -> reference-frame affine of each frame
    eyes: np.ndarray          # (2, 2) float64 detector eye centres (subject's right, left), pixels
    eye_ncc: np.ndarray       # (N, 2) float32 eye-patch match scores (1 where not tracked)
    fallbacks: int            # similarity frames that fell back to translation


@dataclass(frozen=True)
class ReferenceFace:
    """The face found on a reference frame, in its full-resolution pixels."""

    box: np.ndarray    # (4,) float64 x1, y1, x2, y2
    score: float
    eyes: np.ndarray   # (2, 2) float64 eye centres: row 0 subject's right (image left), row 1 left


def read_frame_bgr(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 in OpenCV's BGR order; grayscale files are expanded to 3 channels.
    BadFrameError (mexflow.io) naming the file when it is missing, empty, truncated or cannot
    be decoded."""
    return _to_bgr(read_frame(path))


def _to_bgr(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img


class ClipFrameReader:
    """Reads the frames of one clip strictly (mexflow.io.read_frame), as BGR for align_frames.

    The first frame read (align_frames reads the reference frame first) fixes the clip's size
    and channel count; a later frame that differs raises BadFrameError naming it and both sizes.
    """

    def __init__(self, folder, pattern: str):
        self.folder, self.pattern = Path(folder), pattern
        self.reference: tuple[int, int, int] | None = None  # (height, width, channels)

    def path(self, n: int) -> Path:
        return self.folder / self.pattern.format(n)

    def __call__(self, n: int) -> np.ndarray:
        path = self.path(n)
        img = read_frame(path)
        h, w = img.shape[:2]
        c = frame_channels(img)
        if self.reference is None:
            self.reference = (h, w, c)
        else:
            rh, rw, rc = self.reference
            if (h, w) != (rh, rw):
                raise BadFrameError(path, f"size {w}x{h} differs from the clip's {rw}x{rh} "
                                          f"(its reference frame)")
            if c != rc:
                raise BadFrameError(path, f"{c} channel(s) where the clip has {rc} "
                                          f"(its reference frame)")
        return _to_bgr(img)


def detect_reference_face(detector, image: np.ndarray, downscale: float) -> ReferenceFace:
    """Largest face on `image` (RGB uint8), searched on the image shrunk by `downscale`.

    The detector is any object with `detect_largest(image) -> detection | None` whose detection
    has `.box` (x1, y1, x2, y2), `.score` and `.eye_centres` ((2, 2), see ReferenceFace.eyes);
    MTCNN and MediaPipeFaceDetector both qualify. NoFaceError when none is found.
    """
    small = image
    if downscale > 1:
        small = cv2.resize(image, None, fx=1 / downscale, fy=1 / downscale, interpolation=cv2.INTER_AREA)
    det = detector.detect_largest(small)
    if det is None:
        raise NoFaceError("no face detected")
    up = max(downscale, 1)
    eyes = np.asarray(det.eye_centres, np.float64)
    if eyes.shape != (2, 2):
        raise ValueError(f"detector returned eye centres of shape {eyes.shape}, expected (2, 2)")
    return ReferenceFace(np.asarray(det.box, np.float64) * up, float(det.score), eyes * up)


def detect_face(detector, image: np.ndarray, downscale: float) -> np.ndarray:
    """Largest face on `image` (RGB uint8) as (x1, y1, x2, y2, score) in full-resolution pixels."""
    face = detect_reference_face(detector, image, downscale)
    return np.array([*face.box, face.score])


def _template_region(box: np.ndarray, frac: float, hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """Central `frac` of the detection box (x1, y1, x2, y2), as integer pixels inside the frame."""
    x1, y1, x2, y2 = box
    f = (1 - frac) / 2
    h, w = hw
    return (int(max(0, round(x1 + f * (x2 - x1)))), int(max(0, round(y1 + f * (y2 - y1)))),
            int(min(w, round(x2 - f * (x2 - x1)))), int(min(h, round(y2 - f * (y2 - y1)))))


def _similarity_tracker(ref: np.ndarray, face: ReferenceFace, tracker: TemplateTracker,
                        params: AlignParams) -> SimilarityTracker | None:
    """The similarity tracker, or None (the whole clip by translation) when the detector's eyes
    cannot carry patches (too close together, or at the frame border)."""
    try:
        eyes = EyePairTracker(ref, face.eyes, params.eye_patch_frac, params.search_px)
    except ValueError as err:
        log.warning("similarity alignment impossible on this clip (%s); using translation", err)
        return None
    return SimilarityTracker(tracker, eyes, params.min_eye_ncc, MAX_SCALE_CHANGE)


def align_frames(read_bgr: Callable[[int], np.ndarray], frame_numbers: Sequence[int], reference: int,
                 detector, params: AlignParams) -> AlignedClip:
    """Align the frames `frame_numbers` against frame `reference`.

    read_bgr(n) returns frame n as (H, W, 3) uint8 BGR (OpenCV's decoding order, so full frames
    are never colour-converted; only the crops are turned into RGB).

    The detector is any object accepted by `detect_reference_face` (e.g. MTCNN).
    """
    ref = read_bgr(reference)
    face = detect_reference_face(detector, cv2.cvtColor(ref, cv2.COLOR_BGR2RGB), params.detect_downscale)
    box = CropBox.from_detection(face.box, params.margin, params.centre_shift)
    tracker = TemplateTracker(ref, _template_region(face.box, params.template_frac, ref.shape[:2]),
                              params.search_px)
    similarity = params.transform == "similarity"
    sim_tracker = _similarity_tracker(ref, face, tracker, params) if similarity else None
    n = len(frame_numbers)
    s = params.crop_size
    out = np.empty((n, s, s, 3), np.uint8)
    shifts = np.zeros((n, 2), np.float32)
    ncc = np.ones(n, np.float32)
    eye_ncc = np.ones((n, 2), np.float32)
    transforms = np.zeros((n, 2, 3), np.float32)
    fallbacks = 0
    centre = np.array([box.cx, box.cy])
    guess = (0.0, 0.0)  # head motion between consecutive high-speed frames is tiny
    for i, fno in enumerate(frame_numbers):
        if fno == reference:
            img, transform = ref, translation_affine(0.0, 0.0)
        else:
            img = read_bgr(fno)
            dx, dy, score = tracker.shift(img, guess)
            transform = translation_affine(dx, dy)
            shifts[i], ncc[i], guess = (dx, dy), score, (dx, dy)
            if similarity:
                sim = None
                if sim_tracker is not None:
                    sim, eye_ncc[i] = sim_tracker.estimate(img, (dx, dy))
                if sim is None:
                    fallbacks += 1
                else:
                    transform = sim
                    shifts[i] = apply_affine(invert_affine(sim), centre) - centre
        transforms[i] = transform
        # Warp with the stored float32 transform, so the stored transforms reproduce the crops.
        out[i] = cv2.cvtColor(warp_crop(img, box, transforms[i].astype(np.float64), s), cv2.COLOR_BGR2RGB)
    return AlignedClip(out, np.asarray(frame_numbers), shifts, ncc,
                       np.array([box.cx, box.cy, box.size]), np.array([*face.box, face.score]),
                       int(reference), transforms, face.eyes, eye_ncc, fallbacks)


def reference_frame(onset: int, apex: int, frames: Sequence[int], which: str) -> int:
    """Frame number used as alignment reference."""
    if which == "onset":
        return onset
    if which == "apex":
        return apex
    if which == "first":
        return int(frames[0])
    raise ValueError(f"alignment reference must be onset, apex or first, got {which!r}")
