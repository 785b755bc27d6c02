"""Optical strain of a flow field, and the published benchmark variant under its own name.

Derivatives are central differences (one-sided at the border, np.gradient with unit pixel
spacing); u_x = du/dx (along columns), u_y = du/dy (along rows), likewise for v.

"correct" (the default, REFERENCES §4): magnitude of the infinitesimal strain tensor
eps = 1/2 (grad w + grad w^T), w = (u, v):

    |eps| = sqrt(u_x^2 + v_y^2 + 1/2 (u_y + v_x)^2)

"benchmark_swapped": what one published benchmark library computes. It unpacks np.gradient's
(d/dy, d/dx) as if it were (d/dx, d/dy), so its "u_x" is u_y, its "v_y" is v_x, and so on, and it
squares the two cross terms separately. In true derivatives:

    sqrt(u_y^2 + v_x^2 + 1/2 (u_x^2 + v_y^2))

It is not rotation invariant (a pure rotation has strain 0 under "correct" but not here) and is
offered only to compare with that library.
"""
from __future__ import annotations

import numpy as np

STRAIN_VARIANTS = ("correct", "benchmark_swapped")


def _derivatives(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(u_x, u_y, v_x, v_y) float64 of a (..., H, W, 2) flow."""
    if flow.ndim < 3 or flow.shape[-1] != 2:
        raise ValueError(f"strain needs a flow of shape (..., H, W, 2), got {flow.shape}")
    if min(flow.shape[-3:-1]) < 2:
        raise ValueError(f"strain needs at least 2x2 pixels, got a {flow.shape[-3:-1]} field")
    u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    u_y, u_x = np.gradient(u, axis=(-2, -1))
    v_y, v_x = np.gradient(v, axis=(-2, -1))
    return u_x, u_y, v_x, v_y


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Strain magnitude sqrt(u_x^2 + v_y^2 + 1/2 (u_y + v_x)^2) (see module docstring).

    flow: (..., H, W, 2) float (u, v) pixels. Returns (..., H, W) float32 (dimensionless).
    """
    u_x, u_y, v_x, v_y = _derivatives(flow)
    return np.sqrt(u_x**2 + v_y**2 + 0.5 * (u_y + v_x) ** 2).astype(np.float32)


def optical_strain_benchmark_swapped(flow: np.ndarray) -> np.ndarray:
    """The benchmark library's variant sqrt(u_y^2 + v_x^2 + 1/2 (u_x^2 + v_y^2)) (see module
    docstring). flow: (..., H, W, 2); returns (..., H, W) float32. Never the default."""
    u_x, u_y, v_x, v_y = _derivatives(flow)
    return np.sqrt(u_y**2 + v_x**2 + 0.5 * (u_x**2 + v_y**2)).astype(np.float32)


def strain_field(flow: np.ndarray, variant: str = "correct") -> np.ndarray:
    """Strain of `flow` (..., H, W, 2) by name: "correct" or "benchmark_swapped".
    Returns (..., H, W) float32."""
    if variant == "correct":
        return optical_strain(flow)
    if variant == "benchmark_swapped":
        return optical_strain_benchmark_swapped(flow)
    raise ValueError(f"unknown strain_variant {variant!r}; known: {list(STRAIN_VARIANTS)}")
