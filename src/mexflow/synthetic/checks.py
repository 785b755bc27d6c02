"""Stage outputs compared with the synthetic ground truth (used by tests and benchmarks)."""
from __future__ import annotations

import numpy as np

from mexflow.features.flow import farneback, to_gray
from mexflow.synthetic.ground_truth import ClipTruth, displacement_in_crop, track_head_point


def jitter_residuals(truth: ClipTruth, frame_numbers, shifts: np.ndarray, box,
                     reference: int) -> tuple[np.ndarray, np.ndarray]:
    """Alignment error per frame: |estimated shift - true rigid motion of the crop centre|.

    frame_numbers: (N,); shifts: (N, 2) px as stored by alignment; box: (cx, cy, size).
    Returns (residuals (N,) px, true motion magnitudes (N,) px).
    """
    centre = np.asarray(box[:2], float)
    true = np.array([track_head_point(truth, centre, reference, int(f)) - centre for f in frame_numbers])
    return np.linalg.norm(shifts - true, axis=1), np.linalg.norm(true, axis=1)


def apex_flow_error(truth: ClipTruth, frames: np.ndarray, frame_numbers, box,
                    min_px: float = 0.25) -> tuple[float, float, int]:
    """Farnebäck onset->apex flow on aligned RGB crops (N, S, S, 3) vs the true displacement,
    where the truth exceeds `min_px` crop pixels.

    Returns (mean end-point error, mean error of predicting zero motion, pixels compared);
    the errors are NaN when no pixel moves that much.
    """
    frame_numbers = np.asarray(frame_numbers)
    i0, i1 = (int(np.flatnonzero(frame_numbers == f)[0]) for f in (truth.onset, truth.apex))
    g = to_gray(frames[[i0, i1]])
    flow = farneback(g[0], g[1])
    disp = displacement_in_crop(truth, box, frames.shape[1], truth.onset, truth.apex)
    mag = np.hypot(disp[..., 0], disp[..., 1])
    moving = mag > min_px
    if not moving.any():
        return float("nan"), float("nan"), 0
    return float(np.hypot(*(flow - disp)[moving].T).mean()), float(mag[moving].mean()), int(moving.sum())
