"""Magnification conditions: how each named condition of the config turns a clip into its
magnified version.

A condition spec (config `magnify.conditions.{name}`) is one of
  {method: evm, alpha, levels, lambda_c, r1, r2, chroma_attenuation, temporal, low_hz, high_hz}
  {method: evm, preset: me, alpha, ...}: the temporal band derived from the corpus
      (`mexflow.magnify.evm_band.me_band`; r1/r2/low_hz/high_hz are then not allowed)
  {method: learned, model: <magnifier name>, alpha, tta: {steps, batch_size, lr, crop} | null,
   targeted: face_parts | null}
  {method: lagrangian, alpha, backend: farneback | dis | tvl1, flow: {preset, overrides} | null}
`original` needs no spec: it is the unmagnified clip.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from mexflow.clip_shards import ClipMagnifier, WindowMagnifier
from mexflow.magnify.evm import EVMParams, magnify_evm

METHODS = ("evm", "learned", "lagrangian")
TARGETS = ("face_parts",)
LAGRANGIAN_DEFAULT_BACKEND = "dis"  # DIS 'medium': the most accurate sub-pixel backend here (docs/performance.md)


@dataclass(frozen=True)
class ConditionSpec:
    name: str
    method: str                     # evm | learned | lagrangian
    alpha: float
    model: str | None = None        # learned: the magnifier's name (a key of magnify.models or "pretrained")
    evm: EVMParams | None = None
    tta: dict | None = None         # learned: test-time adaptation per clip (TrainSpec fields)
    targeted: str | None = None     # learned: "face_parts" = alpha inside the face-part masks, 1 outside
    band: tuple[float, float] | None = None  # evm preset me: the temporal pass band (Hz)
    backend: str | None = None      # lagrangian: flow backend
    flow: dict | None = None        # lagrangian: flow preset + overrides (`mexflow.features.flow.flow_params`)


def parse_condition(name: str, spec: dict, index=None) -> ConditionSpec:
    """Validate one condition's config; errors name the condition. `index` (the dataset's clip
    index) is needed only by an EVM spec with `preset: me`, whose band it decides."""
    spec = dict(spec)
    method = spec.get("method")
    if method not in METHODS:
        raise ValueError(f"condition {name!r}: method must be one of {METHODS}, got {method!r}")
    alpha = float(spec.get("alpha", 10.0))
    if alpha <= 0:
        raise ValueError(f"condition {name!r}: alpha must be > 0, got {alpha}")
    if spec.get("targeted") is not None and method != "learned":
        raise ValueError(f"condition {name!r}: targeted applies to learned conditions only")
    if method == "evm":
        band = None
        if spec.get("preset") is not None:
            from mexflow.magnify.evm_band import resolve_me_preset

            if index is None:
                raise ValueError(f"condition {name!r}: EVM preset {spec['preset']!r} needs the dataset's index")
            try:
                spec, band = resolve_me_preset(spec, index)
            except ValueError as exc:
                raise ValueError(f"condition {name!r}: {exc}") from None
        spec.pop("preset", None)
        params = EVMParams.from_dict({k: v for k, v in spec.items() if k != "method"})
        return ConditionSpec(name, method, alpha, evm=params, band=band)
    if method == "lagrangian":
        from mexflow.features.flow import FLOW_BACKENDS, flow_params

        unknown = sorted(set(spec) - {"method", "alpha", "backend", "flow"})
        if unknown:
            raise ValueError(f"condition {name!r}: unknown lagrangian setting(s) {unknown}")
        backend = spec.get("backend") or LAGRANGIAN_DEFAULT_BACKEND
        if backend not in FLOW_BACKENDS:
            raise ValueError(f"condition {name!r}: backend must be one of {FLOW_BACKENDS}, got {backend!r}")
        flow = dict(spec.get("flow") or {})
        try:
            flow_params(backend, flow)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"condition {name!r}: {exc}") from None
        return ConditionSpec(name, method, alpha, backend=backend, flow=flow)
    if not spec.get("model"):
        raise ValueError(f"condition {name!r}: a learned condition needs `model`")
    targeted = spec.get("targeted") or None
    if targeted is not None and targeted not in TARGETS:
        raise ValueError(f"condition {name!r}: targeted must be one of {TARGETS} or null, got {targeted!r}")
    return ConditionSpec(name, method, alpha, model=str(spec["model"]), tta=spec.get("tta") or None,
                         targeted=targeted)


def check_condition(name: str, spec: dict) -> None:
    """Validate a condition's config before any job exists (no index yet): an EVM `preset` is
    checked with a placeholder band, everything else as `parse_condition` does."""
    spec = dict(spec)
    if spec.get("method") == "evm" and spec.get("preset") is not None:
        from mexflow.magnify.evm_band import PRESETS

        if spec["preset"] not in PRESETS:
            raise ValueError(f"condition {name!r}: unknown EVM preset {spec['preset']!r}; known: {list(PRESETS)}")
        fixed = sorted(k for k in ("r1", "r2", "low_hz", "high_hz") if k in spec)
        if fixed:
            raise ValueError(f"condition {name!r}: EVM preset {spec['preset']!r} sets the temporal band; "
                             f"remove {fixed}")
        spec.pop("preset")
        if spec.get("temporal") == "ideal":
            spec.update(low_hz=1.0, high_hz=2.0)
    parse_condition(name, spec)


def evm_magnifier(spec: ConditionSpec) -> WindowMagnifier:
    """EVM on an aligned window at the corpus frame rate. With a derived band (preset me), the
    filter is set from the band at each clip's own frame rate."""
    from mexflow.magnify.evm_band import me_params

    cache: dict[float, EVMParams] = {}

    def run(frames: np.ndarray, fps: float) -> np.ndarray:
        params = spec.evm
        if spec.band is not None:
            params = cache.setdefault(float(fps), me_params(spec.evm, spec.band, float(fps)))
        return magnify_evm(frames, params, fps=fps)
    return run


def lagrangian_magnify(frames: np.ndarray, alpha: float, backend: str = LAGRANGIAN_DEFAULT_BACKEND,
                       flow: dict | None = None) -> np.ndarray:
    """Lagrangian magnification (the non-learned reference): frame i is frame 0 moved by alpha
    times the estimated flow from frame 0 to frame i, y_i = warp_forward(x_0, alpha F_{0->i});
    frame 0 is returned unchanged. frames: (T, H, W, 3) RGB or (T, H, W) gray uint8; flow on the
    luma with `mexflow.features.flow.compute_flow(backend, flow)`; same shape and dtype out."""
    from mexflow.features.flow import compute_flow, to_gray
    from mexflow.magnify.pairs import warp_forward

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[-1] != 3):
        raise ValueError(f"frames must be (T, H, W[, 3]) uint8, got {frames.shape} {frames.dtype}")
    gray = frames if frames.ndim == 3 else to_gray(frames)
    out = frames.copy()
    for i in range(1, len(frames)):
        f = compute_flow(gray[0], gray[i], backend, flow)
        out[i] = warp_forward(frames[0], np.float32(alpha) * f)
    return out


def lagrangian_magnifier(spec: ConditionSpec) -> ClipMagnifier:
    """Per clip: every frame as frame 0 moved by alpha x the flow 0 -> i, and the apex key frame
    as the onset key frame moved by alpha x the flow onset -> apex (as the learned conditions)."""
    def run(clip_id: str, frames: np.ndarray, key_frames: np.ndarray):
        out = lagrangian_magnify(frames, spec.alpha, spec.backend, spec.flow)
        keys = lagrangian_magnify(key_frames, spec.alpha, spec.backend, spec.flow)
        return out, keys
    return run


def learned_magnifier(spec: ConditionSpec, generator, batch_size: int, device, supervisor=None,
                      log: logging.Logger | None = None, masks: dict[str, np.ndarray] | None = None) -> ClipMagnifier:
    """FlowMag inference per clip: each frame i as the pair (frame 0, frame i), and the apex key
    frame as the pair (onset, apex). With `spec.tta`, a copy of the generator is first adapted to
    the clip (`adapt_to_clip`; the flowmag objective needs the flow supervisor). With `spec.targeted`, `masks`
    maps clip_id -> (H, W) bool alpha mask (alpha inside, 1 outside); a clip absent from it is
    magnified uniformly (the caller records that)."""
    from mexflow.magnify.generator import as_rgb, magnify_clip
    from mexflow.magnify.train import TrainSpec, adapt_to_clip

    log = log or logging.getLogger(__name__)
    tta = TrainSpec.from_dict(spec.tta, log_every=10 ** 9) if spec.tta else None
    if tta is not None and supervisor is None and not tta.generated:
        raise ValueError(f"condition {spec.name!r}: test-time adaptation with the flowmag objective "
                         "needs a flow supervisor")
    if spec.targeted is not None and masks is None:
        raise ValueError(f"condition {spec.name!r}: targeted magnification needs the clips' masks")

    def run(clip_id: str, frames: np.ndarray, key_frames: np.ndarray):
        g = generator
        if tta is not None:
            g = adapt_to_clip(generator, as_rgb(frames), tta, supervisor, device)
        mask = masks.get(clip_id) if masks is not None else None
        extra = {"alpha_mask": mask} if mask is not None else {}
        out = magnify_clip(g, frames, spec.alpha, batch_size=batch_size, device=device, **extra)
        keys = magnify_clip(g, key_frames, spec.alpha, batch_size=batch_size, device=device, **extra)
        return out, keys
    return run


def targeted_masks(geometry_shards) -> dict[str, np.ndarray]:
    """clip_id -> (S, S) bool: the union of the face-part masks (brows, eyes, nose, mouth; the
    union `part_mask_weights` uses) of every clip of the geometry shards [(folder, manifest)]."""
    from mexflow.magnify.data import part_mask_weights
    from mexflow.shards import iter_clips

    out = {}
    for folder, manifest in geometry_shards:
        for row, a in iter_clips(folder, manifest, ["masks"]):
            out[row["clip_id"]] = part_mask_weights(a["masks"], row["regions"].split(",")) > 0
    return out
