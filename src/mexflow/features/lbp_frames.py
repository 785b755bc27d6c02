"""Framewise LBP images (Emotion Engine, REFERENCES §1.4) and their block-histogram vector.

Every frame keeps its full size: the frame is first padded by edge replication by ceil(R) pixels
(numpy mode "edge", OpenCV BORDER_REPLICATE), then `lbp.lbp_image_stack` gives one code per
original pixel. Interior pixels (at least ceil(R) from the border) therefore have exactly the
codes of `lbp.lbp_image`; border pixels compare against replicated neighbours. A flat frame
gives the all-ones code everywhere (bit p is g_p >= g_c), i.e. label 57 under u2 at P=8 (see
`lbp.lbp_mapping`).
"""
from __future__ import annotations

import math

import numpy as np

from mexflow.features.lbp import _check_radius, lbp_image_stack, lbp_mapping
from mexflow.features.pooling import block_histograms

LBP_IMAGE_MAPPINGS = ("u2", "riu2", "ri", None)


def code_dtype(n_labels: int) -> np.dtype:
    """Smallest unsigned dtype holding labels 0..n_labels-1 (uint8, uint16 or uint32)."""
    for dt in (np.uint8, np.uint16, np.uint32):
        if n_labels - 1 <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise ValueError(f"{n_labels} labels do not fit in 32 bits")


def lbp_images(gray: np.ndarray, P: int = 8, R: float = 1.0, mapping: str | None = "u2") -> np.ndarray:
    """LBP label image of every frame.

    gray: (T, H, W) real (normally uint8). mapping: "u2" (non-rotation-invariant uniform,
    P*(P-1)+3 labels), "riu2", "ri" or None (raw P-bit codes). Returns (T, H, W) labels in
    `code_dtype(n_labels)` (uint8 for P=8 with any mapping, uint16 up to P=16 raw codes).
    """
    gray = np.asarray(gray)
    if gray.ndim != 3:
        raise ValueError(f"lbp_images needs (T, H, W) gray frames, got shape {gray.shape}")
    if mapping not in LBP_IMAGE_MAPPINGS:
        raise ValueError(f"mapping must be one of {LBP_IMAGE_MAPPINGS}, got {mapping!r}")
    n_labels = lbp_mapping(P, mapping)[1]  # 59 for P=8 u2, 10 for riu2, 2**P for None
    c = math.ceil(_check_radius(R, "R"))
    padded = np.pad(gray, ((0, 0), (c, c), (c, c)), mode="edge")
    return lbp_image_stack(padded, P, R, mapping).astype(code_dtype(n_labels))


def lbp_images_vector(codes: np.ndarray, n_labels: int, grid: tuple[int, int]) -> np.ndarray:
    """Descriptor of framewise LBP labels: per spatial block (rows x cols), the label histogram
    pooled over all frames, normalised to sum 1. codes: (T, H, W) labels in [0, n_labels).
    Returns (rows * cols * n_labels,) float32 ordered (row, col, label)."""
    if codes.size and int(codes.max()) >= n_labels:
        raise ValueError(f"label {int(codes.max())} outside [0, {n_labels})")
    return block_histograms(codes, n_labels, grid)
