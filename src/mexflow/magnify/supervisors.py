"""Frozen, differentiable optical-flow supervisors for the learned magnifier (REFERENCES §1.2).

FlowMag's losses compare flows of generated frames, `L_mag = |F(x0, y_hat) - alpha F(x0, x1)|`
and `L_color = |warp(y_hat, F(x0, y_hat)) - warp(x1, F(x0, x1))|`, so the flow estimator must be
frozen (eval mode, no trainable parameters) while gradients still reach its input images.

- `LucasKanadeFlow`: built-in coarse-to-fine Lucas-Kanade in plain torch ops; no weights, CPU.
- `RaftFlow`: torchvision's RAFT with weights from a file; needs a working torchvision (GPU
  machines). Fed images in [-1, 1] as torchvision's RAFT expects, in eval mode.

Layouts follow `mexflow.magnify`: images (B, 3, H, W) float RGB in [0, 1]; flows (B, 2, H, W)
float pixels, channel 0 = dx, 1 = dy; the forward flow F(a, b) satisfies b(x + F(x)) ~ a(x).
"""
from __future__ import annotations

import abc
import functools
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["backward_warp", "to_gray", "FlowSupervisor", "LucasKanadeFlow", "RaftFlow",
           "SUPERVISOR_KINDS", "make_supervisor"]

# ITU-R BT.601 luma weights for R, G, B.
_LUMA = (0.299, 0.587, 0.114)


def backward_warp(img: Tensor, flow: Tensor) -> Tensor:
    """Sample `img` at x + flow(x): out[:, :, y, x] = img[:, :, y + dy, x + dx] (bilinear).

    img (B, C, H, W) float; flow (B, 2, H, W) pixels (dx, dy) in the same dtype/device. Pixel
    centres sit at integer coordinates 0..W-1, 0..H-1; samples outside are reflected about the
    border pixel centres. Returns (B, C, H, W); differentiable w.r.t. both img and flow.
    With the forward flow F(a, b), backward_warp(b, F(a, b)) ~ a.
    """
    if img.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"expected img (B, C, H, W) and flow (B, 2, H, W), got {tuple(img.shape)} "
                         f"and {tuple(flow.shape)}")
    if img.shape[0] != flow.shape[0] or img.shape[2:] != flow.shape[2:]:
        raise ValueError(f"img {tuple(img.shape)} and flow {tuple(flow.shape)} differ in batch or size")
    _, _, h, w = img.shape
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, h, 1)
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, w)
    # align_corners=True maps -1 / +1 to the centres of the first / last pixel.
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="reflection", align_corners=True)


def to_gray(img: Tensor) -> Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 1, H, W) Rec.601 luma in [0, 1], same dtype."""
    if img.dim() != 4 or img.shape[1] != 3:
        raise ValueError(f"expected (B, 3, H, W) RGB, got {tuple(img.shape)}")
    w = torch.tensor(_LUMA, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    return (img * w).sum(dim=1, keepdim=True)


class FlowSupervisor(torch.nn.Module, metaclass=abc.ABCMeta):
    """Frozen flow estimator: forward(img0, img1) -> (B, 2, H, W) forward flow F(img0, img1) in
    pixels, img (B, 3, H, W) RGB float in [0, 1]. Always in eval mode (train() is a no-op that
    keeps eval), parameters have requires_grad False; differentiable w.r.t. the images.

    Subclasses implement `_flow(img0, img1)` and call `_freeze()` after creating parameters.
    """

    def __init__(self) -> None:
        super().__init__()
        self._freeze()

    def _freeze(self) -> None:
        for p in self.parameters():
            p.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "FlowSupervisor":
        """Kept in eval mode whatever `mode` says (a frozen supervisor never trains)."""
        self._freeze()
        return self

    def forward(self, img0: Tensor, img1: Tensor) -> Tensor:
        if img0.dim() != 4 or img0.shape[1] != 3 or img0.shape != img1.shape:
            raise ValueError(f"expected two (B, 3, H, W) images of one shape, got {tuple(img0.shape)} "
                             f"and {tuple(img1.shape)}")
        if not (img0.is_floating_point() and img1.is_floating_point()):
            raise TypeError(f"images must be float in [0, 1], got {img0.dtype} and {img1.dtype}")
        return self._flow(img0, img1)

    @abc.abstractmethod
    def _flow(self, img0: Tensor, img1: Tensor) -> Tensor:
        """Flow of validated inputs; see the class docstring."""


def _gaussian_taps(sigma: float) -> tuple[float, ...]:
    """Normalised Gaussian taps, 2r+1 of them with r = ceil(3 sigma)."""
    r = max(1, int(math.ceil(3.0 * sigma)))
    k = [math.exp(-0.5 * (i / sigma) ** 2) for i in range(-r, r + 1)]
    return tuple(v / sum(k) for v in k)


# 5-tap central first difference, (f(x-2) - 8 f(x-1) + 8 f(x+1) - f(x+2)) / 12.
_DERIVATIVE_TAPS = (1 / 12, -8 / 12, 0.0, 8 / 12, -1 / 12)
# Cubic B-spline values at the integers -1, 0, 1.
_BSPLINE_TAPS = (1 / 6, 4 / 6, 1 / 6)


@functools.lru_cache(maxsize=64)
def _filter_matrix64(taps: tuple[float, ...], n: int, border: str) -> Tensor:
    r = len(taps) // 2
    idx = torch.arange(n)[:, None] + torch.arange(-r, r + 1)[None]
    if border == "replicate":
        idx = idx.clamp(0, n - 1)
    elif n == 1:
        idx = torch.zeros_like(idx)
    else:  # "reflect" about the first and last pixel centres: -1 -> 1, n -> n - 2
        idx = idx % (2 * (n - 1))
        idx = torch.where(idx > n - 1, 2 * (n - 1) - idx, idx)
    m = torch.zeros(n, n, dtype=torch.float64)
    m.index_put_((torch.arange(n).repeat_interleave(len(taps)), idx.reshape(-1)),
                 torch.tensor(taps, dtype=torch.float64).repeat(n), accumulate=True)
    return m


def _filter_matrix(taps: tuple[float, ...], n: int, dtype: torch.dtype, device: torch.device,
                   border: str = "replicate") -> Tensor:
    """(n, n) matrix M applying the odd-length correlation `taps` along an axis of n samples:
    (M @ v)[i] = sum_j taps[j] v[i + j - r], indices outside 0..n-1 replicated or reflected.

    Banded matrix products are much faster on CPU than depthwise convolutions at these sizes
    (n up to a few hundred), and autograd handles them natively.
    """
    return _filter_matrix64(tuple(taps), int(n), border).to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=32)
def _bspline_prefilter64(n: int) -> Tensor:
    return torch.linalg.inv(_filter_matrix64(_BSPLINE_TAPS, n, "reflect"))


def _bspline_coefficients(img: Tensor) -> Tensor:
    """Cubic B-spline coefficients c of img (B, C, H, W) such that the spline sum_k c[k]
    beta3(x - k) passes through every pixel (mirror boundary, as backward_warp's reflection)."""
    py = _bspline_prefilter64(img.shape[-2]).to(dtype=img.dtype, device=img.device)
    px = _bspline_prefilter64(img.shape[-1]).to(dtype=img.dtype, device=img.device)
    return py @ img @ px.T


def _bspline_warp(coeffs: Tensor, flow: Tensor) -> Tensor:
    """Cubic B-spline interpolation of the image whose coefficients are `coeffs` (B, C, H, W) at
    x + flow(x), flow (B, 2, H, W) pixels; differentiable w.r.t. both.

    Bilinear resampling shifts fine texture by less than asked (its phase response lags), which
    biases sub-pixel flow by ~10 % on sharp faces; the cubic spline is far more exact. Evaluated
    with four bilinear fetches: along each axis the four positive spline weights w0..w3 at
    i-1..i+2 are merged pairwise into one linear fetch each (at i-1 + w1/(w0+w1) and
    i+1 + w3/(w2+w3)).
    """
    b, c, h, w = coeffs.shape
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, h, 1)
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, w)

    def fetches(pos: Tensor, n: int) -> tuple[Tensor, Tensor]:
        """Normalised fetch coordinates (2, B, h, w) and their weights (2, B, h, w)."""
        base = torch.floor(pos).detach()
        t = pos - base
        t2, t3 = t * t, t * t * t
        w0 = (1 - t) ** 3 / 6
        w1 = (4 - 6 * t2 + 3 * t3) / 6
        w3 = t3 / 6
        lo, hi = w0 + w1, 1 - (w0 + w1)  # w2 + w3 = 1 - w0 - w1
        coords = torch.stack((base - 1 + w1 / lo, base + 1 + w3 / hi)) * (2.0 / max(n - 1, 1)) - 1.0
        return coords, torch.stack((lo, hi))

    gx, wx = fetches(xs + flow[:, 0], w)
    gy, wy = fetches(ys + flow[:, 1], h)
    # All four fetches in one grid_sample call: grids stacked along the output rows.
    grid = torch.stack((gx[:, None].expand(2, 2, b, h, w), gy[None].expand(2, 2, b, h, w)), dim=-1)
    grid = grid.permute(2, 0, 1, 3, 4, 5).reshape(b, 4 * h, w, 2)
    samples = F.grid_sample(coeffs, grid, mode="bilinear", padding_mode="reflection", align_corners=True)
    weights = (wx[:, None] * wy[None]).permute(2, 0, 1, 3, 4).reshape(b, 1, 4, h, w)
    return (samples.view(b, c, 4, h, w) * weights).sum(dim=2)


def _gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of x (..., H, W), replicated borders."""
    taps = _gaussian_taps(sigma)
    my = _filter_matrix(taps, x.shape[-2], x.dtype, x.device)
    mx = _filter_matrix(taps, x.shape[-1], x.dtype, x.device)
    return my @ x @ mx.T


class LucasKanadeFlow(FlowSupervisor):
    """Coarse-to-fine, iterative, dense Lucas-Kanade flow in torch ops (no weights; autograd
    reaches both images).

    Works on Rec.601 luma on a 0..255 grey-level scale; with `match_brightness` img1's luma is
    first scaled so its mean equals img0's (a global illumination gain is not motion). Pyramid by
    2x2 average pooling; `levels` (None: automatic) keeps the coarsest side >= min_size pixels
    (224 px -> 5 levels, 96 px -> 4 with min_size 12). At each level the flow starts from the
    doubled, upsampled coarser flow and is refined `iterations` times:
    - both images are warped half-way, img0 by -m/2 and img1 by +m/2, with cubic B-spline
      interpolation (symmetric, so both are resampled alike and the estimate does not drift
      as iterations repeat);
    - 5-tap central derivatives of their mean, the temporal difference, Gaussian-windowed
      (window_sigma pixels of that level) structure-tensor sums;
    - a closed-form 2x2 solve with Tikhonov term `eps` ((grey levels / pixel)^2) on the diagonal.
    The half-way ("midpoint") flow m is converted to the forward flow F(x) = m(x + F(x) / 2)
    by fixed-point iteration, then smoothed by a Gaussian of `smooth_sigma` pixels (0: off).

    Defaults were chosen on the synthetic corpus' 224 px aligned face crops, with real and
    x10 / x20 magnified motion (tests/test_supervisors.py states the measured errors). Filters
    are dense (n, n) matrices per image side, meant for sides up to a few hundred pixels. CPU,
    1 thread: ~70 ms per 224 x 224 pair (~220 ms with backward), ~80 ms per batch of 8 at 96 x 96.
    """

    def __init__(self, levels: int | None = None, iterations: int = 5, window_sigma: float = 3.0,
                 eps: float = 3.0, min_size: int = 12, smooth_sigma: float = 1.5,
                 match_brightness: bool = True) -> None:
        super().__init__()
        if levels is not None and (isinstance(levels, bool) or int(levels) != levels or levels < 1):
            raise ValueError(f"levels must be None or a positive integer, got {levels!r}")
        if isinstance(iterations, bool) or int(iterations) != iterations or iterations < 1:
            raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
        if not window_sigma > 0 or not eps > 0 or not smooth_sigma >= 0:
            raise ValueError(f"window_sigma and eps must be > 0 and smooth_sigma >= 0, got "
                             f"{window_sigma!r}, {eps!r}, {smooth_sigma!r}")
        if isinstance(min_size, bool) or int(min_size) != min_size or min_size < 1:
            raise ValueError(f"min_size must be a positive integer, got {min_size!r}")
        self.levels = None if levels is None else int(levels)
        self.iterations = int(iterations)
        self.window_sigma = float(window_sigma)
        self.eps = float(eps)
        self.min_size = int(min_size)
        self.smooth_sigma = float(smooth_sigma)
        self.match_brightness = bool(match_brightness)

    def extra_repr(self) -> str:
        return (f"levels={self.levels}, iterations={self.iterations}, window_sigma={self.window_sigma}, "
                f"eps={self.eps}, min_size={self.min_size}, smooth_sigma={self.smooth_sigma}, "
                f"match_brightness={self.match_brightness}")

    def pyramid_levels(self, h: int, w: int) -> int:
        """Number of pyramid levels for an (h, w) image: `levels` if set, else the most halvings
        that keep the coarsest side >= min_size (1 for images smaller than min_size)."""
        if self.levels is not None:
            return self.levels
        side = min(h, w)
        if side < self.min_size:
            return 1
        return 1 + int(math.floor(math.log2(side / self.min_size)))

    def _flow(self, img0: Tensor, img1: Tensor) -> Tensor:
        b = img0.shape[0]
        h, w = img0.shape[-2:]
        n_levels = self.pyramid_levels(h, w)
        g0, g1 = to_gray(img0) * 255.0, to_gray(img1) * 255.0
        if self.match_brightness:
            gain = g0.mean(dim=(1, 2, 3), keepdim=True) / g1.mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
            g1 = g1 * gain
        # Pad so that every level halves exactly; cropped off at the end.
        m = 2 ** (n_levels - 1)
        pyramid = [F.pad(torch.cat((g0, g1)), (0, (-w) % m, 0, (-h) % m), mode="replicate")]
        for _ in range(n_levels - 1):
            pyramid.append(F.avg_pool2d(pyramid[-1], 2))
        mid = None
        for g in reversed(pyramid):
            if mid is None:
                mid = g.new_zeros((b, 2) + g.shape[-2:])
            else:
                # Coarse pixel i covers fine pixels 2i, 2i+1 (centre 2i + 0.5): align_corners=False.
                mid = 2.0 * F.interpolate(mid, size=g.shape[-2:], mode="bilinear", align_corners=False)
            mid = self._refine(g[:b], g[b:], mid)
        flow = mid
        for _ in range(4):
            flow = backward_warp(mid, 0.5 * flow)
        if self.smooth_sigma > 0:
            flow = _gaussian_blur(flow, self.smooth_sigma)
        return flow[..., :h, :w]

    def _refine(self, g0: Tensor, g1: Tensor, mid: Tensor) -> Tensor:
        """`iterations` symmetric Lucas-Kanade updates of the midpoint flow mid (B, 2, h, w) on
        luma g0, g1 (B, 1, h, w), so that img0(x - mid/2) ~ img1(x + mid/2)."""
        h, w = g0.shape[-2:]
        dy = _filter_matrix(_DERIVATIVE_TAPS, h, g0.dtype, g0.device)
        dx = _filter_matrix(_DERIVATIVE_TAPS, w, g0.dtype, g0.device).T
        window = _gaussian_taps(self.window_sigma)
        wy = _filter_matrix(window, h, g0.dtype, g0.device)
        wx = _filter_matrix(window, w, g0.dtype, g0.device).T
        coeffs = _bspline_coefficients(torch.cat((g0, g1)))
        for _ in range(self.iterations):
            g0w, g1w = _bspline_warp(coeffs, torch.cat((-0.5 * mid, 0.5 * mid))).chunk(2)
            mean = 0.5 * (g0w + g1w)
            ix = mean @ dx
            iy = dy @ mean
            it = g1w - g0w
            sums = wy @ torch.cat((ix * ix, ix * iy, iy * iy, ix * it, iy * it), dim=1) @ wx
            a, bxy, c, bx, by = sums.unbind(dim=1)
            a = a + self.eps
            c = c + self.eps
            det = a * c - bxy * bxy
            # Solve [a bxy; bxy c] d = -[sum ix it, sum iy it].
            du = (bxy * by - c * bx) / det
            dv = (bxy * bx - a * by) / det
            mid = mid + torch.stack((du, dv), dim=1)
        return mid


class RaftFlow(FlowSupervisor):
    """torchvision's RAFT (large or small) with weights loaded from a state-dict file.

    Needs a working torchvision (GPU machines; this project's CPU machines cannot import it).
    Images are mapped to [-1, 1] as torchvision's RAFT expects (not [0, 1], and not [0, 255]),
    padded by edge replication to multiples of 8 and the flow cropped back. Uses the last of
    RAFT's `iterations` flow predictions.
    """

    def __init__(self, weights: str | Path, small: bool = False, iterations: int = 20) -> None:
        super().__init__()
        try:
            from torchvision.models.optical_flow import raft_large, raft_small
        except Exception as exc:  # ImportError, or an OSError/RuntimeError from its C extension
            raise ImportError(
                "RaftFlow needs a working torchvision (available on GPU machines); it could not be "
                f"imported here ({type(exc).__name__}: {exc}). Use the built-in supervisor instead: "
                "kind 'lk' (LucasKanadeFlow).") from exc
        if int(iterations) != iterations or iterations < 1:
            raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"RAFT weights not found: {path}")
        self.small = bool(small)
        self.iterations = int(iterations)
        self.net = (raft_small if self.small else raft_large)(weights=None, progress=False)
        from mexflow.checkpoints import CheckpointError, load_weights_only

        state = load_weights_only(path)   # CheckpointError naming the file if unusable
        if not isinstance(state, dict):
            raise CheckpointError(path, f"holds a {type(state).__name__}, not a RAFT state dict")
        if state and all(k.startswith("module.") for k in state):  # saved from DataParallel
            state = {k[len("module."):]: v for k, v in state.items()}
        self.net.load_state_dict(state)
        self._freeze()

    def extra_repr(self) -> str:
        return f"small={self.small}, iterations={self.iterations}"

    def _flow(self, img0: Tensor, img1: Tensor) -> Tensor:
        h, w = img0.shape[-2:]
        ph, pw = (-h) % 8, (-w) % 8
        pair = F.pad(torch.cat((img0, img1)) * 2.0 - 1.0, (0, pw, 0, ph), mode="replicate")
        a, b = pair.chunk(2)
        flows = self.net(a.contiguous(), b.contiguous(), num_flow_updates=self.iterations)
        return flows[-1][..., :h, :w]


SUPERVISOR_KINDS = {"lk": LucasKanadeFlow, "raft": RaftFlow}


def make_supervisor(spec: dict) -> FlowSupervisor:
    """Build a supervisor from a config dict: {"kind": "lk", **LucasKanadeFlow kwargs} or
    {"kind": "raft", "weights": path, "small": bool, "iterations": int}.
    Unknown kinds raise ValueError listing the known ones."""
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ValueError(f"supervisor spec must be a dict with a 'kind' "
                         f"({', '.join(sorted(SUPERVISOR_KINDS))}), got {spec!r}")
    kwargs = dict(spec)
    kind = kwargs.pop("kind")
    if kind not in SUPERVISOR_KINDS:
        raise ValueError(f"unknown supervisor kind {kind!r}; known kinds: "
                         f"{', '.join(sorted(SUPERVISOR_KINDS))}")
    return SUPERVISOR_KINDS[kind](**kwargs)
