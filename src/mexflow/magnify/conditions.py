"""Magnification conditions: how each named condition of the config turns a clip into its
magnified version.

A condition spec (config `magnify.conditions.{name}`) is one of
  {method: evm, alpha, levels, lambda_c, r1, r2, chroma_attenuation, temporal, low_hz, high_hz}
  {method: learned, model: <magnifier name>, alpha, tta: {steps, batch_size, lr, crop} | null}
`original` needs no spec: it is the unmagnified clip.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from mexflow.clip_shards import ClipMagnifier, WindowMagnifier
from mexflow.magnify.evm import EVMParams, magnify_evm

METHODS = ("evm", "learned")


@dataclass(frozen=True)
class ConditionSpec:
    name: str
    method: str                     # evm | learned
    alpha: float
    model: str | None = None        # learned: the magnifier's name (a key of magnify.models or "pretrained")
    evm: EVMParams | None = None
    tta: dict | None = None         # learned: test-time adaptation per clip (TrainSpec fields)


def parse_condition(name: str, spec: dict) -> ConditionSpec:
    """Validate one condition's config; errors name the condition."""
    method = spec.get("method")
    if method not in METHODS:
        raise ValueError(f"condition {name!r}: method must be one of {METHODS}, got {method!r}")
    alpha = float(spec.get("alpha", 10.0))
    if alpha <= 0:
        raise ValueError(f"condition {name!r}: alpha must be > 0, got {alpha}")
    if method == "evm":
        params = EVMParams.from_dict({k: v for k, v in spec.items() if k != "method"})
        return ConditionSpec(name, method, alpha, evm=params)
    if not spec.get("model"):
        raise ValueError(f"condition {name!r}: a learned condition needs `model`")
    return ConditionSpec(name, method, alpha, model=str(spec["model"]), tta=spec.get("tta") or None)


def evm_magnifier(spec: ConditionSpec) -> WindowMagnifier:
    """EVM on an aligned window at the corpus frame rate."""
    def run(frames: np.ndarray, fps: float) -> np.ndarray:
        return magnify_evm(frames, spec.evm, fps=fps)
    return run


def learned_magnifier(spec: ConditionSpec, generator, batch_size: int, device, supervisor=None,
                      log: logging.Logger | None = None) -> ClipMagnifier:
    """FlowMag inference per clip: each frame i as the pair (frame 0, frame i), and the apex key
    frame as the pair (onset, apex). With `spec.tta`, a copy of the generator is first adapted to
    the clip (`adapt_to_clip`), which needs the flow supervisor."""
    from mexflow.magnify.generator import as_rgb, magnify_clip
    from mexflow.magnify.train import TrainSpec, adapt_to_clip

    log = log or logging.getLogger(__name__)
    tta = TrainSpec.from_dict(spec.tta, log_every=10 ** 9) if spec.tta else None
    if tta is not None and supervisor is None:
        raise ValueError(f"condition {spec.name!r}: test-time adaptation needs a flow supervisor")

    def run(clip_id: str, frames: np.ndarray, key_frames: np.ndarray):
        g = generator
        if tta is not None:
            g = adapt_to_clip(generator, as_rgb(frames), tta, supervisor, device)
        out = magnify_clip(g, frames, spec.alpha, batch_size=batch_size, device=device)
        keys = magnify_clip(g, key_frames, spec.alpha, batch_size=batch_size, device=device)
        return out, keys
    return run
