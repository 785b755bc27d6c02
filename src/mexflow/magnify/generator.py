"""FlowMag-compatible magnification generator: U-Net, alpha embedding, checkpoints, inference.

The network takes a reference frame x0, a frame x1 and a magnification factor alpha and returns
the magnified frame1 y, whose motion relative to x0 is alpha times the motion x0 -> x1.
Its parameter names and shapes match the generator of the published FlowMag release, so that
checkpoint loads unchanged (``load_generator``).

Layout (width w, depth d; w=64, d=5 is FlowMag):
- ``down_layers.0..d-1``: double convs with widths w, 2w, 4w, ... ; the deepest one keeps the width
  of the one before it (FlowMag: 64-128-256-512-512). 2x2 max-pooling precedes layers 1..d-1.
- ``up_layers.0..d-2``: bilinear x2 upsampling (align_corners=True), pad to the skip's size,
  concatenate [skip, up], double conv 2c -> c -> c/2 (the last one 2w -> w -> w).
- ``up_layers.d-1``: the 1x1 output conv w -> 3.
"""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

# re-exported: the magnifier workflow scripts import it from here (moving their import would
# rerun every cached magnifier job through Snakemake's code trigger)
from mexflow.devices import select_device

__all__ = [
    "ALPHA_WAVELENGTHS", "OUTPUT_MODES", "N_ALPHA_CHANNELS", "TWICE_ABOVE_ALPHA",
    "alpha_embedding", "alpha_map", "FlowMagGenerator",
    "extract_generator_state", "infer_architecture", "load_generator", "save_checkpoint",
    "load_checkpoint_meta", "select_device", "to_tensor", "to_frames", "magnify_clip",
]

N_ALPHA_CHANNELS = 32
#: lambda_k = 2**linspace(-3, 7, 32): wavelengths (in units of alpha) of the sine embedding.
_WAVELENGTHS_F64 = torch.pow(2.0, torch.linspace(-3.0, 7.0, N_ALPHA_CHANNELS, dtype=torch.float64))
ALPHA_WAVELENGTHS: Tensor = _WAVELENGTHS_F64.float()
OUTPUT_MODES = ("frame", "residual")
#: FlowMag was trained with alpha in [1, 16]; larger factors apply the model twice with sqrt(alpha).
TWICE_ABOVE_ALPHA = 16.0


# ----------------------------------------------------------------------------- alpha embedding
def alpha_embedding(alpha, batch: int, h: int, w: int) -> Tensor:
    """Sine embedding of the magnification factor, (batch, 32, h, w) float32.

    Channel k holds ``sin(2*pi*alpha / lambda_k)`` with ``lambda_k = ALPHA_WAVELENGTHS[k]``.

    alpha: a float (or 0-d tensor) for the whole batch; a (B,) tensor, one factor per sample;
    or a spatial alpha map (B, 1, h, w) / (B, h, w), one factor per pixel (targeted
    magnification, see ``alpha_map``). A leading dimension of 1 is broadcast to ``batch``.
    The result is on alpha's device when alpha is a tensor, else on the CPU.
    """
    device = alpha.device if isinstance(alpha, Tensor) else torch.device("cpu")
    a = torch.as_tensor(alpha, dtype=torch.float64, device=device)
    if a.ndim == 0:
        a = a.expand(batch)
    if a.ndim == 1:
        if a.shape[0] not in (1, batch):
            raise ValueError(f"alpha has {a.shape[0]} entries for a batch of {batch}")
        a = a.reshape(-1, 1, 1, 1).expand(batch, 1, h, w)
    elif a.ndim in (3, 4):
        if a.ndim == 3:
            a = a.unsqueeze(1)
        if a.shape[1] != 1 or tuple(a.shape[2:]) != (h, w) or a.shape[0] not in (1, batch):
            raise ValueError(f"alpha map of shape {tuple(alpha.shape)} does not fit "
                             f"batch {batch} and image {h}x{w}")
        a = a.expand(batch, 1, h, w)
    else:
        raise ValueError(f"alpha must be a scalar, (B,), (B,H,W) or (B,1,H,W); got {a.ndim}-d")
    # float64 wavelengths and phase: float32 would cost ~4e-6 in the sine for alpha ~ 16
    lam = _WAVELENGTHS_F64.to(device=device).reshape(1, -1, 1, 1)
    return torch.sin(2.0 * math.pi * a / lam).float()


def alpha_map(mask, alpha: float, outside: float = 1.0) -> Tensor:
    """Spatial alpha map (1, 1, H, W) float32: ``alpha`` where mask (H, W) is true, ``outside``
    (1 = no magnification) elsewhere. mask: numpy or torch, bool or 0/1."""
    m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, Tensor) else mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be (H, W); got shape {tuple(m.shape)}")
    m = m.to(torch.bool)
    out = torch.full(m.shape, float(outside), dtype=torch.float32, device=m.device)
    out[m] = float(alpha)
    return out[None, None]


# ----------------------------------------------------------------------------- network
class DoubleConv(nn.Module):
    """[conv3x3 -> BN -> ReLU] x 2; parameters under ``double_conv.{0,1,3,4}``."""

    def __init__(self, c_in: int, c_out: int, c_mid: int | None = None):
        super().__init__()
        c_mid = c_out if c_mid is None else c_mid
        self.double_conv = nn.Sequential(
            nn.Conv2d(c_in, c_mid, 3, padding=1), nn.BatchNorm2d(c_mid), nn.ReLU(inplace=True),
            nn.Conv2d(c_mid, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))

    def forward(self, x: Tensor) -> Tensor:
        return self.double_conv(x)


def level_widths(width: int, depth: int) -> list[int]:
    """Channel widths of the down layers: w, 2w, ..., with the deepest equal to the one before."""
    widths = [width * 2 ** i for i in range(depth - 1)]
    return widths + [widths[-1]]


class FlowMagGenerator(nn.Module):
    """U-Net magnifier. forward(x0, x1, alpha) -> y, all images (B, 3, H, W) float32 in [0, 1].

    output="frame": y = sigmoid(conv(...)) is the magnified frame (FlowMag; published weights).
    output="residual": y = clamp(x1 + conv(...), 0, 1), with the output conv zero-initialised so
    that an untrained model returns x1 unchanged. Both modes have identical parameter names.
    """

    def __init__(self, width: int = 64, depth: int = 5, output: str = "frame"):
        super().__init__()
        if depth < 2:
            raise ValueError(f"depth must be >= 2, got {depth}")
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        if output not in OUTPUT_MODES:
            raise ValueError(f"output must be one of {OUTPUT_MODES}, got {output!r}")
        self.width, self.depth, self.output = int(width), int(depth), output
        self._encoder_frozen = False
        c = level_widths(width, depth)
        c_in = 6 + N_ALPHA_CHANNELS
        self.down_layers = nn.ModuleList(
            [DoubleConv(c_in if i == 0 else c[i - 1], c[i]) for i in range(depth)])
        ups: list[nn.Module] = []
        for j in range(depth - 2, -1, -1):  # skip level, deepest first
            # The incoming (upsampled) tensor always has the skip's width c[j].
            ups.append(DoubleConv(2 * c[j], c[max(j - 1, 0)], c_mid=c[j]))
        ups.append(nn.Conv2d(c[0], 3, kernel_size=1))
        self.up_layers = nn.ModuleList(ups)
        if output == "residual":
            nn.init.zeros_(self.up_layers[-1].weight)
            nn.init.zeros_(self.up_layers[-1].bias)

    @property
    def size_multiple(self) -> int:
        """Image sides are padded internally to a multiple of this (2**(depth-1))."""
        return 2 ** (self.depth - 1)

    @property
    def encoder_frozen(self) -> bool:
        return self._encoder_frozen

    def forward(self, x0: Tensor, x1: Tensor, alpha) -> Tensor:
        """x0, x1: (B, 3, H, W) float32 in [0, 1], any H, W; alpha: see ``alpha_embedding``.
        Returns (B, 3, H, W) float32 in [0, 1]."""
        if x0.shape != x1.shape or x0.ndim != 4 or x0.shape[1] != 3:
            raise ValueError(f"x0 and x1 must both be (B, 3, H, W); got {tuple(x0.shape)} "
                             f"and {tuple(x1.shape)}")
        b, _, h, w = x1.shape
        if isinstance(alpha, Tensor):
            alpha = alpha.to(x1.device)
        emb = alpha_embedding(alpha, b, h, w).to(device=x1.device, dtype=x1.dtype)
        x = pad_to_multiple(torch.cat([x0, x1, emb], dim=1), self.size_multiple)

        skips = []
        for i, layer in enumerate(self.down_layers):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = layer(x)
            skips.append(x)
        skips.pop()  # the deepest output is x itself
        for layer in self.up_layers[:-1]:
            skip = skips.pop()
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
            dy, dx = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
            if dy or dx:
                x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
            x = layer(torch.cat([skip, x], dim=1))
        out = self.up_layers[-1](x)[:, :, :h, :w]
        if self.output == "frame":
            return torch.sigmoid(out)
        return torch.clamp(x1 + out, 0.0, 1.0)

    def freeze_encoder(self) -> None:
        """Freeze the encoder and middle block (all ``down_layers``): no gradients, and their
        BatchNorms stay in eval mode (running statistics fixed) even under ``.train()``.
        ``up_layers`` (the decoder) stay trainable."""
        self._encoder_frozen = True
        for p in self.down_layers.parameters():
            p.requires_grad_(False)
        self.down_layers.eval()

    def train(self, mode: bool = True) -> "FlowMagGenerator":
        super().train(mode)
        if self._encoder_frozen:
            self.down_layers.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters with requires_grad (what an optimiser should receive)."""
        return [p for p in self.parameters() if p.requires_grad]


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Pad (B, C, H, W) at the bottom/right to sides divisible by ``multiple``, by reflection
    (replication where the image is too small to reflect)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, [0, pw, 0, ph], mode=mode)


# ----------------------------------------------------------------------------- checkpoints
_PREFIXES = ("module.generator.", "generator.", "module.")


def extract_generator_state(obj) -> dict[str, Tensor]:
    """Generator state dict (keys ``down_layers.*`` / ``up_layers.*``) out of a loaded checkpoint.

    Accepts a FlowMag release state dict (DataParallel, keys ``module.generator.*``; the flow
    network and other keys are dropped), keys ``generator.*``, a bare generator state dict, or
    this project's checkpoint ``{"state_dict": ..., "meta": {...}}``.
    Raises ValueError when no generator keys are found.
    """
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f"expected a state dict, got {type(obj).__name__}")

    def is_gen(key: str) -> bool:
        return key.startswith(("down_layers.", "up_layers."))

    for prefix in ("",) + _PREFIXES:
        state = {k[len(prefix):]: v for k, v in obj.items()
                 if isinstance(k, str) and k.startswith(prefix) and is_gen(k[len(prefix):])}
        if state:
            return state
    keys = [str(k) for k in list(obj)[:8]]
    raise ValueError(f"no generator keys (down_layers.* / up_layers.*, optionally under "
                     f"{', '.join(_PREFIXES)}) among {len(obj)} keys; first keys: {keys}")


def infer_architecture(state: dict[str, Tensor]) -> dict:
    """{"width": int, "depth": int} of the generator whose state dict this is."""
    first = state.get("down_layers.0.double_conv.0.weight")
    if first is None:
        raise ValueError("state dict lacks down_layers.0.double_conv.0.weight")
    if first.shape[1] != 6 + N_ALPHA_CHANNELS:
        raise ValueError(f"first conv takes {first.shape[1]} channels, expected "
                         f"{6 + N_ALPHA_CHANNELS} (two RGB frames + {N_ALPHA_CHANNELS}-d alpha)")
    depth = len({k.split(".")[1] for k in state if k.startswith("down_layers.")})
    return {"width": int(first.shape[0]), "depth": int(depth)}


def _json_like(value, where: str = "meta"):
    """Copy of value with numpy scalars made plain; TypeError for anything not JSON-like."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return value
    # Subclasses (e.g. torch.__version__, a TorchVersion) are made their plain base type: the
    # weights-only unpickler refuses any other class.
    for plain in (bool, int, float, str):
        if isinstance(value, plain):
            return plain(value)
    if isinstance(value, (list, tuple)):
        return [_json_like(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: key {k!r} is not a string")
            out[k] = _json_like(v, f"{where}.{k}")
        return out
    raise TypeError(f"{where}: {type(value).__name__} is not a plain JSON-like value")


def save_checkpoint(path, generator: FlowMagGenerator, meta: dict) -> None:
    """Write {"state_dict": CPU tensors, "meta": meta + width, depth, output} atomically (temp
    file in the same folder, then os.replace). meta values: plain JSON-like types only, so that
    ``torch.load(..., weights_only=True)`` reads it back."""
    path = Path(path)
    full_meta = _json_like(dict(meta))
    full_meta.update(width=generator.width, depth=generator.depth, output=generator.output)
    payload = {"state_dict": {k: v.detach().cpu().clone() for k, v in
                              generator.state_dict().items()},
               "meta": full_meta}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def load_checkpoint_meta(path) -> dict:
    """The "meta" dict of a checkpoint written by ``save_checkpoint``; {} for other checkpoints
    (e.g. a published FlowMag release)."""
    obj = _load(path)
    if isinstance(obj, dict) and isinstance(obj.get("meta"), dict):
        return dict(obj["meta"])
    return {}


def load_generator(path, output: str | None = None, device="cpu") -> FlowMagGenerator:
    """Build the generator matching the checkpoint's shapes, load it strictly, eval mode.

    output: "frame" / "residual"; None takes it from the project checkpoint's meta, else
    "frame" (a published FlowMag checkpoint).
    """
    obj = _load(path)
    meta = obj.get("meta") if isinstance(obj, dict) else None
    if output is None:
        output = (meta or {}).get("output", "frame")
    state = extract_generator_state(obj)
    arch = infer_architecture(state)
    gen = FlowMagGenerator(width=arch["width"], depth=arch["depth"], output=output)
    gen.load_state_dict(state, strict=True)
    return gen.to(torch.device(device)).eval()


# ----------------------------------------------------------------------------- inference
def as_rgb(frames: np.ndarray) -> np.ndarray:
    """Frames (..., H, W, 3) returned as they are; gray frames (T, H, W) replicated to
    (T, H, W, 3). Any dtype."""
    frames = np.asarray(frames)
    return np.repeat(frames[..., None], 3, axis=-1) if frames.ndim == 3 else frames


def to_tensor(frames: np.ndarray) -> Tensor:
    """(T, H, W, 3) uint8 RGB or (T, H, W) uint8 gray -> (T, 3, H, W) float32 in [0, 1] (CPU);
    gray is replicated to three channels."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise TypeError(f"frames must be uint8, got {frames.dtype}")
    frames = as_rgb(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) or (T, H, W); got {frames.shape}")
    t = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    return t.float().div_(255.0)


def to_frames(t: Tensor, gray: bool) -> np.ndarray:
    """(T, 3, H, W) float in [0, 1] -> (T, H, W, 3) uint8 (rounded, clipped), or (T, H, W) uint8
    (mean of the channels) when gray."""
    t = t.detach().float().cpu().clamp(0.0, 1.0)
    if gray:
        t = t.mean(dim=1)
    else:
        t = t.permute(0, 2, 3, 1)
    return torch.round(t * 255.0).to(torch.uint8).numpy()


@torch.no_grad()
def magnify_clip(generator: FlowMagGenerator, frames: np.ndarray, alpha: float,
                 batch_size: int = 8, device=None,
                 alpha_mask: np.ndarray | None = None) -> np.ndarray:
    """Magnify a clip the FlowMag way: every frame i is the pair (frame 0, frame i).

    frames: (T, H, W, 3) uint8 RGB or (T, H, W) uint8 gray; returns the same shape and dtype,
    with output frame 0 = input frame 0. alpha > 16 applies the model twice with sqrt(alpha):
    y' = G(x0, xi, sqrt a), y = G(x0, y', sqrt a). alpha_mask (H, W) bool: targeted
    magnification (alpha inside the mask, 1 outside). device: None keeps the generator's device;
    otherwise the generator is moved there. The generator is put in eval mode.
    """
    frames = np.asarray(frames)
    gray = frames.ndim == 3
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if device is None:
        device = next(generator.parameters()).device
    else:
        device = torch.device(device)
        generator.to(device)
    generator.eval()

    out = frames.copy()
    if len(frames) < 2:
        return out
    twice = alpha > TWICE_ABOVE_ALPHA
    a = math.sqrt(alpha) if twice else float(alpha)
    if alpha_mask is not None:
        if alpha_mask.shape != frames.shape[1:3]:
            raise ValueError(f"alpha_mask {alpha_mask.shape} does not match frames "
                             f"{frames.shape[1:3]}")
        a = alpha_map(alpha_mask, a, outside=1.0).to(device)

    x0 = to_tensor(frames[:1]).to(device)
    for start in range(1, len(frames), batch_size):
        xi = to_tensor(frames[start:start + batch_size]).to(device)
        ref = x0.expand(len(xi), -1, -1, -1)
        y = generator(ref, xi, a)
        if twice:
            y = generator(ref, y, a)
        out[start:start + len(xi)] = to_frames(y, gray)
    return out
