"""Boolean masks of named face regions from FaceMesh landmarks."""
from __future__ import annotations

from typing import Mapping, Sequence

import cv2
import numpy as np

from mexflow.geometry.regions import FACE, FaceRegion, load_face_regions
from mexflow.landmarks import N_LANDMARKS, inter_ocular_distance

_SUBPIXEL_BITS = 4  # polygon vertices are drawn at 1/16 px precision


def _check_landmarks(landmarks) -> np.ndarray:
    if not isinstance(landmarks, np.ndarray) or landmarks.shape != (N_LANDMARKS, 2) \
            or not np.issubdtype(landmarks.dtype, np.floating):
        raise ValueError(f"landmarks: expected ({N_LANDMARKS}, 2) float (x, y) pixels, got "
                         f"{getattr(landmarks, 'shape', None)} {getattr(landmarks, 'dtype', type(landmarks))}")
    if not np.isfinite(landmarks).all():
        raise ValueError("landmarks contain NaN or infinite values (no face found on that frame?)")
    return landmarks.astype(np.float64)


def _check_shape(shape) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in shape)
        ok = all(float(v) == int(v) for v in shape)
    except (TypeError, ValueError):
        ok = False
    if not ok or h <= 0 or w <= 0:
        raise ValueError(f"shape: expected (H, W) with positive integers, got {shape!r}")
    return h, w


def _select(regions: Sequence[str] | None, available: dict[str, FaceRegion]) -> list[str]:
    if regions is None:
        return list(available)
    if isinstance(regions, str):
        raise ValueError(f"regions must be a sequence of region names, not the string {regions!r}")
    names = [str(r) for r in regions]
    unknown = [r for r in names if r not in available]
    if unknown:
        raise ValueError(f"unknown face regions {unknown}; known: {list(available)}")
    if len(set(names)) != len(names):
        raise ValueError(f"face regions listed twice in {names}")
    return names


def hull_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool filled convex hull of (K, 2) float (x, y) pixel points (pixel centres at
    integer coordinates; pixels the hull's outline passes through are included)."""
    mask = np.zeros(shape, np.uint8)
    fixed = np.round(np.asarray(points, np.float64) * (1 << _SUBPIXEL_BITS)).astype(np.int32)
    hull = cv2.convexHull(fixed.reshape(-1, 1, 2))
    cv2.fillConvexPoly(mask, hull, 1, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
    return mask.astype(bool)


def dilate_disk(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """(H, W) bool `mask` dilated by an elliptical (disk) kernel of radius round(radius_px)."""
    r = int(round(radius_px))
    if r <= 0:
        return mask.copy()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def _margins(overrides: Mapping[str, float] | None, available: dict[str, FaceRegion]) -> dict[str, float]:
    margins = {name: region.margin for name, region in available.items()}
    for name, value in (overrides or {}).items():
        if name not in available:
            raise ValueError(f"margin given for unknown face region {name!r}; known: {list(available)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"margin of {name!r} must be a number in [0, 1] (fraction of the IOD), got {value!r}")
        margins[name] = float(value)
    return margins


def region_masks(landmarks: np.ndarray, shape, regions: Sequence[str] | None = None,
                 margins: Mapping[str, float] | None = None) -> tuple[list[str], np.ndarray]:
    """Masks of named face regions (resources/face_regions.yaml).

    landmarks: (478, 2) float (x, y) FaceMesh pixels of an image of size `shape` = (H, W);
    regions: names to draw (default: all, in the YAML's order); margins: optional
    {name: fraction of the IOD} replacing the YAML margins of those regions.
    Each mask is the filled convex hull of the region's landmarks, dilated by its margin x the
    inter-ocular distance (rounded to whole pixels), then, except for the face itself, clipped
    to the face hull. Returns (names, masks (R, H, W) bool). A region outside the image is empty.
    """
    pts = _check_landmarks(landmarks)
    hw = _check_shape(shape)
    available = load_face_regions()
    names = _select(regions, available)
    margin = _margins(margins, available)
    iod = inter_ocular_distance(pts)
    if iod < 1.0:
        raise ValueError(f"landmarks have an inter-ocular distance of {iod:.3g} px; need >= 1 px")

    def draw(region: FaceRegion) -> np.ndarray:
        return dilate_disk(hull_mask(pts[list(region.landmarks)], hw), margin[region.name] * iod)

    face = draw(available[FACE])
    masks = np.zeros((len(names), *hw), bool)
    for k, name in enumerate(names):
        masks[k] = face if name == FACE else draw(available[name]) & face
    return names, masks
