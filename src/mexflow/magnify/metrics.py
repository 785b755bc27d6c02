"""Motion-fidelity metrics of a magnified clip against its original.

Clips are numpy frames (T, H, W, 3) uint8 RGB or (T, H, W) uint8 gray, temporally normalised,
frame 0 the reference (onset). Frame i of a magnified clip is the magnification of the pair
(frame 0, frame i), so every metric compares flows frame 0 -> frame i, i = 1..T-1:

- `motion_magnification_ratio`: MagPlus's MMR, mean Farnebäck flow magnitude at 64 x 64 of the
  magnified clip over that of the original (REFERENCES §1.3);
- `supervisor_errors`: FlowMag's motion and magnification errors measured with a torch flow
  network (REFERENCES §1.2);
- `truth_errors`: errors against the known displacement of a synthetic clip, overall, per face
  region, and where the added motion lies;
- `displacement_between`: that known displacement between two (possibly fractional, TIM) source
  frames of an aligned crop.

Flows follow the package convention: (H, W, 2) float32 pixels, channel 0 = dx, forward flow F(a, b)
with b(x + F(x)) ~ a(x), defined on the grid of frame 0.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import cv2
import numpy as np
import torch

from mexflow.features.flow import farneback, to_gray
from mexflow.geometry.regions import FACE
from mexflow.synthetic.ground_truth import ClipTruth, displacement_in_crop

__all__ = ["reference_flows", "original_motion_mean", "motion_magnification_ratio",
           "supervisor_source_flows", "supervisor_errors", "truth_errors", "part_union", "gain_along",
           "mask_shares",
           "displacement_between"]

FlowSupervisor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check_clip(frames, name: str = "frames") -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[-1] != 3):
        raise ValueError(f"{name} must be (T, H, W, 3) or (T, H, W) uint8, got {frames.shape} {frames.dtype}")
    if frames.shape[0] < 2:
        raise ValueError(f"{name} needs at least two frames (reference + one), got {frames.shape[0]}")
    return frames


def _check_pair_of_clips(original, magnified) -> tuple[np.ndarray, np.ndarray]:
    original = _check_clip(original, "original")
    magnified = _check_clip(magnified, "magnified")
    if original.shape != magnified.shape:
        raise ValueError(f"original and magnified clips differ in shape: {original.shape} vs {magnified.shape}")
    return original, magnified


def reference_flows(frames: np.ndarray, size: int | None = None) -> np.ndarray:
    """Farnebäck flows (emotion_engine preset) from frame 0 to each frame i = 1..T-1.

    frames: (T, H, W, 3) uint8 RGB or (T, H, W) uint8 gray. size: if given, gray frames are first
    resized to size x size (area interpolation) and the flow is in pixels of the resized frames.
    Returns (T-1, h, w, 2) float32 pixels, (h, w) = (H, W) or (size, size).
    """
    frames = _check_clip(frames)
    gray = to_gray(frames) if frames.ndim == 4 else frames
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2:
            raise ValueError(f"size must be an integer >= 2, got {size!r}")
        gray = np.stack([cv2.resize(g, (int(size), int(size)), interpolation=cv2.INTER_AREA) for g in gray])
    return np.stack([farneback(gray[0], gray[i]) for i in range(1, gray.shape[0])])


def _magnitude(flow: np.ndarray) -> np.ndarray:
    """(..., 2) -> (...) float64 Euclidean length."""
    return np.hypot(flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64))


def original_motion_mean(original: np.ndarray, size: int = 64) -> float:
    """The denominator of `motion_magnification_ratio`: the mean Farnebäck flow magnitude
    (frame 0 -> frame i, all pixels and i >= 1, frames resized to size x size) of `original`,
    NaN when every frame equals frame 0. It does not depend on the magnified clip, so a caller
    scoring several magnifications of one clip computes it once."""
    original = _check_clip(original, "original")
    if (original == original[:1]).all():
        return math.nan
    return float(_magnitude(reference_flows(original, size)).mean())


def motion_magnification_ratio(original: np.ndarray, magnified: np.ndarray, size: int = 64,
                               original_mean: float | None = None) -> float:
    """MagPlus's Motion Magnification Ratio: mean Farnebäck flow magnitude (frame 0 -> frame i,
    over all pixels and all i >= 1, frames resized to size x size) of `magnified` divided by the
    same mean of `original`. 1 = motion preserved, alpha = ideal magnification by alpha.

    Both clips (T, H, W, 3) or (T, H, W) uint8 of equal shape. NaN when the original has no motion:
    every frame equals frame 0 (Farnebäck returns ~1e-3 px, not 0, on identical frames, which would
    make the ratio huge instead of undefined) or its mean flow magnitude is below 1e-6 px.
    original_mean: `original_motion_mean(original, size)` when already computed.
    """
    original, magnified = _check_pair_of_clips(original, magnified)
    denominator = original_motion_mean(original, size) if original_mean is None else float(original_mean)
    if math.isnan(denominator) or denominator < 1e-6:
        return math.nan
    return float(_magnitude(reference_flows(magnified, size)).mean()) / denominator


def _to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) or (N, H, W) uint8 -> (N, 3, H, W) float32 in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(255.0)
    if t.ndim == 3:
        return t.unsqueeze(1).expand(-1, 3, -1, -1)
    return t.permute(0, 3, 1, 2)


def _supervisor_device(supervisor) -> torch.device:
    params = getattr(supervisor, "parameters", None)
    if callable(params):
        for p in params():
            return p.device
    return torch.device("cpu")


def _pair_batches(n_pairs: int, batch_size: int):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return [(start, min(start + batch_size, n_pairs + 1)) for start in range(1, n_pairs + 1, batch_size)]


def _source_flow_batch(original: np.ndarray, start: int, stop: int, supervisor, device) -> torch.Tensor:
    """F(x0, x_i) for i = start..stop-1 (one supervisor call), as the supervisor returns it."""
    x0 = _to_tensor(original[:1]).to(device).expand(stop - start, -1, -1, -1).contiguous()
    f = supervisor(x0, _to_tensor(original[start:stop]).to(device))
    expected = (stop - start, 2, *original.shape[1:3])
    if tuple(f.shape) != expected:
        raise ValueError(f"supervisor returned F(x0, x_i) of shape {tuple(f.shape)}, expected {expected}")
    return f


def supervisor_source_flows(original: np.ndarray, supervisor: FlowSupervisor, batch_size: int = 8) -> np.ndarray:
    """The supervisor's flows F(x0, x_i), i = 1..T-1, of the original clip: (T-1, 2, H, W) in the
    supervisor's dtype (float32), on the CPU. They do not depend on the magnified clip: pass
    them to `supervisor_errors` (same `batch_size`) to score several magnifications of one clip."""
    original = _check_clip(original, "original")
    device = _supervisor_device(supervisor)
    with torch.no_grad():
        return np.concatenate([_source_flow_batch(original, a, b, supervisor, device).cpu().numpy()
                               for a, b in _pair_batches(original.shape[0] - 1, batch_size)])


def supervisor_errors(original: np.ndarray, magnified: np.ndarray, alpha: float, supervisor: FlowSupervisor,
                      min_px: float = 0.1, batch_size: int = 8, source_flows: np.ndarray | None = None) -> dict:
    """FlowMag's flow-based errors of a magnified clip, measured with a flow network.

    supervisor: callable (x0, x1) -> flow, x0 and x1 (B, 3, H, W) float32 RGB in [0, 1], flow
    (B, 2, H, W) pixels (forward convention); it is run under torch.no_grad on the device of its
    parameters (CPU if it has none). Gray clips are replicated to 3 channels.
    With F_src = F(x0, x_i) and F_pred = F(x0, y_i) for i = 1..T-1 (x: original, y: magnified):

    - "motion_error": mean |F_pred - alpha F_src| over both channels, all pixels and pairs (px);
    - "magnification_error": mean | |F_pred| / (|F_src| + 1e-4) - alpha | over the pixels with
      |F_src| >= min_px (unitless: a gain minus alpha). FlowMag averages over every pixel, but on a
      static pixel the ratio is ~0 whatever the magnifier does and on a nearly static one it is
      noise over noise, so such pixels would dominate the mean of a face clip; they are left out.
      NaN when no pixel moves.
    - "moving_share": the share of pixels (over all pairs) that entered the magnification error.

    source_flows: F_src already computed by `supervisor_source_flows` (same supervisor and
    batch_size), (T-1, 2, H, W); None computes it here.
    """
    original, magnified = _check_pair_of_clips(original, magnified)
    batches = _pair_batches(original.shape[0] - 1, batch_size)
    if source_flows is not None:
        expected = (original.shape[0] - 1, 2, *original.shape[1:3])
        if tuple(np.shape(source_flows)) != expected:
            raise ValueError(f"source_flows must be {expected}, got {tuple(np.shape(source_flows))}")
    alpha = float(alpha)
    device = _supervisor_device(supervisor)
    n_pairs = original.shape[0] - 1
    x0_single = _to_tensor(original[:1]).to(device)
    abs_sum = 0.0
    ratio_sum, moving = 0.0, 0
    with torch.no_grad():
        for start, stop in batches:
            x0 = x0_single.expand(stop - start, -1, -1, -1).contiguous()
            yi = _to_tensor(magnified[start:stop]).to(device)
            if source_flows is None:
                f_src = _source_flow_batch(original, start, stop, supervisor, device).double()
            else:
                f_src = torch.from_numpy(np.asarray(source_flows[start - 1:stop - 1])).to(device).double()
            f_pred = supervisor(x0, yi).double()
            expected = (stop - start, 2, *original.shape[1:3])
            if tuple(f_pred.shape) != expected:
                raise ValueError(f"supervisor returned F(x0, y_i) of shape {tuple(f_pred.shape)}, expected {expected}")
            abs_sum += float((f_pred - alpha * f_src).abs().sum())
            src_mag = torch.linalg.vector_norm(f_src, dim=1)
            pred_mag = torch.linalg.vector_norm(f_pred, dim=1)
            keep = src_mag >= min_px
            ratio = pred_mag / (src_mag + 1e-4)
            ratio_sum += float((ratio[keep] - alpha).abs().sum())
            moving += int(keep.sum())
    n_pixels = n_pairs * original.shape[1] * original.shape[2]
    return {
        "motion_error": abs_sum / (2 * n_pixels),
        "magnification_error": ratio_sum / moving if moving else math.nan,
        "moving_share": moving / n_pixels,
    }


def gain_along(flow: np.ndarray, truth: np.ndarray, where: np.ndarray) -> float:
    """Least-squares gain g minimising |flow - g truth|^2 over `where` (NaN if empty)."""
    t = truth[where].astype(np.float64)
    if t.size == 0:
        return math.nan
    return float((flow[where].astype(np.float64) * t).sum() / (t * t).sum())


def part_union(masks: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """(H, W) bool union of the face-part masks: every mask of (R, H, W) but the one named "face"."""
    parts = [m for name, m in zip(names, masks) if name != FACE]
    return np.logical_or.reduce(parts) if parts else np.zeros(masks.shape[1:], bool)


def mask_shares(f_mag: np.ndarray, f_orig: np.ndarray, union: np.ndarray) -> dict:
    """"added_share_in_masks": the share of the added motion |F_mag - F_orig| (flows (T-1, H, W, 2),
    summed over pixels and pairs) inside `union` (H, W) bool, NaN when nothing was added;
    "mask_area_share": the union's share of the image (what a uniform magnifier would give)."""
    added = _magnitude(f_mag.astype(np.float64) - f_orig).sum(axis=0)  # (H, W), summed over pairs
    total = float(added.sum())
    return {"added_share_in_masks": float(added[union].sum()) / total if total > 0 else math.nan,
            "mask_area_share": float(union.mean())}


def _epe(flow: np.ndarray, target: np.ndarray, where: np.ndarray) -> float:
    if not where.any():
        return math.nan
    return float(_magnitude(flow[where].astype(np.float64) - target[where]).mean())


def truth_errors(original: np.ndarray, magnified: np.ndarray, alpha: float, true_disp: np.ndarray,
                 masks: np.ndarray | None = None, region_names: Sequence[str] | None = None,
                 min_px: float = 0.1, flows: dict | None = None) -> dict:
    """Errors of a magnified clip against the known motion of its original.

    original, magnified: (T, H, W, 3) or (T, H, W) uint8 of equal shape. true_disp: (T-1, H, W, 2)
    float32, the true forward displacement frame 0 -> frame i (i = 1..T-1) in pixels of the clip.
    F_mag, F_orig: full-resolution Farnebäck flows frame 0 -> frame i of the two clips.
    Over the pixels of all pairs with |true| >= min_px ("moving pixels"):

    - "truth_epe": mean |F_mag - alpha true| (end-point error, px);
    - "truth_rel_error": truth_epe / mean |alpha true|;
    - "effective_alpha": sum(F_mag . true) / sum(true . true), the least-squares gain along the truth;
    - "orig_effective_alpha": the same for F_orig (~1 when the flow measurement itself is sound);
    - "moving_share": the share of pixels (over all pairs) that are moving.

    masks: optional (R, H, W) bool region masks named by region_names (R names). Per region:
    "truth_epe_{name}" and "effective_alpha_{name}" over the moving pixels inside it (NaN when there
    are none); "added_share_in_masks": the share of the added motion |F_mag - F_orig|, summed over
    all pixels and pairs, that lies inside the union of the part masks (every mask but the one
    named "face"); "mask_area_share": that union's share of the image (what a spatially uniform
    magnifier would give). Without masks these keys are absent. Every value is a float.
    flows: optional {"original": F_orig, "magnified": F_mag} already computed with
    `reference_flows` (a caller that needs them too computes them once).
    """
    original, magnified = _check_pair_of_clips(original, magnified)
    n_pairs, (h, w) = original.shape[0] - 1, original.shape[1:3]
    true_disp = np.asarray(true_disp)
    if true_disp.shape != (n_pairs, h, w, 2):
        raise ValueError(f"true_disp must be (T-1, H, W, 2) = {(n_pairs, h, w, 2)}, got {true_disp.shape}")
    if not np.isfinite(true_disp).all():
        raise ValueError("true_disp contains NaN or infinite values")
    if masks is not None:
        masks = np.asarray(masks)
        if masks.dtype != bool or masks.ndim != 3 or masks.shape[1:] != (h, w):
            raise ValueError(f"masks must be (R, {h}, {w}) bool, got {masks.shape} {masks.dtype}")
        names = list(region_names or [])
        if len(names) != masks.shape[0] or len(set(names)) != len(names):
            raise ValueError(f"region_names must give {masks.shape[0]} distinct names, got {region_names!r}")
    elif region_names is not None:
        raise ValueError("region_names given without masks")

    alpha = float(alpha)
    flows = flows or {}
    f_mag = flows["magnified"] if "magnified" in flows else reference_flows(magnified)
    f_orig = flows["original"] if "original" in flows else reference_flows(original)
    true64 = true_disp.astype(np.float64)
    target = alpha * true64
    moving = _magnitude(true_disp) >= min_px

    epe = _epe(f_mag, target, moving)
    target_len = float(_magnitude(target[moving]).mean()) if moving.any() else math.nan
    out = {
        "truth_epe": epe,
        "truth_rel_error": epe / target_len if target_len > 0 else math.nan,
        "effective_alpha": gain_along(f_mag, true64, moving),
        "orig_effective_alpha": gain_along(f_orig, true64, moving),
        "moving_share": float(moving.mean()),
    }
    if masks is None:
        return out

    for name, mask in zip(names, masks):
        inside = moving & mask[None]
        out[f"truth_epe_{name}"] = _epe(f_mag, target, inside)
        out[f"effective_alpha_{name}"] = gain_along(f_mag, true64, inside)
    out.update(mask_shares(f_mag, f_orig, part_union(masks, names)))
    return out


def _linear_weights(x: float) -> list[tuple[int, float]]:
    """Integer frames around x with their linear-interpolation weights (one frame if x is integer)."""
    lo = math.floor(x)
    frac = x - lo
    return [(lo, 1.0)] if frac == 0 else [(lo, 1.0 - frac), (lo + 1, frac)]


def displacement_between(truth: ClipTruth, box, crop_size: int, ref_frame: float, frame: float) -> np.ndarray:
    """True expression displacement from `ref_frame` to `frame` in an aligned crop.

    Frame numbers are source frame numbers and may be fractional (TIM-interpolated frames): the
    result is `displacement_in_crop` at the surrounding integer frames, linearly interpolated in
    the fractional part of `frame` and of `ref_frame` (bilinear when both are fractional).
    box: (cx, cy, size) crop box of the reference frame; crop_size: crop side, px.
    Returns (crop_size, crop_size, 2) float32 (dx, dy) crop pixels. KeyError when a needed integer
    frame is not in the clip.
    """
    ref_frame, frame = float(ref_frame), float(frame)
    if not (math.isfinite(ref_frame) and math.isfinite(frame)):
        raise ValueError(f"frame numbers must be finite, got {ref_frame} and {frame}")
    acc = None
    for r, wr in _linear_weights(ref_frame):
        for f, wf in _linear_weights(frame):
            d = displacement_in_crop(truth, box, crop_size, r, f).astype(np.float64) * (wr * wf)
            acc = d if acc is None else acc + d
    return acc.astype(np.float32)
