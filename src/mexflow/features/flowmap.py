"""Onset->apex flow maps as small RGB images (SAMM-OptFlow-28, REFERENCES §1.5).

Encoding of a flow (u, v) pixels into HSV, OpenCV's 8-bit convention (hue 0..179 = 0..358°):
- angle = atan2(v, u) in degrees, in [0, 360) (image axes: x right, y down, so 90° points down);
  a zero vector has angle 0;
- hue = round(angle / 2) mod 180 (np.round, half to even), uint8;
- saturation = 255;
- value = round(255 * (m - min m) / (max m - min m)) with m = sqrt(u^2 + v^2) over the frame;
  when max m == min m (zero flow, or any uniform magnitude) the value is 0 everywhere.
The HSV image is converted to RGB (cv2.COLOR_HSV2RGB) and resized to size x size with
cv2.INTER_AREA.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mexflow.features.flow import compute_flow
from mexflow.io import atomic_path

SAMM28_PRESET = "samm28"


def flow_to_hsv(flow: np.ndarray) -> np.ndarray:
    """(H, W, 2) float flow -> (H, W, 3) uint8 HSV (hue, saturation, value) as documented above."""
    if flow.ndim != 3 or flow.shape[-1] != 2:
        raise ValueError(f"flow must be (H, W, 2), got shape {flow.shape}")
    if not np.isfinite(flow).all():
        raise FloatingPointError("flow contains non-finite values")
    u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    angle = np.degrees(np.arctan2(v, u)) % 360.0
    magnitude = np.hypot(u, v)
    lo, span = magnitude.min(), magnitude.max() - magnitude.min()
    value = np.zeros_like(magnitude) if span == 0 else 255.0 * (magnitude - lo) / span
    hsv = np.empty((*flow.shape[:2], 3), np.uint8)
    hsv[..., 0] = np.round(angle / 2.0).astype(np.int64) % 180
    hsv[..., 1] = 255
    hsv[..., 2] = np.round(value).astype(np.uint8)
    return hsv


def flow_map(flow: np.ndarray, size: int = 28) -> np.ndarray:
    """RGB flow map of an (H, W, 2) flow, resized with INTER_AREA: (size, size, 3) uint8."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"flow map size must be an int >= 1, got {size!r}")
    rgb = cv2.cvtColor(flow_to_hsv(flow), cv2.COLOR_HSV2RGB)
    return cv2.resize(rgb, (int(size), int(size)), interpolation=cv2.INTER_AREA)


def onset_apex_flow_map(onset: np.ndarray, apex: np.ndarray, size: int = 28,
                        params: dict | None = None) -> np.ndarray:
    """Farnebäck flow from the onset to the apex gray frame ((H, W) uint8; params default to the
    samm28 preset (0.5, 3, 15, 3, 5, 1.2)) encoded by `flow_map`: (size, size, 3) uint8 RGB."""
    params = {"preset": SAMM28_PRESET, **(params or {})}
    return flow_map(compute_flow(onset, apex, "farneback", params), size)


def write_flow_map_png(path, image: np.ndarray) -> None:
    """Write an (h, w, 3) uint8 RGB image as PNG atomically (temporary file + rename)."""
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"PNG image must be (h, w, 3) uint8 RGB, got {image.shape} {image.dtype}")
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise IOError(f"PNG encoding failed for {path}")
    with atomic_path(Path(path), suffix=".png") as tmp:
        Path(tmp).write_bytes(buf.tobytes())
