"""Dense optical flow behind one function (Farnebäck, DIS, TV-L1) and flow over a clip.

Flow convention (all backends): for gray frames (a, b), flow[y, x] = (u, v) such that
a[y, x] ~ b[y + v, x + u]; pixels, float32, shape (H, W, 2).

Parameters are a preset of the backend plus overrides, all in one dict, e.g.
`{"preset": "samm28", "winsize": 21}`; `FLOW_PRESETS[backend]` lists every preset with every
parameter spelled out, so a preset never hides an OpenCV default.
"""
from __future__ import annotations


import cv2
import numpy as np

from mexflow.features.pooling import block_means
from mexflow.features.strain import optical_strain, strain_field

__all__ = ["FARNEBACK_PRESETS", "FLOW_BACKENDS", "FLOW_MODES", "FLOW_PRESETS", "DEFAULT_PRESETS",
           "to_gray", "farneback", "flow_params", "compute_flow", "flow_sequence", "flow_strain_sequence",
           "optical_strain", "block_means"]

FARNEBACK_PRESETS = {
    # Emotion Engine (REFERENCES §1.4)
    "emotion_engine": dict(pyr_scale=0.5, levels=4, winsize=15, iterations=4, poly_n=5, poly_sigma=1.2),
    # SAMM-OptFlow-28 (REFERENCES §1.5)
    "samm28": dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2),
}
# OpenCV 4.11's DISOpticalFlow presets, written out (values read from the created objects).
_DIS_COMMON = dict(patch_size=8, use_mean_normalization=True, use_spatial_propagation=True,
                   variational_refinement_alpha=20.0, variational_refinement_delta=5.0,
                   variational_refinement_gamma=10.0, variational_refinement_epsilon=0.01)
DIS_PRESETS = {
    "ultrafast": dict(_DIS_COMMON, finest_scale=2, patch_stride=4, gradient_descent_iterations=12,
                      variational_refinement_iterations=0),
    "fast": dict(_DIS_COMMON, finest_scale=2, patch_stride=4, gradient_descent_iterations=16,
                 variational_refinement_iterations=5),
    "medium": dict(_DIS_COMMON, finest_scale=1, patch_stride=3, gradient_descent_iterations=25,
                   variational_refinement_iterations=5),
}
# OpenCV's DualTVL1OpticalFlow_create() defaults (Zach et al. 2007 / Sánchez et al. 2013 names).
TVL1_PRESETS = {
    "opencv": {"tau": 0.25, "lambda": 0.15, "theta": 0.3, "nscales": 5, "warps": 5, "epsilon": 0.01,
               "inner_iterations": 30, "outer_iterations": 10, "scale_step": 0.8, "gamma": 0.0,
               "median_filtering": 5},
}
FLOW_PRESETS = {"farneback": FARNEBACK_PRESETS, "dis": DIS_PRESETS, "tvl1": TVL1_PRESETS}
DEFAULT_PRESETS = {"farneback": "emotion_engine", "dis": "medium", "tvl1": "opencv"}
FLOW_BACKENDS = tuple(FLOW_PRESETS)
FLOW_MODES = ("consecutive", "reference", "onset_apex")

_OPTIONAL = {"farneback": {"gaussian": False}, "dis": {}, "tvl1": {}}
_BOOL_PARAMS = {"gaussian", "use_mean_normalization", "use_spatial_propagation"}
_INT_PARAMS = {"levels", "winsize", "iterations", "poly_n", "finest_scale", "patch_size", "patch_stride",
               "gradient_descent_iterations", "variational_refinement_iterations", "nscales", "warps",
               "inner_iterations", "outer_iterations", "median_filtering"}
# parameter name -> OpenCV setter
_SETTERS = {
    "dis": {"finest_scale": "setFinestScale", "patch_size": "setPatchSize", "patch_stride": "setPatchStride",
            "gradient_descent_iterations": "setGradientDescentIterations",
            "variational_refinement_iterations": "setVariationalRefinementIterations",
            "variational_refinement_alpha": "setVariationalRefinementAlpha",
            "variational_refinement_delta": "setVariationalRefinementDelta",
            "variational_refinement_gamma": "setVariationalRefinementGamma",
            "variational_refinement_epsilon": "setVariationalRefinementEpsilon",
            "use_mean_normalization": "setUseMeanNormalization",
            "use_spatial_propagation": "setUseSpatialPropagation"},
    "tvl1": {"tau": "setTau", "lambda": "setLambda", "theta": "setTheta", "nscales": "setScalesNumber",
             "warps": "setWarpingsNumber", "epsilon": "setEpsilon", "inner_iterations": "setInnerIterations",
             "outer_iterations": "setOuterIterations", "scale_step": "setScaleStep", "gamma": "setGamma",
             "median_filtering": "setMedianFiltering"},
}


def to_gray(frames: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) RGB uint8 -> (..., H, W) uint8 (ITU-R 601 luma, as OpenCV)."""
    if frames.ndim < 3 or frames.shape[-1] != 3:
        raise ValueError(f"expected RGB frames (..., H, W, 3), got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 RGB frames, got dtype {frames.dtype}")
    flat = frames.reshape(-1, *frames.shape[-3:])
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in flat])
    return gray.reshape(frames.shape[:-1])


def flow_params(backend: str, params: dict | None = None) -> dict:
    """Complete parameter dict of `backend`: preset (params["preset"] or the backend's default)
    updated with the other entries of `params`. ValueError for an unknown backend, preset or
    parameter name, or a non-numeric value."""
    if backend not in FLOW_PRESETS:
        raise ValueError(f"unknown flow backend {backend!r}; known: {list(FLOW_BACKENDS)}")
    params = dict(params or {})
    preset = params.pop("preset", None) or DEFAULT_PRESETS[backend]
    presets = FLOW_PRESETS[backend]
    if preset not in presets:
        raise ValueError(f"unknown {backend} preset {preset!r}; known: {sorted(presets)}")
    full = {**presets[preset], **_OPTIONAL[backend]}
    unknown = sorted(set(params) - set(full))
    if unknown:
        raise ValueError(f"unknown {backend} flow parameter(s) {unknown}; known: {sorted(full)}")
    full.update(params)
    for name, value in full.items():
        if name in _BOOL_PARAMS:
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{backend} parameter {name} must be true or false, got {value!r}")
            full[name] = bool(value)
        elif isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            raise ValueError(f"{backend} parameter {name} must be a number, got {value!r}")
        elif name in _INT_PARAMS:
            if float(value) != int(value):
                raise ValueError(f"{backend} parameter {name} must be an integer, got {value!r}")
            full[name] = int(value)
        else:
            full[name] = float(value)
    return full


def _new_solver(backend: str, p: dict):
    """A fresh DIS / TV-L1 object with parameters p. Not cached: a reused DIS object is stateful
    (after flows of other frames it returned a different flow for the same pair: a Lagrangian
    gain of 4.56 instead of 4.89 on the same input, measured), so a cache made every flow depend
    on what was computed before it; creating one costs about 10 us, against 8 ms for a 224 px
    DIS flow."""
    solver = (cv2.DISOpticalFlow_create() if backend == "dis"
              else cv2.optflow.DualTVL1OpticalFlow_create())
    for name, setter in _SETTERS[backend].items():
        getattr(solver, setter)(p[name])
    return solver


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    for name, f in (("a", a), ("b", b)):
        if not isinstance(f, np.ndarray) or f.ndim != 2 or f.dtype != np.uint8:
            raise ValueError(f"flow frame {name} must be a (H, W) uint8 array, got "
                             f"{getattr(f, 'shape', type(f))} {getattr(f, 'dtype', '')}")
    if a.shape != b.shape:
        raise ValueError(f"flow needs two frames of equal shape, got {a.shape} and {b.shape}")
    if min(a.shape) < 2:
        raise ValueError(f"flow frames must be at least 2x2 pixels, got {a.shape}")


def _run_backend(a: np.ndarray, b: np.ndarray, backend: str, p: dict) -> np.ndarray:
    try:
        if backend == "farneback":
            flags = cv2.OPTFLOW_FARNEBACK_GAUSSIAN if p["gaussian"] else 0
            return cv2.calcOpticalFlowFarneback(a, b, None, p["pyr_scale"], p["levels"], p["winsize"],
                                                p["iterations"], p["poly_n"], p["poly_sigma"], flags)
        return _new_solver(backend, p).calc(a, b, None)
    except cv2.error as exc:
        raise ValueError(f"{backend} flow failed with parameters {p}: {exc}") from exc


def compute_flow(a: np.ndarray, b: np.ndarray, backend: str = "farneback",
                 params: dict | None = None) -> np.ndarray:
    """Flow from gray frame a to gray frame b, both (H, W) uint8.

    backend: "farneback" | "dis" | "tvl1"; params: optional "preset" plus overrides (see
    `flow_params`). Returns (H, W, 2) float32 (u, v) pixels. FloatingPointError if the backend
    returns non-finite values.
    """
    p = flow_params(backend, params)
    _check_pair(a, b)
    flow = np.asarray(_run_backend(np.ascontiguousarray(a), np.ascontiguousarray(b), backend, p),
                      dtype=np.float32)
    if not np.isfinite(flow).all():
        raise FloatingPointError(f"{backend} optical flow produced non-finite values")
    return flow


def farneback(a: np.ndarray, b: np.ndarray, params: dict | None = None) -> np.ndarray:
    """Farnebäck flow from a to b ((H, W) uint8); params override the emotion_engine preset.
    Returns (H, W, 2) float32."""
    return compute_flow(a, b, "farneback", params)


def _frame_pairs(n: int, mode: str, onset: int | None, apex: int | None) -> list[tuple[int, int]]:
    if mode not in FLOW_MODES:
        raise ValueError(f"unknown flow mode {mode!r}; known: {list(FLOW_MODES)}")
    if mode == "onset_apex":
        if onset is None or apex is None:
            raise ValueError("flow mode onset_apex needs the onset and apex frame indices")
        for name, i in (("onset", onset), ("apex", apex)):
            if not 0 <= int(i) < n:
                raise ValueError(f"{name} index {i} outside the clip's {n} frames")
        return [(int(onset), int(apex))]
    if onset is not None or apex is not None:
        raise ValueError(f"onset/apex indices are only used by mode onset_apex, not {mode!r}")
    if n < 2:
        raise ValueError(f"flow mode {mode} needs at least two frames, got {n}")
    if mode == "consecutive":
        return [(t, t + 1) for t in range(n - 1)]
    return [(0, t) for t in range(1, n)]


def flow_sequence(gray: np.ndarray, backend: str = "farneback", params: dict | None = None,
                  mode: str = "consecutive", onset: int | None = None,
                  apex: int | None = None) -> np.ndarray:
    """Flow fields over a clip of gray frames (T, H, W) uint8.

    mode "consecutive": frame t -> t+1 for t = 0..T-2 (T-1 fields); "reference": frame 0 -> t for
    t = 1..T-1 (T-1 fields); "onset_apex": frame `onset` -> frame `apex` (indices into `gray`;
    one field). Returns (F, H, W, 2) float32 (u, v) pixels.
    """
    if not isinstance(gray, np.ndarray) or gray.ndim != 3:
        raise ValueError(f"expected gray frames (T, H, W), got {getattr(gray, 'shape', type(gray))}")
    pairs = _frame_pairs(gray.shape[0], mode, onset, apex)
    flow_params(backend, params)  # fail on bad parameters before any work
    out = np.empty((len(pairs), *gray.shape[1:], 2), np.float32)
    for k, (i, j) in enumerate(pairs):
        out[k] = compute_flow(gray[i], gray[j], backend, params)
    return out


def flow_strain_sequence(gray: np.ndarray, params: dict | None = None, backend: str = "farneback",
                         mode: str = "consecutive", strain_variant: str = "correct",
                         onset: int | None = None, apex: int | None = None) -> np.ndarray:
    """Flow (see `flow_sequence`) and its optical strain (see `strain.strain_field`).

    gray: (T, H, W) uint8. Returns (F, H, W, 3) float32 channels (u, v, strain).
    """
    flow = flow_sequence(gray, backend, params, mode, onset, apex)
    out = np.empty((*flow.shape[:-1], 3), np.float32)
    out[..., :2] = flow
    out[..., 2] = strain_field(flow, strain_variant)
    return out
