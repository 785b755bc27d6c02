"""Rotation and scale of the head from two tracked eye patches (similarity alignment).

1. On the reference frame a square patch is cut around each eye centre the detector reported;
   both are tracked through the clip with the sub-pixel NCC template tracker, and the two point
   pairs (patch centre on the frame, on the reference) give the similarity that maps the frame
   onto the reference (geometry.similarity_from_points).
2. Translation-only matching of a rotated patch is slightly off (its corners move differently
   from its centre), so the estimate is refined once: the neighbourhood of each patch is warped
   back by the first similarity and the patch matched there again (a residual of a fraction of
   a pixel), which gives the final point pairs.
3. The eye patches follow eyelid and cheek motion (AU 6, 7, 43) more than the large face
   template does, so the similarity's translation is re-anchored on the face template, matched
   once more on the frame warped back by the eye similarity; rotation and scale stay those of
   the eyes. Mean residual rigid motion on synthetic corpora without rotation: 0.15 -> 0.12 px
   on 4 clips (translation-only 0.10), 0.123 -> 0.110 px on 20 clips (translation-only 0.110).
"""
from __future__ import annotations

import cv2
import numpy as np

from mexflow.align.geometry import (apply_affine, compose_affine, invert_affine, rotation_scale,
                                    similarity_from_points, translation_affine)
from mexflow.align.template import TemplateTracker, gray_f32, match_template

MIN_PATCH_PX = 8        # smallest eye patch side that still carries texture to match
MIN_EYE_DISTANCE_PX = 8.0
REFINE_REACH_PX = 3     # residual displacement searched by the refinement, pixels


def eye_patch_region(eye_xy, side: int, frame_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """Integer square (x0, y0, x1, y1) of `side` pixels centred on `eye_xy` (continuous
    detector coordinates: pixel j covers [j, j + 1)), cut to the frame. ValueError when less
    than half of it lies inside the frame."""
    h, w = frame_hw
    x0 = int(np.floor(eye_xy[0] - side / 2))
    y0 = int(np.floor(eye_xy[1] - side / 2))
    region = (max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side))
    inside = max(0, region[2] - region[0]) * max(0, region[3] - region[1])
    if inside * 2 < side * side:
        raise ValueError(f"eye patch of side {side} around {tuple(np.round(eye_xy, 1))} is mostly "
                         f"outside the {w}x{h} frame")
    return region


class EyePairTracker:
    """Tracks the two eye patches of a reference frame and estimates per-frame similarities.

    ref: reference frame (H, W, 3) uint8 BGR (or (H, W)); eyes: (2, 2) (x, y) eye centres in
    continuous pixels (row 0 the subject's right eye, row 1 the left; the order only has to be
    consistent); patch_frac: patch side as a fraction of the eye distance; search_px: largest
    displacement of a patch searched around its guess (TemplateTracker).
    ValueError when the eyes are closer than MIN_EYE_DISTANCE_PX or a patch leaves the frame.
    """

    def __init__(self, ref: np.ndarray, eyes: np.ndarray, patch_frac: float = 0.45,
                 search_px: int = 16):
        eyes = np.asarray(eyes, np.float64)
        if eyes.shape != (2, 2) or not np.all(np.isfinite(eyes)):
            raise ValueError(f"eyes must be two finite (x, y) points, got {eyes.tolist()}")
        distance = float(np.linalg.norm(eyes[1] - eyes[0]))
        if distance < MIN_EYE_DISTANCE_PX:
            raise ValueError(f"eye centres {distance:.1f} px apart; need >= {MIN_EYE_DISTANCE_PX}")
        if not 0 < patch_frac <= 1:
            raise ValueError(f"eye patch fraction must be in (0, 1], got {patch_frac}")
        side = max(MIN_PATCH_PX, int(round(patch_frac * distance)))
        regions = [eye_patch_region(e, side, ref.shape[:2]) for e in eyes]
        self.trackers = [TemplateTracker(ref, r, search_px) for r in regions]
        # Tracked points: the patch centres in the pixel-centre convention of template.py.
        self.points = np.array([[(r[0] + r[2] - 1) / 2, (r[1] + r[3] - 1) / 2] for r in regions])
        self.side = side

    def match(self, frame: np.ndarray, guesses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Track both patches on `frame` (same layout as the reference).

        guesses: (2, 2) expected shift (dx, dy) of each patch (e.g. its previous shift moved by
        the face template's change). Returns (transform (2, 3) float64 frame -> reference
        similarity, or None when the two tracked points (nearly) coincide; shifts (2, 2) float64
        of the patches; ncc (2,) float64 their match scores).
        """
        found = [t.shift(frame, (float(g[0]), float(g[1]))) for t, g in zip(self.trackers, guesses)]
        shifts = np.array([[dx, dy] for dx, dy, _ in found])
        ncc = np.array([score for _, _, score in found])
        tracked = self.points + shifts
        if np.linalg.norm(tracked[1] - tracked[0]) < MIN_EYE_DISTANCE_PX / 2:
            return None, shifts, ncc
        coarse = similarity_from_points(tracked, self.points)
        refined = [self._refine(frame, coarse, k) for k in range(2)]
        tracked = apply_affine(invert_affine(coarse), np.array([p for p, _ in refined]))
        ncc = np.array([score for _, score in refined])
        if np.linalg.norm(tracked[1] - tracked[0]) < MIN_EYE_DISTANCE_PX / 2:
            return None, tracked - self.points, ncc
        return similarity_from_points(tracked, self.points), tracked - self.points, ncc

    def _refine(self, frame: np.ndarray, coarse: np.ndarray, k: int) -> tuple[np.ndarray, float]:
        """Patch k matched on the frame warped into the reference by `coarse`. Returns (the
        patch centre's position in reference-frame pixels (2,), NCC)."""
        tracker = self.trackers[k]
        dx, dy, score = match_in_reference(frame, coarse, tracker.template, tracker.region)
        return self.points[k] + (dx, dy), score


def match_in_reference(frame: np.ndarray, transform: np.ndarray, template: np.ndarray,
                       region: tuple[int, int, int, int],
                       reach: int = REFINE_REACH_PX) -> tuple[float, float, float]:
    """Residual displacement of a reference template after alignment.

    The neighbourhood of `region` (x0, y0, x1, y1), reference-frame pixels, where `template`
    (float32 grey, as TemplateTracker keeps it) was cut, is resampled from `frame` through
    `transform` (2, 3) frame -> reference, and the template matched there within `reach` pixels.
    Returns (dx, dy, ncc): where the template sits in the aligned frame minus where it was
    (sub-pixel; 0 when the transform is exact).
    """
    x0, y0, x1, y1 = region
    wx0, wy0 = x0 - reach, y0 - reach
    size = (x1 - x0 + 2 * reach, y1 - y0 + 2 * reach)
    to_window = compose_affine(translation_affine(wx0, wy0), transform)
    window = cv2.warpAffine(frame, to_window, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    bx, by, score = match_template(template, gray_f32(window), wx0, wy0)
    return bx - x0, by - y0, score


class SimilarityTracker:
    """Per-frame similarity of the head: rotation and scale from the eye patches, translation
    re-anchored on the face template (module docstring).

    face: the clip's face TemplateTracker (its per-frame shift is the caller's); eyes: the
    EyePairTracker; min_eye_ncc: both eye patches must match at least this well;
    max_scale_change: a scale further than this from 1 is taken as a tracking failure.
    Keeps each eye's last shift between calls, so frames must come in clip order.
    """

    def __init__(self, face: TemplateTracker, eyes: EyePairTracker, min_eye_ncc: float = 0.8,
                 max_scale_change: float = 0.1):
        self.face, self.eyes = face, eyes
        self.min_eye_ncc, self.max_scale_change = float(min_eye_ncc), float(max_scale_change)
        self.eye_shifts = np.zeros((2, 2))
        self.face_shift = np.zeros(2)

    def estimate(self, frame: np.ndarray, face_shift) -> tuple[np.ndarray | None, np.ndarray]:
        """(frame -> reference similarity (2, 3) float64, or None when the eyes cannot give one
        (poor match or implausible scale: use the translation); eye-patch NCC (2,)).
        face_shift: the face template's (dx, dy) on this frame."""
        face_shift = np.asarray(face_shift, np.float64)
        # Each eye is expected where it was, moved as the face template moved since.
        expected = self.eye_shifts + (face_shift - self.face_shift)
        self.face_shift = face_shift
        sim, found, ncc = self.eyes.match(frame, expected)
        if sim is None or ncc.min() < self.min_eye_ncc \
                or abs(rotation_scale(sim)[1] - 1) > self.max_scale_change:
            self.eye_shifts = expected
            return None, ncc
        self.eye_shifts = found
        rx, ry, _ = match_in_reference(frame, sim, self.face.template, self.face.region)
        return compose_affine(translation_affine(rx, ry), sim), ncc
