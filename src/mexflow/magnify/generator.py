"""FlowMag generator (Pan, Geng & Owens, NeurIPS 2023): U-Net, alpha embedding, checkpoints,
inference.

The network takes a reference frame x0, a frame x1 and a magnification factor alpha and returns
the magnified frame1 y, whose motion relative to x0 is alpha times the motion x0 -> x1.

It reproduces the generator of the public FlowMag code exactly, so that a published FlowMag
checkpoint loads unchanged and gives the official outputs (``load_generator``):

- module names and shapes: those of the official ``UNet`` (``models/model_zoo.py``), which sits
  under ``module.generator.*`` in a release checkpoint (width w, depth d; w=64, d=5 is FlowMag,
  128 tensors, 17.3 M parameters):
  ``down_layers.0.double_conv.{0,1,3,4}.*`` (6 + 32 -> w);
  ``down_layers.{1..d-1}.maxpool_conv.1.double_conv.*`` (2x2 max-pooling, then a double conv;
  widths 2w, 4w, ..., the deepest keeps the width of the one before: 64-128-256-512-512);
  ``up_layers.{0..d-2}.conv.double_conv.*`` (bilinear x2 upsampling with align_corners=True, pad
  to the skip's size, concatenate [skip, up], double conv 2c -> c -> c/2, the last 2w -> w -> w);
  ``up_layers.{d-1}.conv.*`` (the 1x1 output conv w -> 3). BatchNorm in every double conv.
- input channels: the two frames stacked on a time axis and flattened per colour channel,
  ``[R0, R1, G0, G1, B0, B1]``, then the 32 alpha-embedding channels (``alpha_embedding``).
- the embedding: ``sin(2 * 3.141592 * alpha / lambda_k)`` in float32, ``lambda_k`` =
  ``torch.logspace(-3, 7, 32, base=2)``; a spatial mask blends it with the alpha = 1 embedding.
- sizes: images run unpadded at any size (floor max-pooling; each upsampled tensor is padded to
  its skip's size), as in the official code. Only sides shorter than 2**(depth-1) (16 for
  FlowMag), where the official code fails, are replicate-padded to that size and cropped back.
- alpha > 16 applies the model twice with sqrt(alpha) (``magnify_pair``); alpha = 16 is one pass
  (the official inference refuses exactly 16).

Checkpoints written by ``save_checkpoint`` hold the same keys under ``module.generator.`` plus an
``epoch`` entry, so the official code loads them as well. Checkpoints of earlier mexflow versions
(other module names, input channels ``[R0, G0, B0, R1, G1, B1]``) are converted on load.
"""
from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

# re-exported: the magnifier workflow scripts import it from here (moving their import would
# rerun every cached magnifier job through Snakemake's code trigger)
from mexflow.checkpoints import load_weights_only
from mexflow.devices import select_device
from mexflow.io import atomic_path

__all__ = [
    "ALPHA_WAVELENGTHS", "OUTPUT_MODES", "N_ALPHA_CHANNELS", "TWICE_ABOVE_ALPHA",
    "CHECKPOINT_LAYOUT", "FLOWMAG_ALPHA_RANGE", "AlphaRangeWarning",
    "alpha_embedding", "alpha_map", "FlowMagGenerator",
    "extract_generator_state", "infer_architecture", "load_generator", "save_checkpoint",
    "load_checkpoint_meta", "select_device", "to_tensor", "to_frames", "magnify_pair",
    "magnify_clip", "alpha_passes", "warn_alpha_range",
]

N_ALPHA_CHANNELS = 32
#: lambda_k = 2**linspace(-3, 7, 32), float32 as FlowMag computes it: the embedding's wavelengths.
ALPHA_WAVELENGTHS: Tensor = torch.logspace(-3.0, 7.0, N_ALPHA_CHANNELS, base=2.0, dtype=torch.float32)
#: FlowMag writes pi as 3.141592 in its embedding; kept so that its weights see the same inputs.
_FLOWMAG_PI = 3.141592
OUTPUT_MODES = ("frame", "residual")
#: FlowMag was trained with alpha in [1, 16]; larger factors apply the model twice with sqrt(alpha).
TWICE_ABOVE_ALPHA = 16.0
#: the trained alpha range of a published FlowMag checkpoint (its config's alpha_low/alpha_high)
FLOWMAG_ALPHA_RANGE = (1.0, 16.0)
#: meta["layout"] of checkpoints in the official module names and input order
CHECKPOINT_LAYOUT = "flowmag"
_RELEASE_PREFIX = "module.generator."


class AlphaRangeWarning(UserWarning):
    """A magnification factor outside the range the generator was trained on."""


# ----------------------------------------------------------------------------- alpha embedding
def _embed(a: Tensor) -> Tensor:
    """sin(2 * 3.141592 * a / lambda_k), float32, on a's device. a: (B,) -> (B, 32);
    (B, 1, H, W) -> (B, 32, H, W)."""
    lam = ALPHA_WAVELENGTHS.to(a.device)
    lam = lam[None, :] if a.ndim == 1 else lam.reshape(1, -1, 1, 1)
    a = a[:, None] if a.ndim == 1 else a
    return torch.sin(2 * _FLOWMAG_PI * a / lam)


def _as_mask(mask, batch: int, h: int, w: int, device) -> Tensor:
    m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, Tensor) else mask)
    m = m.to(device=device, dtype=torch.float32)
    if m.ndim == 2:
        m = m[None, None]
    elif m.ndim == 3:
        m = m[:, None]
    if (m.ndim != 4 or m.shape[1] != 1 or tuple(m.shape[2:]) != (h, w)
            or m.shape[0] not in (1, batch)):
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not fit batch {batch} and "
                         f"image {h}x{w}; use (H, W), (B, H, W) or (B, 1, H, W)")
    return m


def alpha_embedding(alpha, batch: int, h: int, w: int, mask=None) -> Tensor:
    """Sine embedding of the magnification factor, (batch, 32, h, w) float32, as FlowMag's
    ``AlphaAppender``: channel k holds ``sin(2 * 3.141592 * alpha / lambda_k)`` computed in
    float32 (alpha rounded to float32 first), ``lambda_k = ALPHA_WAVELENGTHS[k]``.

    alpha: a float (or 0-d tensor) for the whole batch; a (B,) tensor, one factor per sample;
    or a spatial alpha map (B, 1, h, w) / (B, h, w), one factor per pixel (see ``alpha_map``).
    A leading dimension of 1 is broadcast to ``batch``.
    mask: optional (h, w), (B, h, w) or (B, 1, h, w) weights in [0, 1] (FlowMag's targeted
    magnification): ``emb = mask * emb(alpha) + (1 - mask) * emb(1)``. For a binary mask this
    equals the embedding of ``alpha_map(mask, alpha)``.
    The result is on alpha's (else mask's) device when it is a tensor, else on the CPU.
    """
    device = (alpha.device if isinstance(alpha, Tensor) else
              mask.device if isinstance(mask, Tensor) else torch.device("cpu"))
    a = torch.as_tensor(alpha, dtype=torch.float32, device=device)
    if a.ndim == 0:
        a = a.expand(batch)
    if a.ndim == 1:
        if a.shape[0] not in (1, batch):
            raise ValueError(f"alpha has {a.shape[0]} entries for a batch of {batch}")
        emb = _embed(a.expand(batch))[:, :, None, None].expand(batch, N_ALPHA_CHANNELS, h, w)
    elif a.ndim in (3, 4):
        if a.ndim == 3:
            a = a.unsqueeze(1)
        if a.shape[1] != 1 or tuple(a.shape[2:]) != (h, w) or a.shape[0] not in (1, batch):
            raise ValueError(f"alpha map of shape {tuple(alpha.shape)} does not fit "
                             f"batch {batch} and image {h}x{w}")
        emb = _embed(a.expand(batch, 1, h, w))
    else:
        raise ValueError(f"alpha must be a scalar, (B,), (B,H,W) or (B,1,H,W); got {a.ndim}-d")
    if mask is not None:
        m = _as_mask(mask, batch, h, w, device)
        one = _embed(torch.ones(batch, device=device))[:, :, None, None]
        emb = emb * m + one.expand(batch, N_ALPHA_CHANNELS, h, w) * (1 - m)
    return emb.contiguous()


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


class Down(nn.Module):
    """2x2 max-pooling (floor), then a double conv; parameters under ``maxpool_conv.1.*``."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(c_in, c_out))

    def forward(self, x: Tensor) -> Tensor:
        return self.maxpool_conv(x)


class Up(nn.Module):
    """Bilinear x2 upsampling (align_corners=True), zero-pad to the skip's size, concatenate
    [skip, up], double conv; parameters under ``conv.*``."""

    def __init__(self, c_in: int, c_out: int, c_mid: int):
        super().__init__()
        self.conv = DoubleConv(c_in, c_out, c_mid)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        dy, dx = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
        if dy or dx:  # odd sides: floor pooling left the upsampled tensor short
            x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([skip, x], dim=1))


class OutConv(nn.Module):
    """The 1x1 output convolution; parameters under ``conv.*``."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


def level_widths(width: int, depth: int) -> list[int]:
    """Channel widths of the down layers: w, 2w, ..., with the deepest equal to the one before."""
    widths = [width * 2 ** i for i in range(depth - 1)]
    return widths + [widths[-1]]


def stack_frames(x0: Tensor, x1: Tensor) -> Tensor:
    """(B, 3, H, W) x 2 -> (B, 6, H, W) in FlowMag's order [R0, R1, G0, G1, B0, B1] (the frames
    stacked on a time axis, then colour and time flattened together)."""
    return torch.stack([x0, x1], dim=2).flatten(1, 2)


class FlowMagGenerator(nn.Module):
    """U-Net magnifier. forward(x0, x1, alpha, mask=None) -> y, all images (B, 3, H, W) float32
    in [0, 1].

    output="frame": y = sigmoid(conv(...)) is the magnified frame (FlowMag; published weights).
    output="residual": y = clamp(x1 + conv(...), 0, 1), with the output conv zero-initialised so
    that an untrained model returns x1 unchanged. Both modes have identical parameter names.

    ``alpha_range``: the (lo, hi) range of factors the weights were trained on, or None when
    unknown; ``load_generator`` sets it and ``magnify_clip`` warns outside it.
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
        self.alpha_range: tuple[float, float] | None = None
        # {"requested": [...], "input": [...]} or None (`mexflow.magnify.calibration`)
        self.alpha_calibration: dict | None = None
        self._encoder_frozen = False
        c = level_widths(width, depth)
        c_in = 6 + N_ALPHA_CHANNELS
        downs: list[nn.Module] = [DoubleConv(c_in, c[0])]
        downs += [Down(c[i - 1], c[i]) for i in range(1, depth)]
        self.down_layers = nn.ModuleList(downs)
        ups: list[nn.Module] = []
        for j in range(depth - 2, -1, -1):  # skip level, deepest first
            # The incoming (upsampled) tensor always has the skip's width c[j].
            ups.append(Up(2 * c[j], c[max(j - 1, 0)], c_mid=c[j]))
        ups.append(OutConv(c[0], 3))
        self.up_layers = nn.ModuleList(ups)
        if output == "residual":
            nn.init.zeros_(self.up_layers[-1].conv.weight)
            nn.init.zeros_(self.up_layers[-1].conv.bias)

    @property
    def size_multiple(self) -> int:
        """2**(depth-1): the number of pixels one deepest-level cell covers. Sides need not be
        multiples of it; sides shorter than it are padded internally."""
        return 2 ** (self.depth - 1)

    @property
    def encoder_frozen(self) -> bool:
        return self._encoder_frozen

    def forward(self, x0: Tensor, x1: Tensor, alpha, mask=None) -> Tensor:
        """x0, x1: (B, 3, H, W) float32 in [0, 1], any H, W; alpha, mask: see
        ``alpha_embedding``. Returns (B, 3, H, W) float32 in [0, 1]."""
        if x0.shape != x1.shape or x0.ndim != 4 or x0.shape[1] != 3:
            raise ValueError(f"x0 and x1 must both be (B, 3, H, W); got {tuple(x0.shape)} "
                             f"and {tuple(x1.shape)}")
        b, _, h, w = x1.shape
        if isinstance(alpha, Tensor):
            alpha = alpha.to(x1.device)
        if isinstance(mask, Tensor):
            mask = mask.to(x1.device)
        emb = alpha_embedding(alpha, b, h, w, mask=mask).to(device=x1.device, dtype=x1.dtype)
        x = torch.cat([stack_frames(x0, x1), emb], dim=1)
        # FlowMag runs unpadded; only sides too short to be pooled depth-1 times are padded.
        n = self.size_multiple
        ph, pw = max(n - h, 0), max(n - w, 0)
        if ph or pw:
            x = F.pad(x, [0, pw, 0, ph], mode="replicate")

        skips = []
        for layer in self.down_layers:
            x = layer(x)
            skips.append(x)
        x = skips.pop()  # the bottleneck
        for layer in self.up_layers[:-1]:
            x = layer(x, skips.pop())
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
        if getattr(self, "_batchnorm_frozen", False):
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def freeze_batchnorm(self) -> None:
        """Keep every BatchNorm in eval mode (running statistics fixed and used) even under
        ``.train()``: adapting to one clip with batches of 4 would otherwise replace the
        statistics the weights were trained with by those of a few crops of that clip."""
        self._batchnorm_frozen = True
        self.train(self.training)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters with requires_grad (what an optimiser should receive)."""
        return [p for p in self.parameters() if p.requires_grad]


# ----------------------------------------------------------------------------- checkpoints
_PREFIXES = (_RELEASE_PREFIX, "generator.", "module.")
#: legacy mexflow input order [R0, G0, B0, R1, G1, B1] -> FlowMag's [R0, R1, G0, G1, B0, B1]:
#: FlowMag's input channel k is legacy channel _LEGACY_CHANNELS[k] (embedding unchanged).
_LEGACY_CHANNELS = [0, 3, 1, 4, 2, 5] + list(range(6, 6 + N_ALPHA_CHANNELS))
_LEGACY_KEY = re.compile(r"^(?:down_layers\.[1-9]\d*\.double_conv\.|"
                         r"up_layers\.\d+\.(?:double_conv\.|weight$|bias$))")
_FLOWMAG_KEY = re.compile(r"^(?:down_layers\.\d+\.maxpool_conv\.|up_layers\.\d+\.conv\.)")


def _convert_legacy(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Keys and first-conv input channels of an earlier mexflow generator in FlowMag's layout
    (an exact re-arrangement: the converted model computes the same function)."""
    out = {}
    for key, value in state.items():
        layer, idx, rest = (key.split(".", 2) + ["", ""])[:3]
        if not rest:
            pass
        elif layer == "down_layers" and idx != "0":
            key = f"down_layers.{idx}.maxpool_conv.1.{rest}"
        elif layer == "up_layers":
            key = f"up_layers.{idx}.conv.{rest}"
        out[key] = value
    first = "down_layers.0.double_conv.0.weight"
    if first in out and out[first].shape[1] == len(_LEGACY_CHANNELS):
        out[first] = out[first][:, _LEGACY_CHANNELS].clone()
    return out


def extract_generator_state(obj) -> dict[str, Tensor]:
    """Generator state dict, in FlowMag's module names and input order, out of a loaded checkpoint.

    Accepts a FlowMag release (``{"state_dict": DataParallel state dict, ...}`` with keys
    ``module.generator.*``; the loss's RAFT ``module.mm_loss_fn.flow_net.*``, the optimiser state
    and the epoch are dropped), keys ``generator.*`` or ``module.*``, a bare generator state dict,
    or a mexflow checkpoint ``{"state_dict": ..., "meta": {...}}``. A generator of an earlier
    mexflow version (keys ``down_layers.{i}.double_conv.*``, ``up_layers.{j}.double_conv.*``,
    ``up_layers.{d-1}.weight``; input channels [R0, G0, B0, R1, G1, B1]) is converted exactly.
    Raises ValueError when no generator keys are found, or for mixed or contradictory layouts.
    """
    meta = None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else None
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f"expected a state dict, got {type(obj).__name__}")

    def is_gen(key: str) -> bool:
        return key.startswith(("down_layers.", "up_layers."))

    state = {}
    for prefix in ("",) + _PREFIXES:
        state = {k[len(prefix):]: v for k, v in obj.items()
                 if isinstance(k, str) and k.startswith(prefix) and is_gen(k[len(prefix):])}
        if state:
            break
    if not state:
        keys = [str(k) for k in list(obj)[:8]]
        raise ValueError(f"no generator keys (down_layers.* / up_layers.*, optionally under "
                         f"{', '.join(_PREFIXES)}) among {len(obj)} keys; first keys: {keys}")
    legacy = [k for k in state if _LEGACY_KEY.match(k)]
    flowmag = [k for k in state if _FLOWMAG_KEY.match(k)]
    if legacy and flowmag:
        raise ValueError(f"generator keys mix FlowMag module names ({flowmag[0]}) with those of "
                         f"earlier mexflow versions ({legacy[0]})")
    layout = (meta or {}).get("layout")
    if layout is not None and layout != CHECKPOINT_LAYOUT:
        raise ValueError(f"unknown checkpoint layout {layout!r} (this mexflow reads "
                         f"{CHECKPOINT_LAYOUT!r} and earlier unmarked mexflow checkpoints)")
    if legacy:
        if layout is not None:
            raise ValueError(f"checkpoint marked layout {layout!r} holds keys of earlier mexflow "
                             f"versions ({legacy[0]})")
        state = _convert_legacy(state)
    return state


def infer_architecture(state: dict[str, Tensor]) -> dict:
    """{"width": int, "depth": int} of the generator whose state dict this is (either layout)."""
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
    """Write a checkpoint atomically (temp file in the same folder, then os.replace):
    ``{"state_dict": {"module.generator." + key: CPU tensor}, "meta": meta + width, depth,
    output, layout, "epoch": 0}``. The keys and the ``epoch`` entry are those of a FlowMag
    release, so FlowMag's own code loads the file too (meaningful for output="frame", the only
    mode it has). meta["layout"] = CHECKPOINT_LAYOUT marks FlowMag's module names and input
    order. meta values: plain JSON-like types only, so that ``torch.load(...,
    weights_only=True)`` reads it back."""
    path = Path(path)
    meta = dict(meta)
    if getattr(generator, "alpha_calibration", None) and "alpha_calibration" not in meta:
        meta["alpha_calibration"] = generator.alpha_calibration
    full_meta = _json_like(meta)
    full_meta.update(width=generator.width, depth=generator.depth, output=generator.output,
                     layout=CHECKPOINT_LAYOUT)
    payload = {"state_dict": {_RELEASE_PREFIX + k: v.detach().cpu().clone() for k, v in
                              generator.state_dict().items()},
               "meta": full_meta, "epoch": 0}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _load(path):
    """torch.load with weights_only=True onto the CPU (a release saved from CUDA tensors loads
    on a CPU-only machine); FileNotFoundError for a missing file, CheckpointError (a ValueError)
    naming the file for an unreadable or unsafe one (mexflow.checkpoints)."""
    return load_weights_only(path)


def load_checkpoint_meta(path) -> dict:
    """The "meta" dict of a checkpoint written by ``save_checkpoint``; {} for other checkpoints
    (e.g. a published FlowMag release)."""
    obj = _load(path)
    if isinstance(obj, dict) and isinstance(obj.get("meta"), dict):
        return dict(obj["meta"])
    return {}


def _trained_range(meta: dict | None) -> tuple[float, float] | None:
    """FLOWMAG_ALPHA_RANGE for a checkpoint without mexflow metadata (a FlowMag release), the
    meta's alpha_range for a mexflow checkpoint, None when it records none."""
    if meta is None:
        return FLOWMAG_ALPHA_RANGE
    rng = meta.get("alpha_range")
    if (isinstance(rng, (list, tuple)) and len(rng) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rng)):
        return float(rng[0]), float(rng[1])
    return None


def load_generator(path, output: str | None = None, device="cpu") -> FlowMagGenerator:
    """Build the generator matching the checkpoint's shapes, load it strictly, eval mode.

    Reads FlowMag releases, mexflow checkpoints and those of earlier mexflow versions (see
    ``extract_generator_state``) with ``weights_only=True``, onto the CPU first.
    output: "frame" / "residual"; None takes it from the mexflow checkpoint's meta, else
    "frame" (a published FlowMag checkpoint). Sets ``alpha_range``: the meta's alpha_range, or
    FLOWMAG_ALPHA_RANGE = (1, 16) for a checkpoint without mexflow metadata.
    """
    obj = _load(path)
    meta = obj.get("meta") if isinstance(obj, dict) and isinstance(obj.get("meta"), dict) else None
    if output is None:
        output = (meta or {}).get("output", "frame")
    state = extract_generator_state(obj)
    arch = infer_architecture(state)
    gen = FlowMagGenerator(width=arch["width"], depth=arch["depth"], output=output)
    gen.load_state_dict(state, strict=True)
    gen.alpha_range = _trained_range(meta)
    gen.alpha_calibration = (meta or {}).get("alpha_calibration") or None
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


def alpha_passes(alpha: float) -> tuple[float, int]:
    """(factor per pass, passes): (alpha, 1) for alpha <= 16; (sqrt(alpha), 2) above, FlowMag's
    rule for factors beyond its training range (16 itself is one pass here; FlowMag's inference
    refuses exactly 16)."""
    alpha = float(alpha)
    if alpha > TWICE_ABOVE_ALPHA:
        return math.sqrt(alpha), 2
    return alpha, 1


def plan_passes(generator, alpha: float) -> tuple[float, int]:
    """(input factor per pass, passes) for a requested alpha. Without an alpha calibration:
    ``alpha_passes`` (FlowMag's rule). With one (a trained mexflow checkpoint): a magnification
    beyond the largest gain the calibration measured (or above 16) runs as two passes of
    sqrt(alpha), and the per-pass factor is mapped through the table
    (`calibration.calibrated_input`)."""
    from mexflow.magnify.calibration import calibrated_input

    a, passes = alpha_passes(alpha)
    cal = getattr(generator, "alpha_calibration", None)
    if not cal:
        return a, passes
    if passes == 1 and alpha > 1.0 and alpha > cal["requested"][-1]:
        a, passes = math.sqrt(float(alpha)), 2
    return calibrated_input(cal, a), passes


def magnify_pair(generator: FlowMagGenerator, x0: Tensor, x1: Tensor, alpha: float,
                 alpha_mask=None) -> Tensor:
    """FlowMag inference on frame pairs, (B, 3, H, W) float32 in [0, 1] -> magnified x1.

    alpha <= 16: ``G(x0, x1, alpha)``; alpha > 16: ``G(x0, G(x0, x1, sqrt a), sqrt a)`` (the
    float output of the first pass feeds the second). alpha_mask: (H, W) weights in [0, 1]
    (bool: targeted magnification), blended into the embedding as in ``alpha_embedding`` in
    every pass. Gradients are not disabled here.
    """
    a, passes = plan_passes(generator, alpha)
    mask = None
    if alpha_mask is not None:
        mask = torch.as_tensor(np.asarray(alpha_mask) if not isinstance(alpha_mask, Tensor)
                               else alpha_mask).to(device=x1.device, dtype=torch.float32)
        if tuple(mask.shape) != tuple(x1.shape[2:]):
            raise ValueError(f"alpha_mask {tuple(mask.shape)} does not match frames "
                             f"{tuple(x1.shape[2:])}")
    y = x1
    for _ in range(passes):
        y = generator(x0, y, a) if mask is None else generator(x0, y, a, mask=mask)
    return y


def warn_alpha_range(generator: FlowMagGenerator, alpha: float, masked: bool = False,
                     stacklevel: int = 2) -> bool:
    """Warn (AlphaRangeWarning) when a factor the network will see lies outside its trained
    ``alpha_range`` (no check when that is None). The factors seen: the per-pass factor of
    ``alpha_passes`` (alpha, or sqrt(alpha) above 16), and 1 outside a mask. So a FlowMag
    release, trained on [1, 16], runs 1 <= alpha <= 256 without a warning. Returns whether it
    warned."""
    rng = getattr(generator, "alpha_range", None)
    if rng is None:
        return False
    lo, hi = rng
    a, passes = plan_passes(generator, alpha)
    seen = [a] + ([1.0] if masked else [])
    bad = [v for v in seen if not (lo <= v <= hi)]
    if not bad:
        return False
    how = f"alpha {float(alpha):g}" + (f" (two passes of {a:g})" if passes == 2 else "")
    warnings.warn(f"{how}: the generator sees factor {bad[0]:g}, outside its trained range "
                  f"[{lo:g}, {hi:g}]; expect unreliable magnification", AlphaRangeWarning,
                  stacklevel=stacklevel + 1)
    return True


@torch.no_grad()
def magnify_clip(generator: FlowMagGenerator, frames: np.ndarray, alpha: float,
                 batch_size: int = 8, device=None,
                 alpha_mask: np.ndarray | None = None) -> np.ndarray:
    """Magnify a clip the FlowMag way: every frame i is the pair (frame 0, frame i).

    frames: (T, H, W, 3) uint8 RGB or (T, H, W) uint8 gray; returns the same shape and dtype,
    with output frame 0 = input frame 0. alpha > 16 applies the model twice with sqrt(alpha):
    y' = G(x0, xi, sqrt a), y = G(x0, y', sqrt a) (``magnify_pair``). alpha_mask (H, W) bool (or
    weights in [0, 1]): targeted magnification, FlowMag's mask blend of the embeddings of alpha
    and 1. Warns once per call (``warn_alpha_range``) outside the generator's trained range.
    device: None keeps the generator's device; otherwise the generator is moved there. The
    generator is put in eval mode.
    """
    frames = np.asarray(frames)
    gray = frames.ndim == 3
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if alpha_mask is not None and tuple(np.shape(alpha_mask)) != frames.shape[1:3]:
        raise ValueError(f"alpha_mask {np.shape(alpha_mask)} does not match frames "
                         f"{frames.shape[1:3]}")
    if device is None:
        device = next(generator.parameters()).device
    else:
        device = torch.device(device)
        generator.to(device)
    generator.eval()

    out = frames.copy()
    if len(frames) < 2:
        return out
    # stacklevel: the caller of magnify_clip (through torch.no_grad's wrapper)
    warn_alpha_range(generator, alpha, masked=alpha_mask is not None, stacklevel=3)
    mask = None
    if alpha_mask is not None:
        mask = torch.as_tensor(np.asarray(alpha_mask)).to(device=device, dtype=torch.float32)
    x0 = to_tensor(frames[:1]).to(device)
    for start in range(1, len(frames), batch_size):
        xi = to_tensor(frames[start:start + batch_size]).to(device)
        y = magnify_pair(generator, x0.expand(len(xi), -1, -1, -1), xi, alpha, mask)
        out[start:start + len(xi)] = to_frames(y, gray)
    return out
