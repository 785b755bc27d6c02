"""Feature sets by `kind`: each turns a clip's arrays into named arrays for the bank.

Every kind returns "vector", a fixed-length 1-D float32 descriptor for vector models; kinds with
a dense representation also return "data" (see `output_shapes`; kinds are in `kinds.py`).

Behaviour on constant (flat) frames, by design and tested: every flow backend gives zero flow,
hence zero strain; LBP gives the all-ones code (label 57 of u2 at P=8) everywhere; the block 3D
FFT gives zeros; the flow map is black (value 0).
"""
from __future__ import annotations

import numpy as np

from mexflow.features.kinds import KINDS, Kind

__all__ = ["compute_features", "data_layout", "feature_kinds", "output_shapes", "parse_spec"]


def feature_kinds() -> tuple[str, ...]:
    """Names of the feature kinds (`kind:` values of a `features:` entry)."""
    return tuple(KINDS)


def parse_spec(spec: dict) -> tuple[Kind, dict]:
    """(kind, complete validated settings) of a `features:` entry; ValueError naming the problem."""
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ValueError(f"a feature spec must be a mapping with a 'kind', got {spec!r}")
    kind = KINDS.get(spec["kind"])
    if kind is None:
        raise ValueError(f"unknown feature kind {spec['kind']!r}; known: {sorted(KINDS)}")
    return kind, kind.settings(spec)


def output_shapes(spec: dict, T: int, S: int) -> dict[str, tuple[tuple[int, ...], str]]:
    """Output name -> (shape, dtype name) of a feature set on T frames of S x S pixels (for the
    README and for checking banks). E.g. flow_strain (consecutive, 6x6 grid), T=8, S=224:
    {"data": ((7, 224, 224, 3), "float16"), "vector": ((756,), "float32")}."""
    kind, settings = parse_spec(spec)
    return kind.shapes(settings, int(T), int(S))


def data_layout(spec: dict) -> str | None:
    """Layout of a feature set's dense "data" array ("TSSC", "TSS", "SSC"; see kinds.py), or None
    when it has only a vector (LBP-TOP): what deep models can consume."""
    return parse_spec(spec)[0].layout


def _check_input(arrays: dict, name: str, n_frames: int | None, min_frames: int) -> np.ndarray:
    """Validate arrays[name] as (N, H, W, 3) uint8 RGB (N == n_frames when given, else >=
    min_frames); returns it."""
    if name not in arrays:
        raise ValueError(f"missing input array {name!r} (have {sorted(arrays)})")
    arr = arrays[name]
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(arr).__name__}")
    if arr.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 RGB, got dtype {arr.dtype}")
    if arr.ndim != 4 or arr.shape[-1] != 3 or min(arr.shape[1:3]) < 1:
        raise ValueError(f"{name} must have shape (N, H, W, 3), got {arr.shape}")
    if n_frames is not None and arr.shape[0] != n_frames:
        raise ValueError(f"{name} must hold exactly {n_frames} frames (onset, apex), got {arr.shape[0]}")
    if arr.shape[0] < min_frames:
        raise ValueError(f"{name} has {arr.shape[0]} frames, fewer than the {min_frames} this feature "
                         f"set needs")
    return arr


def compute_features(arrays: dict, spec: dict, clip_id: str = "?") -> dict[str, np.ndarray]:
    """Features of one clip.

    arrays: "frames" (T, H, W, 3) uint8 RGB normalised clip and/or "key_frames" (2, H, W, 3)
    uint8 RGB aligned onset and apex frames (only the arrays the kind reads are needed and
    validated: key_frames for flowmap28 and flow_strain mode onset_apex, frames otherwise).
    spec: one `features:` entry of the config. Returns the outputs listed by `output_shapes`.

    Errors name the clip and the kind: ValueError for a bad spec, missing or malformed input, or
    a clip too short for the kind (fewer than 2 frames for flow, 2*ceil(Rt)+1 for LBP-TOP);
    FloatingPointError for non-finite values in any output.
    """
    kind_name = spec.get("kind", "?") if isinstance(spec, dict) else "?"
    where = f"clip {clip_id}: feature kind {kind_name}"
    if not isinstance(arrays, dict):
        raise ValueError(f"{where}: arrays must be a dict of input arrays, got {type(arrays).__name__}")
    try:
        kind, settings = parse_spec(spec)
        inputs = {}
        for name in kind.inputs(settings):
            is_key = name == "key_frames"
            inputs[name] = _check_input(arrays, name, 2 if is_key else None,
                                        2 if is_key else kind.min_frames(settings))
        out = kind.compute(inputs, settings)
    except FloatingPointError as exc:
        raise FloatingPointError(f"{where}: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    for name, arr in out.items():
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            raise FloatingPointError(f"{where}: output {name!r} has {int((~np.isfinite(arr)).sum())} "
                                     f"non-finite values")
    vector = out["vector"]
    if vector.dtype != np.float32 or vector.ndim != 1:
        raise AssertionError(f"{where}: vector must be 1-D float32, got {vector.shape} {vector.dtype}")
    return out
