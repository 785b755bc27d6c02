"""Alpha calibration of a trained generator: which input factor makes it magnify by alpha.

A generator trained to minimise an L1 (or L2) error to the truly magnified frame learns, from a
noisy, sub-pixel view of the motion, an estimate shrunk towards zero (the optimum of such a loss
under uncertainty), so asked for alpha it magnifies by less: measured here, by 0.7-0.8 alpha at
alpha 2-5 and about 0.5 alpha at alpha 10 after 5,000 CPU steps (docs/results.md, "Magnification against
the truth"). Longer training narrowed the gap only slowly.

The calibration measures the generator's real gain on generated pairs of its own training
distribution (frames moved by known smooth motion: never a test clip, never a label): for a grid
of input factors a, the gain e(a) = its magnified motion projected on a x the known motion, over
the same for the truly magnified frame, times a. The table (requested alpha e(a) -> input a) is
stored in the checkpoint's metadata; `magnify_clip` then feeds a = e^-1(alpha) to the network
(`mexflow.magnify.generator.plan_passes`). Official FlowMag checkpoints carry no table and run
unchanged.

Arrays: views (n, S, S, 3) uint8, flows (S, S, 2) float32 px, tensors (B, 3, H, W) in [0, 1].
"""
from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import torch

from mexflow.magnify.pairs import MotionSpec, generated_batch

#: Input factors tried, log-spaced over the trained range (and a little beyond).
GRID_POINTS = 10
#: Fewest distinct points of a usable table.
MIN_POINTS = 4
#: Largest magnified displacement of the calibration pairs, px.
CALIBRATION_MAX_PX = 12.0


def _gray(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(np.rint(img), 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Farnebäck (emotion_engine settings) from a to b, (S, S, 2) float64."""
    from mexflow.features.flow import farneback

    return farneback(_gray(a), _gray(b)).astype(np.float64)


@torch.no_grad()
def measure_gain(generator, views: np.ndarray, weights: np.ndarray | None, alpha_in: float,
                 motion: MotionSpec, seed: int, min_px: float = 0.05) -> float:
    """The generator's effective gain at input factor alpha_in (one pass, no calibration) on
    `views` moved by generated motion: pooled least-squares gain of F(x0, y) along the known
    motion, over that of F(x0, truly magnified x0), times alpha_in. weights: (n, S, S) in [0, 1]
    or None; with weights the gain is taken over pixels with weight >= 0.5 (the face-aware
    models' masks), and the truth is magnified there only."""
    n = len(views)
    alpha = np.full(n, alpha_in, np.float32)
    x0, x1, target, fields = generated_batch(np.random.default_rng(seed), views, alpha, motion,
                                             weights, return_flows=True)
    device = next(generator.parameters()).device
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    generator.eval()
    y = generator(to_t(x0), to_t(x1), float(alpha_in)).clamp(0, 1).mul(255).permute(0, 2, 3, 1).cpu().numpy()
    num = den = 0.0
    for k in range(n):
        truth = fields[k].astype(np.float64) * alpha_in
        where = np.hypot(fields[k][..., 0], fields[k][..., 1]) >= min_px
        if weights is not None:
            where &= weights[k] >= 0.5
        if not where.any():
            continue
        f_y = _flow(x0[k], y[k])[where]
        f_t = _flow(x0[k], target[k])[where]
        t = truth[where]
        num += float((f_y * t).sum())
        den += float((f_t * t).sum())
    return alpha_in * num / den if den > 0 else math.nan


def fit_alpha_calibration(generator, views: np.ndarray, weights: np.ndarray | None,
                          alpha_range: tuple[float, float], motion: MotionSpec, seed: int = 7,
                          points: int = GRID_POINTS) -> dict:
    """{"requested": [...], "input": [...]} (increasing, floats): the measured gain e(a) of input
    factors a log-spaced over [lo, 1.6 hi] (alpha_range (lo, hi); for attenuation ranges (hi <= 1)
    over [lo / 1.6, 1]), made monotone, and 1 -> 1 pinned for magnifying ranges."""
    lo, hi = (float(v) for v in alpha_range)
    if hi <= 1.0:
        grid = np.geomspace(lo / 1.6, 1.0, points)
    else:
        grid = np.geomspace(max(lo, 1.0) * 1.25, 1.6 * hi, points)
    # The same pairs (seed) at every factor: common random numbers keep the curve smooth. The
    # magnified motion is capped at CALIBRATION_MAX_PX, where Farnebäck still reads it well.
    motion = dataclasses.replace(motion, max_magnified_px=min(motion.max_magnified_px, CALIBRATION_MAX_PX))
    gains = np.array([measure_gain(generator, views, weights, float(a), motion, seed) for a in grid])
    keep = np.isfinite(gains) & (gains > 0)
    grid, gains = grid[keep], gains[keep]
    if len(grid) < 2:
        raise ValueError("alpha calibration failed: no measurable gain on the calibration pairs")
    gains = np.maximum.accumulate(gains)                  # monotone requested(input)
    if hi > 1.0:
        grid, gains = np.concatenate([[1.0], grid]), np.concatenate([[1.0], gains])
    # strictly increasing requested values (ties would make the inverse ambiguous)
    ok = np.concatenate([[True], np.diff(gains) > 1e-6])
    if ok.sum() < MIN_POINTS:
        raise ValueError(f"the measured gain does not grow with the input factor (gains "
                         f"{np.round(gains, 3).tolist()} at inputs {np.round(grid, 3).tolist()}); "
                         "the model does not respond to alpha here")
    return {"requested": [float(v) for v in gains[ok]], "input": [float(v) for v in grid[ok]]}


def calibrated_input(calibration: dict | None, alpha: float) -> float:
    """The input factor for a requested alpha: log-linear interpolation in the table; below its
    first entry, proportional to that entry's input/requested ratio; above its last, that
    entry's input (the most the model was measured to deliver: extrapolating would feed it
    factors it never saw). No table: alpha itself."""
    if not calibration:
        return float(alpha)
    req = np.log(np.asarray(calibration["requested"], np.float64))
    inp = np.log(np.asarray(calibration["input"], np.float64))
    la = math.log(float(alpha))
    if la <= req[0]:
        return float(math.exp(la + inp[0] - req[0]))
    if la >= req[-1]:
        return float(math.exp(inp[-1]))
    return float(math.exp(np.interp(la, req, inp)))
