"""The feature kinds: how each reads its `features:` config entry, which input arrays it needs,
how many frames, what it outputs (shapes, dtypes) and how it computes them.

Every kind's `layout` says how its dense "data" array is laid out, for deep models
(`mexflow.models.inputs`): "TSSC" (T, S, S, C), "TSS" (T, S, S), "SSC" (S, S, C), or None when
the kind has no dense array.

Inputs (validated by `registry.compute_features` before any kind runs):
- "frames": (T, S, S, 3) uint8 RGB normalised clip (T sampled frames);
- "key_frames": (2, S, S, 3) uint8 RGB aligned onset and apex frames at full temporal resolution.
"""
from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod

import cv2
import numpy as np

from mexflow.features.fft3d import block_fft3d
from mexflow.features.flow import (FLOW_BACKENDS, FLOW_MODES, compute_flow, flow_params,
                                  flow_strain_sequence, to_gray)
from mexflow.features.flowmap import onset_apex_flow_map
from mexflow.features.lbp import _check_radius, _parse_P, _parse_radii, lbp_mapping, lbp_top
from mexflow.features.lbp_frames import code_dtype, lbp_images, lbp_images_vector
from mexflow.features.pooling import block_means
from mexflow.features.strain import STRAIN_VARIANTS
from mexflow.params import positive_int

Shapes = dict[str, tuple[tuple[int, ...], str]]


def _int_pair(value, name: str) -> tuple[int, int]:
    try:
        pair = tuple(value)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
                                 for v in pair):
        raise ValueError(f"{name} must be two ints >= 1, got {value!r}")
    return int(pair[0]), int(pair[1])


def _choice(value, name: str, options) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return value


def _farneback_params(s: dict) -> dict:
    """Farnebäck parameters of an onset->apex kind: its `preset` updated with its `flow` overrides
    (validated)."""
    if not isinstance(s["flow"], dict):
        raise ValueError(f"flow must be a mapping of farneback parameters, got {s['flow']!r}")
    params = {"preset": s["preset"], **s["flow"]}
    flow_params("farneback", params)
    return params


def _mapping(value) -> str | None:
    """Config spelling of an LBP mapping ("u2", "riu2", "ri", "none") -> lbp module's."""
    return None if _choice(value, "mapping", ("u2", "riu2", "ri", "none")) == "none" else value


class Kind(ABC):
    """One feature kind. Subclasses set `name`, `defaults` (every allowed spec key) and implement
    `parse`, `shapes` and `compute`."""

    name = ""
    defaults: dict = {}
    layout: str | None = None

    def settings(self, spec: dict) -> dict:
        """spec (a `features:` entry) -> complete, validated settings. ValueError on unknown keys
        or bad values."""
        unknown = sorted(set(spec) - set(self.defaults) - {"kind"})
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} for feature kind {self.name}; "
                             f"allowed: {sorted(self.defaults)}")
        return self.parse({**self.defaults, **{k: v for k, v in spec.items() if k != "kind"}})

    @abstractmethod
    def parse(self, s: dict) -> dict:
        """Validate and complete the merged settings (defaults updated with the spec)."""

    def inputs(self, s: dict) -> tuple[str, ...]:
        """Names of the input arrays this kind reads."""
        return ("frames",)

    def min_frames(self, s: dict) -> int:
        """Fewest frames in "frames" the kind can use (key_frames always has exactly 2)."""
        return 1

    @abstractmethod
    def shapes(self, s: dict, T: int, S: int) -> Shapes:
        """Output name -> (shape, dtype name) for T frames of S x S pixels."""

    @abstractmethod
    def compute(self, arrays: dict[str, np.ndarray], s: dict) -> dict[str, np.ndarray]:
        """Outputs of one clip from its validated input arrays."""


class FlowStrain(Kind):
    """Optical flow (u, v) and strain per field; vector = block means per field and channel."""

    name = "flow_strain"
    layout = "TSSC"
    defaults = dict(backend="farneback", preset=None, flow={}, mode="consecutive",
                    strain_variant="correct", vector_grid=(6, 6))

    def parse(self, s):
        s["backend"] = _choice(s["backend"], "backend", FLOW_BACKENDS)
        s["mode"] = _choice(s["mode"], "mode", FLOW_MODES)
        s["strain_variant"] = _choice(s["strain_variant"], "strain_variant", STRAIN_VARIANTS)
        if not isinstance(s["flow"], dict):
            raise ValueError(f"flow must be a mapping of {s['backend']} parameters, got {s['flow']!r}")
        s["params"] = {**({"preset": s["preset"]} if s["preset"] else {}), **s["flow"]}
        flow_params(s["backend"], s["params"])  # validates preset and parameter names
        s["vector_grid"] = _int_pair(s["vector_grid"], "vector_grid")
        return s

    def inputs(self, s):
        return ("key_frames",) if s["mode"] == "onset_apex" else ("frames",)

    def min_frames(self, s):
        return 1 if s["mode"] == "onset_apex" else 2

    def _n_fields(self, s, T):
        return 1 if s["mode"] == "onset_apex" else T - 1

    def shapes(self, s, T, S):
        F = self._n_fields(s, T)
        rows, cols = s["vector_grid"]
        return {"data": ((F, S, S, 3), "float16"), "vector": ((F * rows * cols * 3,), "float32")}

    def compute(self, arrays, s):
        if s["mode"] == "onset_apex":  # key_frames = (onset, apex)
            gray, key_indices = to_gray(arrays["key_frames"]), {"onset": 0, "apex": 1}
        else:
            gray, key_indices = to_gray(arrays["frames"]), {}
        vol = flow_strain_sequence(gray, s["params"], s["backend"], s["mode"], s["strain_variant"],
                                   **key_indices)
        # Dense bank in float16 (flow of < 10 px keeps ~3 significant digits); the vector is
        # computed from the float32 field.
        return {"data": vol.astype(np.float16), "vector": block_means(vol, s["vector_grid"])}


class LbpTop(Kind):
    """LBP-TOP block histograms (lbp.lbp_top); uses every frame."""

    name = "lbptop"
    defaults = dict(P=8, radii=(1, 1, 1), grid=(5, 5), overlap=0.0, time_parts=1, mapping="u2")

    def parse(self, s):
        s["P"] = _parse_P(s["P"])
        s["radii"] = _parse_radii(s["radii"])
        s["grid"] = _int_pair(s["grid"], "grid")
        s["time_parts"] = positive_int(s["time_parts"], "time_parts")
        if isinstance(s["overlap"], bool) or not isinstance(s["overlap"], numbers.Real) \
                or not 0 <= s["overlap"] < 1:
            raise ValueError(f"overlap must be a number in [0, 1), got {s['overlap']!r}")
        s["overlap"] = float(s["overlap"])
        s["mapping"] = _mapping(s["mapping"])
        return s

    def min_frames(self, s):
        return 2 * math.ceil(s["radii"][2]) + 1

    def shapes(self, s, T, S):
        per_block = sum(lbp_mapping(p, s["mapping"])[1] for p in s["P"])
        return {"vector": ((s["time_parts"] * s["grid"][0] * s["grid"][1] * per_block,), "float32")}

    def compute(self, arrays, s):
        vec = lbp_top(to_gray(arrays["frames"]), P=s["P"], radii=s["radii"], grid=s["grid"],
                      overlap=s["overlap"], time_parts=s["time_parts"], mapping=s["mapping"])
        return {"vector": vec.astype(np.float32)}


class LbpImages(Kind):
    """Framewise LBP label images; vector = per-block label histograms pooled over frames."""

    name = "lbp_images"
    layout = "TSS"
    defaults = dict(P=8, R=1, mapping="u2", vector_grid=(5, 5))

    def parse(self, s):
        s["mapping"] = _mapping(s["mapping"])
        s["n_labels"] = lbp_mapping(s["P"], s["mapping"])[1]  # validates P
        s["R"] = _check_radius(s["R"], "R")
        s["vector_grid"] = _int_pair(s["vector_grid"], "vector_grid")
        return s

    def shapes(self, s, T, S):
        rows, cols = s["vector_grid"]
        return {"data": ((T, S, S), code_dtype(s["n_labels"]).name),
                "vector": ((rows * cols * s["n_labels"],), "float32")}

    def compute(self, arrays, s):
        codes = lbp_images(to_gray(arrays["frames"]), s["P"], s["R"], s["mapping"])
        return {"data": codes, "vector": lbp_images_vector(codes, s["n_labels"], s["vector_grid"])}


class Fft3d(Kind):
    """Block 3D FFT (fft3d.block_fft3d); vector = block means per frame over vector_grid."""

    name = "fft3d"
    layout = "TSS"
    defaults = dict(block=8, vector_grid=(6, 6))

    def parse(self, s):
        s["block"] = positive_int(s["block"], "block")
        s["vector_grid"] = _int_pair(s["vector_grid"], "vector_grid")
        return s

    def shapes(self, s, T, S):
        rows, cols = s["vector_grid"]
        return {"data": ((T, S, S), "float16"), "vector": ((T * rows * cols,), "float32")}

    def compute(self, arrays, s):
        spectra = block_fft3d(to_gray(arrays["frames"]), s["block"])
        return {"data": spectra.astype(np.float16),
                "vector": block_means(spectra[..., None], s["vector_grid"])}


class FlowMap28(Kind):
    """Onset->apex Farnebäck flow as a small RGB image (flowmap.flow_map).

    Outputs "data" (size, size, 3) uint8, "vector" data.ravel() / 255 float32, and "image": the
    same array as "data", for the rule to write as PNG (not meant for the bank itself).
    """

    name = "flowmap28"
    layout = "SSC"
    defaults = dict(size=28, preset="samm28", flow={})

    def parse(self, s):
        s["size"] = positive_int(s["size"], "size")
        s["params"] = _farneback_params(s)
        return s

    def inputs(self, s):
        return ("key_frames",)

    def shapes(self, s, T, S):
        n = s["size"]
        return {"data": ((n, n, 3), "uint8"), "vector": ((n * n * 3,), "float32"),
                "image": ((n, n, 3), "uint8")}

    def compute(self, arrays, s):
        onset, apex = to_gray(arrays["key_frames"])
        image = onset_apex_flow_map(onset, apex, s["size"], s["params"])
        return {"data": image, "vector": image.reshape(-1).astype(np.float32) / np.float32(255),
                "image": image}


class Frames(Kind):
    """The normalised (possibly magnified) clip itself at a model-friendly size, for deep models
    on frames. "data" (T, size, size, C) uint8 (C = 1 gray or 3 RGB, area-resized); "vector" the
    block means of each frame minus the first, in grey levels / 255: ((T-1) * rows * cols * C,)."""

    name = "frames"
    layout = "TSSC"
    defaults = dict(size=64, color="gray", vector_grid=(4, 4))

    def parse(self, s):
        s["size"] = positive_int(s["size"], "size")
        s["color"] = _choice(s["color"], "color", ("gray", "rgb"))
        s["vector_grid"] = _int_pair(s["vector_grid"], "vector_grid")
        return s

    def min_frames(self, s):
        return 2

    def shapes(self, s, T, S):
        C = 1 if s["color"] == "gray" else 3
        rows, cols = s["vector_grid"]
        return {"data": ((T, s["size"], s["size"], C), "uint8"),
                "vector": (((T - 1) * rows * cols * C,), "float32")}

    def compute(self, arrays, s):
        frames = to_gray(arrays["frames"])[..., None] if s["color"] == "gray" else arrays["frames"]
        n = s["size"]
        data = np.stack([cv2.resize(f, (n, n), interpolation=cv2.INTER_AREA).reshape(n, n, -1)
                         for f in frames])
        change = (data[1:].astype(np.float32) - data[:1].astype(np.float32)) / np.float32(255)
        return {"data": data, "vector": block_means(change, s["vector_grid"])}


class ApexFlow(Kind):
    """Input of the two-stream apex + flow classifier (MagPlus, REFERENCES §1.3): the apex RGB
    frame and the onset->apex Farnebäck flow, both area-resized to size x size.

    "data" (size, size, 5) float16: channels 0-2 apex RGB in [0, 1], 3-4 flow (u, v) in pixels of
    the resized image (the full-resolution flow times size / S); "vector" the block means of
    (u, v) over vector_grid: (rows * cols * 2,) float32."""

    name = "apex_flow"
    layout = "SSC"
    defaults = dict(size=64, preset="samm28", flow={}, vector_grid=(6, 6))

    def parse(self, s):
        s["size"] = positive_int(s["size"], "size")
        s["params"] = _farneback_params(s)
        s["vector_grid"] = _int_pair(s["vector_grid"], "vector_grid")
        return s

    def inputs(self, s):
        return ("key_frames",)

    def shapes(self, s, T, S):
        n = s["size"]
        rows, cols = s["vector_grid"]
        return {"data": ((n, n, 5), "float16"), "vector": ((rows * cols * 2,), "float32")}

    def compute(self, arrays, s):
        key = arrays["key_frames"]
        onset, apex = to_gray(key)
        flow = compute_flow(onset, apex, "farneback", s["params"])
        n = s["size"]
        flow = cv2.resize(flow, (n, n), interpolation=cv2.INTER_AREA) * np.float32(n / key.shape[2])
        rgb = cv2.resize(key[1].astype(np.float32) / np.float32(255), (n, n), interpolation=cv2.INTER_AREA)
        data = np.concatenate([rgb, flow], axis=-1)
        return {"data": data.astype(np.float16), "vector": block_means(flow[None], s["vector_grid"])}


KINDS: dict[str, Kind] = {k.name: k for k in (FlowStrain(), LbpTop(), LbpImages(), Fft3d(), FlowMap28(),
                                              Frames(), ApexFlow())}
