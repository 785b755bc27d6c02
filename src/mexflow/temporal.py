"""Temporal normalisation: choose a window of a clip and sample it to a fixed number of frames."""
from __future__ import annotations

from typing import Sequence

import numpy as np

WINDOW_POINTS = ("first", "onset", "apex", "offset", "last")


def window_frames(frames: Sequence[int], onset: int, apex: int, offset: int,
                  window: Sequence[str] = ("onset", "offset")) -> list[int]:
    """Frame numbers of `frames` between two named points, inclusive, e.g. ('onset', 'offset')."""
    frames = sorted(int(f) for f in frames)
    points = {"first": frames[0], "onset": onset, "apex": apex, "offset": offset, "last": frames[-1]}
    start, end = window
    if start not in points or end not in points:
        raise ValueError(f"window points must be among {WINDOW_POINTS}, got {tuple(window)}")
    lo, hi = points[start], points[end]
    if lo > hi:
        raise ValueError(f"window {start}..{end} is empty ({lo} > {hi})")
    return [f for f in frames if lo <= f <= hi]


def uniform_indices(n: int, t: int) -> np.ndarray:
    """Indices of t frames spread uniformly over n: floor(linspace(0, n-1, t)) (Emotion Engine
    convention). When n < t some frames repeat. Returns (t,) int64."""
    if n < 1 or t < 1:
        raise ValueError(f"cannot sample {t} frames from {n}")
    return np.floor(np.linspace(0, n - 1, t)).astype(np.int64)


def sample_uniform(clip: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """clip: (N, ...) frames -> ((t, ...) sampled frames, (t,) source indices)."""
    idx = uniform_indices(clip.shape[0], t)
    return clip[idx], idx
