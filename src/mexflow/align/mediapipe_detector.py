"""MediaPipe face detection (BlazeFace, legacy `mp.solutions.face_detection`) behind the same
interface as the MTCNN detector: `detect_largest(image_rgb) -> detection | None`.

Coordinates are continuous pixels of the input image (it covers [0, W] x [0, H]), as MTCNN's.

MediaPipe's box is square and sits lower and tighter than MTCNN's (it spans brows to chin,
MTCNN's forehead to chin), so the same crop margin would give a smaller, lower crop. The box is
therefore calibrated onto MTCNN's before it is returned: its side is multiplied by `box_scale`
and its centre moved down by `box_shift` times its (raw) side. The defaults were measured on
the 640x480 synthetic corpus (see BOX_CALIBRATION); `raw_box` keeps MediaPipe's own box.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Calibration onto MTCNN's box (side = max(w, h), centre), measured on the reference frames of
# a 40-clip synthetic corpus (8 identities, seed 7) with both detectors at detect_downscale 3,
# model_selection 0: MTCNN side / MediaPipe side = 1.156 (sd 0.024, range 1.11..1.21);
# (MTCNN centre - MediaPipe centre) / MediaPipe side = (-0.035, -0.092) (sd 0.014 / 0.011).
# Only the vertical offset is applied: horizontally MediaPipe's box is centred on the eyes'
# midpoint (within 0.002 side) and the -0.035 is MTCNN's own bias on these faces.
# model_selection 1 measures 1.048 (sd 0.025) and (-0.031, -0.042) (sd 0.011 / 0.010).
# {model_selection: (box_scale, box_shift)}
BOX_CALIBRATION = {0: (1.156, -0.092), 1: (1.048, -0.042)}
# MediaPipe's keypoint order: 0 right eye, 1 left eye, 2 nose tip, 3 mouth centre,
# 4 right ear tragion, 5 left ear tragion (subject's sides; the subject's right eye is on the image left).
N_KEYPOINTS = 6


@dataclass(frozen=True)
class MediaPipeDetection:
    """One face found by MediaPipe.

    box: (4,) float64 x1, y1, x2, y2 pixels, calibrated onto MTCNN's box (module docstring).
    score: detection confidence in [0, 1].
    keypoints: (6, 2) float64 (x, y) pixels in MediaPipe's order (see N_KEYPOINTS).
    raw_box: (4,) float64 MediaPipe's own box.
    """

    box: np.ndarray
    score: float
    keypoints: np.ndarray
    raw_box: np.ndarray

    @property
    def eye_centres(self) -> np.ndarray:
        """(2, 2) float64: row 0 the subject's right eye (image left), row 1 the left eye."""
        return self.keypoints[:2].copy()

    @property
    def area(self) -> float:
        """Area of the raw box, square pixels."""
        x1, y1, x2, y2 = self.raw_box
        return float(max(x2 - x1, 0.0) * max(y2 - y1, 0.0))


class MediaPipeFaceDetector:
    """BlazeFace through `mp.solutions.face_detection`, one graph reused for every image.

    model_selection: 0 = short-range model (faces within about 2 m, 128x128 input), 1 =
        full-range model (about 5 m, 192x192 input). Both find the faces of the 640x480 synthetic
        frames (score about 0.9) at full resolution and shrunk 3x; 0 is the default (close-up
        ME recordings, and about 2.5x faster here: ~2 ms vs ~6 ms per frame on one CPU core).
    min_score: detections below this confidence are dropped.
    box_scale, box_shift: calibration of the box onto MTCNN's (module docstring); None takes
        the model's measured values from BOX_CALIBRATION, 1.0 and 0.0 return MediaPipe's own box.
    """

    def __init__(self, model_selection: int = 0, min_score: float = 0.5,
                 box_scale: float | None = None, box_shift: float | None = None):
        if model_selection not in (0, 1):
            raise ValueError(f"MediaPipe model_selection must be 0 or 1, got {model_selection!r}")
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {min_score}")
        default_scale, default_shift = BOX_CALIBRATION[model_selection]
        box_scale = default_scale if box_scale is None else box_scale
        box_shift = default_shift if box_shift is None else box_shift
        if not box_scale > 0:
            raise ValueError(f"box_scale must be positive, got {box_scale}")
        import mediapipe as mp  # heavy import, only where needed

        self.model_selection, self.min_score = int(model_selection), float(min_score)
        self.box_scale, self.box_shift = float(box_scale), float(box_shift)
        self._graph = mp.solutions.face_detection.FaceDetection(
            model_selection=self.model_selection, min_detection_confidence=self.min_score)

    def close(self) -> None:
        """Release MediaPipe's graph; the detector cannot be used afterwards."""
        if self._graph is not None:
            self._graph.close()
            self._graph = None

    def __enter__(self) -> "MediaPipeFaceDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def detect(self, image: np.ndarray) -> list[MediaPipeDetection]:
        """All faces on `image`, (H, W, 3) uint8 RGB, best score first (empty list if none).
        ValueError for any other input."""
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
                or image.shape[2] != 3 or 0 in image.shape:
            shape = getattr(image, "shape", None)
            raise ValueError(f"image must be a non-empty (H, W, 3) uint8 RGB array, got {shape} "
                             f"{getattr(image, 'dtype', type(image).__name__)}")
        if self._graph is None:
            raise RuntimeError("MediaPipeFaceDetector was closed")
        h, w = image.shape[:2]
        result = self._graph.process(np.ascontiguousarray(image))
        found = []
        for det in result.detections or ():
            rel = det.location_data.relative_bounding_box
            raw = np.array([rel.xmin * w, rel.ymin * h, (rel.xmin + rel.width) * w,
                            (rel.ymin + rel.height) * h])
            kps = np.array([[p.x * w, p.y * h] for p in det.location_data.relative_keypoints])
            if kps.shape != (N_KEYPOINTS, 2):
                raise RuntimeError(f"MediaPipe returned {len(kps)} keypoints, expected {N_KEYPOINTS}")
            found.append(MediaPipeDetection(self._calibrated(raw), float(det.score[0]), kps, raw))
        return sorted(found, key=lambda d: -d.score)

    def detect_largest(self, image: np.ndarray) -> MediaPipeDetection | None:
        """The detection with the largest box area, or None when no face is found."""
        faces = self.detect(image)
        return max(faces, key=lambda f: f.area) if faces else None

    def _calibrated(self, raw: np.ndarray) -> np.ndarray:
        """MediaPipe's box scaled about its centre by box_scale and moved down by box_shift x side."""
        x1, y1, x2, y2 = raw
        side = max(x2 - x1, y2 - y1)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + self.box_shift * side
        hw, hh = self.box_scale * (x2 - x1) / 2, self.box_scale * (y2 - y1) / 2
        return np.array([cx - hw, cy - hh, cx + hw, cy + hh])
