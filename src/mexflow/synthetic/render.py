"""Frame formation: expression motion, head jitter, illumination drift and sensor noise.

For a frame with expression amplitude a (0..1), apex field D (neutral canvas coordinates) and
head pose (tx, ty, theta) about centre c:
  1. expression: a neutral point x moves to y = x + a * D(x)       (ground-truth displacement)
  2. head jitter: y moves rigidly to z = R(theta) (y - c) + c + t  (ground-truth jitter)
The head layer and its opacity are drawn by the exact inverse of this map (a fixed-point solve of
the expression step), composited over the static background, lit, noised and quantised.
"""
from __future__ import annotations

import cv2
import numpy as np

from mexflow.synthetic.faces import Scene


def head_pose_inverse_map(roi: tuple[int, int, int, int], tx: float, ty: float, theta_deg: float,
                          centre: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """For every output pixel z of the region roi = (x0, y0, x1, y1), the pre-jitter position
    y = R^-1 (z - c - t) + c. Returns (map_x, map_y), each (y1 - y0, x1 - x0) float32.
    """
    x0, y0, x1, y1 = roi
    th = np.deg2rad(theta_deg)
    cos, sin = np.cos(th), np.sin(th)
    zs_y, zs_x = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    dx, dy = zs_x - centre[0] - tx, zs_y - centre[1] - ty
    # R^-1 = R(-theta)
    y_x = cos * dx + sin * dy + centre[0]
    y_y = -sin * dx + cos * dy + centre[1]
    return y_x.astype(np.float32), y_y.astype(np.float32)


def invert_expression(map_x: np.ndarray, map_y: np.ndarray, field: np.ndarray,
                      amplitude: float, iterations: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Solve x + a*D(x) = y for x at every entry of (map_x, map_y) = y.

    field: (H, W, 2) float32 apex displacement; converges geometrically because |a*grad D| << 1
    (sub-pixel fields spread over tens of pixels). Returns (x_x, x_y) float32.
    """
    if amplitude == 0.0:
        return map_x, map_y
    xx, xy = map_x.copy(), map_y.copy()
    for _ in range(iterations):
        d = cv2.remap(field, xx, xy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        xx = map_x - np.float32(amplitude) * d[..., 0]
        xy = map_y - np.float32(amplitude) * d[..., 1]
    return xx, xy


def render_frame(scene: Scene, field: np.ndarray, amplitude: float, jitter: np.ndarray,
                 jitter_centre: tuple[float, float], gain: float, noise_sigma: float,
                 rng: np.random.Generator) -> np.ndarray:
    """One camera frame. jitter: (3,) tx px, ty px, theta degrees. Returns (H, W, 3) uint8 RGB.

    Only the head's region (scene.roi) is resampled; the rest is the static background. Head
    translations must stay below the ROI margin (16 px), far above the corpus' few pixels.
    """
    x0, y0, x1, y1 = scene.roi
    yx, yy = head_pose_inverse_map(scene.roi, float(jitter[0]), float(jitter[1]), float(jitter[2]),
                                   jitter_centre)
    xx, xy = invert_expression(yx, yy, field, amplitude)
    face = cv2.remap(scene.face, xx, xy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    alpha = cv2.remap(scene.alpha, xx, xy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                      borderValue=0)[..., None]
    img = scene.background.copy()
    bg = img[y0:y1, x0:x1]
    img[y0:y1, x0:x1] = bg * (1.0 - alpha) + face * alpha
    img *= scene.ramp[..., None] * np.float32(gain)
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(noise_sigma)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
