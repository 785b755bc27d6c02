"""Translation tracking by normalised cross-correlation template matching, with sub-pixel peaks,
and the crop warp (one affine resampling per frame, for any frame -> reference affine).

Conventions: images are (H, W) or (H, W, 3) arrays; coordinates are (x, y) pixels with pixel
centres at integer positions; a shift (dx, dy) is the displacement of the face from the
reference frame to the current frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mexflow.align.geometry import (apply_affine, compose_affine, crop_affine, invert_affine,
                                    translation_affine)


@dataclass(frozen=True)
class CropBox:
    """Square crop: centre (cx, cy) and side length `size`, pixels of the reference frame."""

    cx: float
    cy: float
    size: float

    @classmethod
    def from_detection(cls, box, margin: float, scale_y: float = 0.0) -> "CropBox":
        """Square box around a detection (x1, y1, x2, y2): side = max(w, h) * (1 + margin);
        `scale_y` moves the centre down by that fraction of the side (to include the chin)."""
        x1, y1, x2, y2 = (float(v) for v in box)
        side = max(x2 - x1, y2 - y1) * (1.0 + margin)
        return cls((x1 + x2) / 2, (y1 + y2) / 2 + scale_y * side, side)


def gray_f32(img: np.ndarray) -> np.ndarray:
    """Luma as float32. Colour frames are taken as BGR (OpenCV's decoding order)."""
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
    return g.astype(np.float32)


def _parabola_offset(m: float, l: float, r: float) -> float:
    """Sub-pixel offset of a peak from three samples (left, centre, right), in [-0.5, 0.5]."""
    den = l - 2.0 * m + r
    if den >= 0:  # not a strict maximum: keep the integer peak
        return 0.0
    return float(np.clip(0.5 * (l - r) / den, -0.5, 0.5))


def match_template(template: np.ndarray, image: np.ndarray, x0: int, y0: int) -> tuple[float, float, float]:
    """Best position (x, y) of the template's top-left in `image` coordinates offset by (x0, y0),
    with sub-pixel refinement, and its NCC score."""
    res = cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED)
    _, score, _, (px, py) = cv2.minMaxLoc(res)
    dx = _parabola_offset(res[py, px], res[py, px - 1], res[py, px + 1]) if 0 < px < res.shape[1] - 1 else 0.0
    dy = _parabola_offset(res[py, px], res[py - 1, px], res[py + 1, px]) if 0 < py < res.shape[0] - 1 else 0.0
    return x0 + px + dx, y0 + py + dy, float(score)


class TemplateTracker:
    """Tracks the translation of a face template from a reference frame.

    ref: reference frame (H, W[, 3]) uint8, colour in BGR order; region: (x0, y0, x1, y1)
    integer template rectangle inside it; search_px: largest shift searched in each direction.
    A full search above 8 px runs coarse-to-fine (half resolution first, then +-3 px at full
    resolution); `shift` can also search only around a guess (see there).
    """

    def __init__(self, ref: np.ndarray, region: tuple[int, int, int, int], search_px: int = 16):
        g = gray_f32(ref)
        h, w = g.shape
        x0, y0, x1, y1 = region
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            raise ValueError(f"template region {region} outside the {w}x{h} frame")
        self.region, self.search = (x0, y0, x1, y1), int(search_px)
        self.template = g[y0:y1, x0:x1].copy()
        self.template_half = cv2.pyrDown(self.template) if self.search > 8 else None

    def _window(self, shape, ox: int, oy: int, cx: float, cy: float, radius: int, scale: int = 1):
        """Search window (in the sub-image starting at (ox, oy) of the frame, at 1/scale
        resolution) for the template displaced by (cx, cy), and the template's nominal corner."""
        x0, y0, x1, y1 = ((v - o) // scale for v, o in zip(self.region, (ox, oy, ox, oy)))
        h, w = shape
        sx0 = int(max(0, np.floor(x0 + cx) - radius))
        sy0 = int(max(0, np.floor(y0 + cy) - radius))
        sx1 = int(min(w, np.ceil(x1 + cx) + radius + 1))
        sy1 = int(min(h, np.ceil(y1 + cy) + radius + 1))
        return sx0, sy0, sx1, sy1, x0, y0

    def shift(self, frame: np.ndarray, guess: tuple[float, float] | None = None,
              min_ncc: float = 0.8) -> tuple[float, float, float]:
        """(dx, dy, ncc) of the template in `frame` relative to the reference, sub-pixel.

        guess: expected shift (e.g. the previous frame's); the search then covers +-3 px around
        it at full resolution, and falls back to the full search when the best match lies on the
        edge of that window or scores below `min_ncc`.
        """
        x0, y0, x1, y1 = self.region
        h, w = frame.shape[:2]
        reach = self.search + 6
        # Only the part of the frame the search can reach is converted and searched; the
        # sub-image starts at even coordinates so its half-resolution grid matches the template's.
        ox, oy = max(0, x0 - reach) & ~1, max(0, y0 - reach) & ~1
        g = gray_f32(frame[oy:min(h, y1 + reach), ox:min(w, x1 + reach)])
        if guess is not None and abs(guess[0]) < self.search and abs(guess[1]) < self.search:
            gx, gy = round(guess[0]), round(guess[1])
            sx0, sy0, sx1, sy1, tx0, ty0 = self._window(g.shape, ox, oy, gx, gy, 3)
            bx, by, score = match_template(self.template, g[sy0:sy1, sx0:sx1], sx0, sy0)
            inside = abs(bx - tx0 - gx) < 2.5 and abs(by - ty0 - gy) < 2.5
            if inside and score >= min_ncc:
                return bx - tx0, by - ty0, score
        cx = cy = 0.0
        radius = self.search
        if self.template_half is not None:
            gh = cv2.pyrDown(g)
            sx0, sy0, sx1, sy1, tx0, ty0 = self._window(gh.shape, ox, oy, 0, 0, (self.search + 1) // 2, 2)
            bx, by, _ = match_template(self.template_half, gh[sy0:sy1, sx0:sx1], sx0, sy0)
            cx, cy, radius = 2 * (bx - tx0), 2 * (by - ty0), 3
        sx0, sy0, sx1, sy1, tx0, ty0 = self._window(g.shape, ox, oy, round(cx), round(cy), radius)
        bx, by, score = match_template(self.template, g[sy0:sy1, sx0:sx1], sx0, sy0)
        return bx - tx0, by - ty0, score


def warp_crop(frame: np.ndarray, box: CropBox, transform: np.ndarray, out_size: int) -> np.ndarray:
    """Resample the square `box` (reference-frame pixels) of a frame aligned by `transform`
    ((2, 3) frame -> reference affine, e.g. a translation or a similarity) to (out_size, out_size)
    in one affine warp: bilinear, with a Gaussian pre-filter (sigma = 0.5 sqrt(1/k^2 - 1) source
    pixels for an overall scale k < 1) so shrinking does not alias. Keeps dtype and channels;
    pixels outside the frame replicate its border.
    """
    m = compose_affine(crop_affine(box.cx, box.cy, box.size, out_size), transform)
    k = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    src, ox, oy = frame, 0, 0
    if k < 1.0:
        # Anti-alias before shrinking; blur only the region the warp reads (plus the kernel reach),
        # the bounding box of the crop's corners carried back into the frame.
        sigma = 0.5 * np.sqrt(1.0 / k**2 - 1.0)
        pad = int(np.ceil(3 * sigma)) + 2
        half = box.size / 2
        corners = np.array([[box.cx - half, box.cy - half], [box.cx + half, box.cy - half],
                            [box.cx - half, box.cy + half], [box.cx + half, box.cy + half]])
        pts = apply_affine(invert_affine(transform), corners)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        h, w = frame.shape[:2]
        ox, oy = max(0, int(np.floor(lo[0])) - pad), max(0, int(np.floor(lo[1])) - pad)
        ex = min(w, int(np.ceil(hi[0])) + pad)
        ey = min(h, int(np.ceil(hi[1])) + pad)
        if ex > ox and ey > oy:
            src = cv2.GaussianBlur(frame[oy:ey, ox:ex], (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        else:
            src, ox, oy = cv2.GaussianBlur(frame, (0, 0), sigma), 0, 0
    m[:, 2] += m[:, :2] @ np.array([ox, oy], np.float64)  # sub-image coordinates
    return cv2.warpAffine(src, m, (out_size, out_size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def crop_resize(frame: np.ndarray, box: CropBox, dx: float, dy: float, out_size: int) -> np.ndarray:
    """Crop the square `box` shifted by (dx, dy) and resample it to (out_size, out_size): the
    translation case of `warp_crop` (identical output for the same shift)."""
    return warp_crop(frame, box, translation_affine(dx, dy), out_size)
