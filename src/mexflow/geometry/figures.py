"""Figures of face-region masks: a colour overlay and a PNG with a legend."""
from __future__ import annotations

import zlib
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from mexflow.io import atomic_path
from mexflow.landmarks import N_LANDMARKS

# Fixed RGB colour per region of resources/face_regions.yaml; the two sides get related hues.
REGION_COLOURS: dict[str, tuple[int, int, int]] = {
    "right_brow": (230, 25, 75),
    "left_brow": (245, 130, 48),
    "right_eye": (0, 130, 200),
    "left_eye": (70, 240, 240),
    "nose": (255, 225, 25),
    "mouth": (240, 50, 230),
    "face": (60, 180, 75),
}
# Regions not listed above take a colour from this palette chosen by their name's CRC-32.
_FALLBACK_COLOURS = ((145, 30, 180), (128, 128, 0), (0, 128, 128), (170, 110, 40), (128, 0, 0),
                     (0, 0, 128), (250, 190, 212), (170, 255, 195))
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def region_colour(name: str) -> tuple[int, int, int]:
    """RGB uint8 colour used for region `name` (the same in every figure)."""
    if name in REGION_COLOURS:
        return REGION_COLOURS[name]
    return _FALLBACK_COLOURS[zlib.crc32(name.encode("utf-8")) % len(_FALLBACK_COLOURS)]


def _check_inputs(image_rgb, names, masks) -> list[str]:
    if not isinstance(image_rgb, np.ndarray) or image_rgb.ndim != 3 or image_rgb.shape[2] != 3 \
            or image_rgb.dtype != np.uint8:
        raise ValueError(f"image_rgb: expected (H, W, 3) uint8 RGB, got "
                         f"{getattr(image_rgb, 'shape', None)} {getattr(image_rgb, 'dtype', type(image_rgb))}")
    h, w = image_rgb.shape[:2]
    if not isinstance(masks, np.ndarray) or masks.dtype != bool or masks.ndim != 3 \
            or masks.shape[1:] != (h, w):
        raise ValueError(f"masks: expected (R, {h}, {w}) bool, got "
                         f"{getattr(masks, 'shape', None)} {getattr(masks, 'dtype', type(masks))}")
    names = [str(n) for n in names]
    if len(names) != masks.shape[0]:
        raise ValueError(f"{len(names)} region names for {masks.shape[0]} masks")
    return names


def mask_overlay(image_rgb: np.ndarray, names: Sequence[str], masks: np.ndarray,
                 alpha: float = 0.45) -> np.ndarray:
    """The image with every region tinted by its colour and outlined.

    image_rgb: (H, W, 3) uint8; names: R region names; masks: (R, H, W) bool; alpha in (0, 1]:
    weight of the colour in the tint. The outline is the region's inner boundary (mask pixels
    with a 4-neighbour outside the mask) painted in the solid colour, so pixels outside every
    mask are left untouched. Larger regions are tinted first, outlines are drawn last.
    Returns (H, W, 3) uint8 RGB.
    """
    names = _check_inputs(image_rgb, names, masks)
    if not 0.0 < float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    out = image_rgb.astype(np.float32)
    # Largest regions are tinted first so that the small ones inside them keep their own hue.
    for k in np.argsort(-masks.sum(axis=(1, 2)), kind="stable"):
        colour = np.array(region_colour(names[k]), np.float32)
        out[masks[k]] = (1.0 - alpha) * out[masks[k]] + alpha * colour
    for name, mask in zip(names, masks):
        # Pixels outside the image count as outside the mask, so regions cut by the border are closed.
        inner = cv2.erode(mask.astype(np.uint8), _CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        out[mask & ~inner.astype(bool)] = region_colour(name)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def save_mask_figure(path, image_rgb: np.ndarray, names: Sequence[str], masks: np.ndarray,
                     landmarks: np.ndarray | None = None, scale: int = 3) -> None:
    """Write the mask overlay as a PNG of scale * H rows and scale * W (+ 110 for the legend of
    region colours, right of the face) columns, with the (478, 2) landmarks as dots if given.
    The file is written atomically (temporary file in the same folder, then renamed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"mask figure path must end with .png, got {path}")
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or not 1 <= scale <= 16:
        raise ValueError(f"scale must be an integer in [1, 16], got {scale!r}")
    overlay = mask_overlay(image_rgb, names, masks)
    h, w = overlay.shape[:2]
    if landmarks is not None and (not isinstance(landmarks, np.ndarray)
                                  or landmarks.shape != (N_LANDMARKS, 2)):
        raise ValueError(f"landmarks: expected ({N_LANDMARKS}, 2) (x, y) pixels, got "
                         f"{getattr(landmarks, 'shape', None)}")

    dpi = 100
    legend_px = 110 if names else 0  # a strip right of the face keeps the legend off the regions
    fig = Figure(figsize=((w * scale + legend_px) / dpi, h * scale / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, w * scale / (w * scale + legend_px), 1.0))
    ax.imshow(overlay, interpolation="nearest")
    if landmarks is not None:
        ax.scatter(landmarks[:, 0], landmarks[:, 1], s=max(1.0, scale / 2), c="white", linewidths=0)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_axis_off()
    handles = [Patch(facecolor=np.array(region_colour(str(n))) / 255.0, edgecolor="black", label=str(n))
               for n in names]
    if handles:
        fig.legend(handles=handles, loc="upper right", fontsize=8, frameon=False)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
