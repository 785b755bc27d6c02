"""Dense optical flow (Farnebäck) and optical strain.

Flow convention: for frames (a, b), flow[y, x] = (u, v) such that a[y, x] ~ b[y + v, x + u];
pixels, float32.
"""
from __future__ import annotations

import cv2
import numpy as np

FARNEBACK_PRESETS = {
    # Emotion Engine (REFERENCES §1.4)
    "emotion_engine": dict(pyr_scale=0.5, levels=4, winsize=15, iterations=4, poly_n=5, poly_sigma=1.2),
    # SAMM-OptFlow-28 (REFERENCES §1.5)
    "samm28": dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2),
}


def to_gray(frames: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) RGB uint8 -> (..., H, W) uint8 (ITU-R 601 luma, as OpenCV)."""
    if frames.shape[-1] != 3:
        raise ValueError(f"expected RGB frames (..., H, W, 3), got shape {frames.shape}")
    flat = frames.reshape(-1, *frames.shape[-3:])
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in flat])
    return gray.reshape(frames.shape[:-1])


def farneback(a: np.ndarray, b: np.ndarray, params: dict | None = None) -> np.ndarray:
    """Flow from gray frame a to gray frame b, both (H, W) uint8. Returns (H, W, 2) float32."""
    p = {**FARNEBACK_PRESETS["emotion_engine"], **(params or {})}
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"flow needs two (H, W) frames of equal shape, got {a.shape} and {b.shape}")
    flow = cv2.calcOpticalFlowFarneback(a, b, None, p["pyr_scale"], int(p["levels"]), int(p["winsize"]),
                                        int(p["iterations"]), int(p["poly_n"]), p["poly_sigma"], 0)
    if not np.isfinite(flow).all():
        raise FloatingPointError("optical flow produced non-finite values")
    return flow


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Magnitude of the infinitesimal strain tensor eps = 1/2 (grad u + grad u^T):

        |eps| = sqrt(u_x^2 + v_y^2 + 1/2 (u_y + v_x)^2)

    flow: (H, W, 2) float (u, v) pixels; derivatives by central differences (one-sided at the
    border), unit pixel spacing. Returns (H, W) float32 (dimensionless).
    """
    u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    u_y, u_x = np.gradient(u)
    v_y, v_x = np.gradient(v)
    return np.sqrt(u_x**2 + v_y**2 + 0.5 * (u_y + v_x) ** 2).astype(np.float32)


def flow_strain_sequence(gray: np.ndarray, params: dict | None = None) -> np.ndarray:
    """Flow and strain between consecutive frames.

    gray: (T, H, W) uint8. Returns (T-1, H, W, 3) float32 channels (u, v, strain).
    """
    if gray.ndim != 3 or gray.shape[0] < 2:
        raise ValueError(f"need at least two (H, W) frames, got shape {gray.shape}")
    out = np.empty((gray.shape[0] - 1, *gray.shape[1:], 3), np.float32)
    for t in range(gray.shape[0] - 1):
        f = farneback(gray[t], gray[t + 1], params)
        out[t, ..., :2] = f
        out[t, ..., 2] = optical_strain(f)
    return out


def block_means(volume: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Mean of each channel over a rows x cols grid of spatial blocks, per time step.

    volume: (T, H, W, C) -> (T * rows * cols * C,) float32, ordered (t, row, col, channel).
    Blocks split H and W as evenly as integers allow (np.array_split boundaries).
    """
    t, h, w, c = volume.shape
    rows, cols = grid
    if rows > h or cols > w:
        raise ValueError(f"grid {grid} finer than the {h}x{w} frame")
    ys = np.linspace(0, h, rows + 1).round().astype(int)
    xs = np.linspace(0, w, cols + 1).round().astype(int)
    out = np.empty((t, rows, cols, c), np.float32)
    for i in range(rows):
        for j in range(cols):
            out[:, i, j] = volume[:, ys[i]:ys[i + 1], xs[j]:xs[j + 1]].mean(axis=(1, 2))
    return out.reshape(-1)
