"""2-D affine helpers for alignment: translations, two-point similarities and the crop mapping.

Conventions: an affine is a (2, 3) float64 matrix M acting on column points (x, y, 1), i.e.
p' = M[:, :2] @ p + M[:, 2]; pixel centres sit at integer coordinates (as in template.py).
A per-frame alignment transform maps a frame's pixels onto the reference frame's pixels.
"""
from __future__ import annotations

import numpy as np


def translation_affine(dx: float, dy: float) -> np.ndarray:
    """Frame -> reference affine of a face displaced by (dx, dy) pixels from the reference:
    [[1, 0, -dx], [0, 1, -dy]]. Returns (2, 3) float64."""
    return np.array([[1.0, 0.0, -float(dx)], [0.0, 1.0, -float(dy)]])


def translation_affines(shifts: np.ndarray) -> np.ndarray:
    """(N, 2) shifts (dx, dy) -> (N, 2, 3) float64 frame -> reference affines (e.g. for shards
    written before alignment stored `transforms`)."""
    shifts = np.asarray(shifts, np.float64)
    if shifts.ndim != 2 or shifts.shape[1] != 2:
        raise ValueError(f"shifts must be (N, 2), got {shifts.shape}")
    out = np.zeros((len(shifts), 2, 3))
    out[:, 0, 0] = out[:, 1, 1] = 1.0
    out[:, :, 2] = -shifts
    return out


def similarity_from_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The similarity (rotation, isotropic scale, translation) mapping the two points `src`
    exactly onto the two points `dst`. src, dst: (2, 2) rows (x, y) in pixels.

    Returns (2, 3) float64. ValueError when the src points coincide (no unique similarity).
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    if src.shape != (2, 2) or dst.shape != (2, 2):
        raise ValueError(f"need two (x, y) points each, got src {src.shape} and dst {dst.shape}")
    zs, zd = src[:, 0] + 1j * src[:, 1], dst[:, 0] + 1j * dst[:, 1]
    base = zs[1] - zs[0]
    if not abs(base) > 1e-9:
        raise ValueError(f"similarity needs two distinct source points, got {src.tolist()}")
    a = (zd[1] - zd[0]) / base          # rotation and scale as one complex factor
    b = zd[0] - a * zs[0]
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


def apply_affine(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map points (..., 2) through the affine m (2, 3). Returns (..., 2) float64."""
    m, points = np.asarray(m, np.float64), np.asarray(points, np.float64)
    return points @ m[:, :2].T + m[:, 2]


def compose_affine(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """outer o inner: apply `inner` first, then `outer`. Both and the result (2, 3) float64."""
    outer, inner = np.asarray(outer, np.float64), np.asarray(inner, np.float64)
    return np.hstack([outer[:, :2] @ inner[:, :2], outer[:, :2] @ inner[:, 2:] + outer[:, 2:]])


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of an invertible affine (2, 3). ValueError for a singular one."""
    m = np.asarray(m, np.float64)
    lin = m[:, :2]
    if not abs(np.linalg.det(lin)) > 1e-12:
        raise ValueError(f"affine {m.tolist()} is singular")
    inv = np.linalg.inv(lin)
    return np.hstack([inv, -inv @ m[:, 2:]])


def rotation_scale(m: np.ndarray) -> tuple[float, float]:
    """(rotation in degrees, counter-clockwise in image axes x right / y down, isotropic scale)
    of a similarity affine (2, 3)."""
    m = np.asarray(m, np.float64)
    return float(np.degrees(np.arctan2(m[1, 0], m[0, 0]))), float(np.hypot(m[0, 0], m[1, 0]))


def crop_affine(cx: float, cy: float, size: float, out_size: int) -> np.ndarray:
    """Reference-frame pixels -> crop pixels for the square crop of centre (cx, cy) and side
    `size` resampled to out_size x out_size: the crop's pixel u covers [u - 1/2, u + 1/2] of the
    output, i.e. its centre samples x = (u + 1/2) / k - 1/2 + cx - size/2 with k = out_size / size.
    Returns (2, 3) float64."""
    k = out_size / size
    return np.array([[k, 0.0, (0.5 - (cx - size / 2)) * k - 0.5],
                     [0.0, k, (0.5 - (cy - size / 2)) * k - 0.5]])
