"""Feature sets by `kind`: each turns a normalised clip into named arrays for the bank.

Every kind returns at least `vector`, a fixed-length float32 descriptor for vector models; kinds
with a dense representation also return `data`.
"""
from __future__ import annotations

import numpy as np

from mexflow.features.flow import FARNEBACK_PRESETS, block_means, flow_strain_sequence, to_gray


def _flow_strain(clip: np.ndarray, spec: dict) -> dict[str, np.ndarray]:
    params = {**FARNEBACK_PRESETS[spec.get("preset", "emotion_engine")], **spec.get("flow", {})}
    vol = flow_strain_sequence(to_gray(clip), params)
    # Dense bank kept in float16 (flow of < 10 px keeps ~3 significant digits); the vector is
    # computed from the float32 field.
    return {"data": vol.astype(np.float16),
            "vector": block_means(vol, tuple(spec.get("vector_grid", (6, 6))))}


def _lbptop(clip: np.ndarray, spec: dict) -> dict[str, np.ndarray]:
    from mexflow.features.lbp import lbp_top

    mapping = spec.get("mapping", "u2")
    vec = lbp_top(to_gray(clip), P=spec.get("P", 8), radii=tuple(spec.get("radii", (1, 1, 1))),
                  grid=tuple(spec.get("grid", (5, 5))), overlap=float(spec.get("overlap", 0.0)),
                  time_parts=int(spec.get("time_parts", 1)),
                  mapping=None if mapping == "none" else mapping)
    return {"vector": vec.astype(np.float32)}


KINDS = {"flow_strain": _flow_strain, "lbptop": _lbptop}


def compute_features(clip: np.ndarray, spec: dict) -> dict[str, np.ndarray]:
    """clip: (T, H, W, 3) uint8 RGB normalised clip; spec: a `features:` entry of the config."""
    kind = spec["kind"]
    if kind not in KINDS:
        raise ValueError(f"unknown feature kind {kind!r}; known: {sorted(KINDS)}")
    if clip.ndim != 4 or clip.shape[-1] != 3 or clip.dtype != np.uint8:
        raise ValueError(f"expected a (T, H, W, 3) uint8 clip, got {clip.shape} {clip.dtype}")
    out = KINDS[kind](clip, spec)
    if not np.isfinite(out["vector"]).all():
        raise FloatingPointError(f"{kind} produced non-finite values")
    return out
