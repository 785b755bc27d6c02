"""Optical strain of a flow field, and the published benchmark variant under its own name.

"correct" (the default, REFERENCES §4): magnitude of the infinitesimal strain tensor
eps = 1/2 (grad w + grad w^T), w = (u, v):

    |eps| = sqrt(u_x^2 + v_y^2 + 1/2 (u_y + v_x)^2)

with central differences (one-sided at the border, np.gradient with unit pixel spacing);
u_x = du/dx (along columns), u_y = du/dy (along rows), likewise for v.

"benchmark_swapped": MEB's optical strain (the Micro-Expression Benchmark toolbox that the
Emotion Engine builds on; REFERENCES §1.4, §4), reproduced exactly (to float rounding). Per
(H, W) field, with S_r / S_c scipy.ndimage.sobel along rows / columns with zero padding
(mode="constant": the [-1, 0, 1] difference times the [1, 2, 1] smoothing across it):

    s = sqrt(S_r(u)^2 + S_c(v)^2 + 1/2 (S_c(u)^2 + S_r(v)^2))
    strain = (s - min s) / (max s - min s)          (min-max over the field, to [0, 1])

MEB unpacks the Sobel along axis 0 (rows, d/dy) as "u_x" and along axis 1 (columns, d/dx) as
"u_y", so in true derivatives this is sqrt(u_y^2 + v_x^2 + 1/2 (u_x^2 + v_y^2)): the derivative
axes are swapped and the two cross terms are squared separately. It is not rotation invariant (a
pure rotation has strain 0 under "correct" but not here). Inside the frame each Sobel is 8 times
a [1, 2, 1]/4-smoothed central difference; at the border the zero padding reads the flow as
dropping to 0 outside the frame, which gives large values there, and the min-max normalisation
then scales the whole field by its (usually border) maximum. A constant field, where MEB divides
0 by 0, gives zeros here. Offered only to compare with MEB.
"""
from __future__ import annotations

import numpy as np

STRAIN_VARIANTS = ("correct", "benchmark_swapped")


def _check_flow(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) float64 of a (..., H, W, 2) flow."""
    if flow.ndim < 3 or flow.shape[-1] != 2:
        raise ValueError(f"strain needs a flow of shape (..., H, W, 2), got {flow.shape}")
    if min(flow.shape[-3:-1]) < 2:
        raise ValueError(f"strain needs at least 2x2 pixels, got a {flow.shape[-3:-1]} field")
    return flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)


def _derivatives(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(u_x, u_y, v_x, v_y) float64 of a (..., H, W, 2) flow."""
    u, v = _check_flow(flow)
    u_y, u_x = np.gradient(u, axis=(-2, -1))
    v_y, v_x = np.gradient(v, axis=(-2, -1))
    return u_x, u_y, v_x, v_y


def _sobel_zero_padded(a: np.ndarray, axis: int) -> np.ndarray:
    """scipy.ndimage.sobel(a2d, axis, mode="constant") of every trailing (H, W) field of `a`:
    [-1, 0, 1] along `axis` (-2 rows, -1 columns), [1, 2, 1] across it, zeros outside."""
    p = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(1, 1), (1, 1)])
    if axis == -2:
        d = p[..., 2:, :] - p[..., :-2, :]
        return d[..., :-2] + 2.0 * d[..., 1:-1] + d[..., 2:]
    d = p[..., 2:] - p[..., :-2]
    return d[..., :-2, :] + 2.0 * d[..., 1:-1, :] + d[..., 2:, :]


def benchmark_strain_unnormalised(flow: np.ndarray) -> np.ndarray:
    """MEB's strain before its min-max step, sqrt(S_r(u)^2 + S_c(v)^2 + 1/2 (S_c(u)^2 + S_r(v)^2))
    (see module docstring). flow: (..., H, W, 2); returns (..., H, W) float64."""
    u, v = _check_flow(flow)
    u_r, u_c = _sobel_zero_padded(u, -2), _sobel_zero_padded(u, -1)
    v_r, v_c = _sobel_zero_padded(v, -2), _sobel_zero_padded(v, -1)
    return np.sqrt(u_r**2 + v_c**2 + 0.5 * (u_c**2 + v_r**2))


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Strain magnitude sqrt(u_x^2 + v_y^2 + 1/2 (u_y + v_x)^2) (see module docstring).

    flow: (..., H, W, 2) float (u, v) pixels. Returns (..., H, W) float32 (dimensionless).
    """
    u_x, u_y, v_x, v_y = _derivatives(flow)
    return np.sqrt(u_x**2 + v_y**2 + 0.5 * (u_y + v_x) ** 2).astype(np.float32)


def optical_strain_benchmark_swapped(flow: np.ndarray) -> np.ndarray:
    """MEB's optical strain: zero-padded Sobel derivatives, swapped axes, cross terms squared
    separately, then min-max normalised to [0, 1] per (H, W) field (see module docstring).
    flow: (..., H, W, 2); returns (..., H, W) float32 (a constant field gives 0). Never the
    default."""
    s = benchmark_strain_unnormalised(flow)
    lo = s.min(axis=(-2, -1), keepdims=True)
    span = s.max(axis=(-2, -1), keepdims=True) - lo
    out = np.divide(s - lo, span, out=np.zeros_like(s), where=span > 0)
    return out.astype(np.float32)


def strain_field(flow: np.ndarray, variant: str = "correct") -> np.ndarray:
    """Strain of `flow` (..., H, W, 2) by name: "correct" or "benchmark_swapped".
    Returns (..., H, W) float32."""
    if variant == "correct":
        return optical_strain(flow)
    if variant == "benchmark_swapped":
        return optical_strain_benchmark_swapped(flow)
    raise ValueError(f"unknown strain_variant {variant!r}; known: {list(STRAIN_VARIANTS)}")
