"""Spatial block pooling shared by the feature kinds (fixed-length vectors from dense maps)."""
from __future__ import annotations

import numpy as np


def grid_edges(n: int, parts: int) -> np.ndarray:
    """Block edges along an axis of n pixels split into `parts` blocks: round(linspace(0, n,
    parts + 1)) as int (np.round, half to even). (parts + 1,) int; ValueError unless
    1 <= parts <= n (then every block holds at least one pixel)."""
    if isinstance(parts, bool) or not isinstance(parts, (int, np.integer)) or not 1 <= parts <= n:
        raise ValueError(f"cannot split {n} pixels into {parts!r} blocks (need an int in [1, {n}])")
    return np.linspace(0, n, parts + 1).round().astype(int)


def block_means(volume: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Mean of each channel over a rows x cols grid of spatial blocks, per time step.

    volume: (T, H, W, C) real -> (T * rows * cols * C,) float32, ordered (t, row, col, channel);
    block edges from `grid_edges`. Sums are taken in float64.
    """
    if volume.ndim != 4:
        raise ValueError(f"block_means needs a (T, H, W, C) volume, got shape {volume.shape}")
    _, h, w, _ = volume.shape
    rows, cols = grid
    ys, xs = grid_edges(h, rows), grid_edges(w, cols)
    sums = np.add.reduceat(np.add.reduceat(volume.astype(np.float64, copy=False), ys[:-1], axis=1),
                           xs[:-1], axis=2)
    counts = np.diff(ys)[:, None] * np.diff(xs)[None, :]
    return (sums / counts[None, :, :, None]).astype(np.float32).reshape(-1)


def block_histograms(codes: np.ndarray, n_bins: int, grid: tuple[int, int]) -> np.ndarray:
    """Histograms of integer codes per spatial block, pooled over all frames, each normalised
    to sum 1.

    codes: (T, H, W) ints in [0, n_bins). Returns (rows * cols * n_bins,) float32 ordered
    (row, col, bin); block edges from `grid_edges`.
    """
    if codes.ndim != 3:
        raise ValueError(f"block_histograms needs (T, H, W) codes, got shape {codes.shape}")
    _, h, w = codes.shape
    rows, cols = grid
    ys, xs = grid_edges(h, rows), grid_edges(w, cols)
    block_row = np.repeat(np.arange(rows), np.diff(ys))
    block_col = np.repeat(np.arange(cols), np.diff(xs))
    block_id = block_row[:, None] * cols + block_col[None, :]  # (H, W)
    index = block_id[None] * n_bins + codes.astype(np.intp)
    counts = np.bincount(index.ravel(), minlength=rows * cols * n_bins).reshape(rows * cols, n_bins)
    return (counts / counts.sum(axis=1, keepdims=True)).astype(np.float32).reshape(-1)
