"""Losses of the learned magnifiers (REFERENCES §1.1, §1.2).

    L_mag      = | F(x0, y) - alpha * F(x0, x1) |                         (L1, FlowMag)
    L_color    = | warp(y, F(x0, y)) - warp(x1, F(x0, x1)) |              (L1, into frame-0 coordinates)
    L_landmark = sum(W * |F(x0, y) - alpha * F(x0, x1)|) / sum(W)         (face-aware, per sample)
    L_target   = | y - y* |                                               (generated pairs only)
    L          = w_mag L_mag + w_color L_color + w_landmark L_landmark + w_target L_target

F is a frozen flow supervisor (`mexflow.magnify.supervisors`); W (B, H, W) are face-region mask
weights. The public face-aware code computed and logged L_landmark but never added it to the loss
it backpropagated; here the total is the only value returned for backpropagation and a test
checks that w_landmark changes the generator's gradient.

L_target is this project's addition: a generated pair knows its motion, so its truly magnified
frame y* (x0 moved by alpha times the known flow) can be rendered and the generator pulled towards
it (`target_loss`: L1 at `scales` scales of a 2x2 average pyramid, because a one-scale pixel loss
gives no gradient towards a displacement larger than the texture's own scale, and the generator
then settles for a blurred, under-magnified average). It is 0 unless configured, and never
available for real micro-expression pairs, whose motion is unknown.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mexflow.magnify.supervisors import backward_warp


@dataclass(frozen=True)
class LossWeights:
    mag: float = 1.0
    color: float = 10.0
    landmark: float = 0.0
    target: float = 0.0


def target_loss(y: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None,
                scales: int = 4) -> torch.Tensor:
    """Multi-scale L1 between y and target (B, 3, H, W): the mean over `scales` levels of a 2x2
    average-pooling pyramid (level 0 = full resolution) of the (weighted) mean absolute error.
    weights: None or (B, H, W) >= 0 per-pixel weights (pooled alongside)."""
    if scales < 1:
        raise ValueError(f"scales must be >= 1, got {scales}")
    w = None if weights is None else weights.to(y.dtype).unsqueeze(1)
    total = y.new_zeros(())
    for level in range(scales):
        if level:
            if min(y.shape[-2:]) < 2:
                break
            y, target = F.avg_pool2d(y, 2), F.avg_pool2d(target, 2)
            w = None if w is None else F.avg_pool2d(w, 2)
        err = (y - target).abs()
        total = total + (err.mean() if w is None
                         else (w * err).sum() / (3 * w.sum()).clamp_min(1e-6))
    return total / scales


def _alpha_field(alpha, like: torch.Tensor) -> torch.Tensor:
    """alpha as a float, (B,) or a spatial map (B, 1, H, W), broadcastable to flows (B, 2, H, W)."""
    a = torch.as_tensor(alpha, dtype=like.dtype, device=like.device)
    if a.ndim == 1:
        a = a.view(-1, 1, 1, 1)
    elif a.ndim == 3:
        a = a.unsqueeze(1)
    return a


def magnification_losses(supervisor, x0: torch.Tensor, x1: torch.Tensor, y: torch.Tensor, alpha,
                         weights: LossWeights = LossWeights(),
                         mask_weights: torch.Tensor | None = None,
                         source_flow: torch.Tensor | None = None,
                         target: torch.Tensor | None = None,
                         target_weights: torch.Tensor | None = None,
                         target_scales: int = 1) -> dict[str, torch.Tensor]:
    """All loss terms for one batch.

    x0, x1: (B, 3, H, W) input frames in [0, 1]; y: (B, 3, H, W) the generator's magnified x1
    (with gradients); alpha: float, (B,) or (B, 1, H, W); mask_weights: (B, H, W) float (needed
    when weights.landmark > 0); source_flow: F(x0, x1) when already known (B, 2, H, W), else it
    is estimated without gradients; target: (B, 3, H, W) the truly magnified frames (needed when
    weights.target > 0); target_weights: (B, H, W) per-pixel weights of the target term (the
    face-aware generated objective), target_scales: its pyramid levels (`target_loss`). Returns {"total", "mag", "color", "landmark", "target"}: scalar tensors;
    "total" is what to backpropagate.
    """
    zero = torch.zeros((), dtype=y.dtype, device=y.device)
    if weights.mag == 0 and weights.color == 0 and weights.landmark == 0:
        # Only the target term: the flow supervisor is not needed.
        l_mag = l_color = l_landmark = zero
        err = None
    else:
        if source_flow is None:
            with torch.no_grad():
                source_flow = supervisor(x0, x1)
        flow_target = _alpha_field(alpha, source_flow) * source_flow
        pred_flow = supervisor(x0, y)
        err = (pred_flow - flow_target).abs()
        l_mag = err.mean()
        l_color = (backward_warp(y, pred_flow) - backward_warp(x1, source_flow)).abs().mean()
    if weights.landmark > 0:
        if mask_weights is None:
            raise ValueError("the face-aware loss (landmark weight > 0) needs mask weights")
        w = mask_weights.to(err.dtype).unsqueeze(1)
        per_sample = (w * err).sum(dim=(1, 2, 3)) / (2 * w.sum(dim=(1, 2, 3))).clamp_min(1e-6)
        l_landmark = per_sample.mean()
    elif err is not None:
        l_landmark = zero
    if weights.target > 0:
        if target is None:
            raise ValueError("the target loss (target weight > 0) needs the truly magnified frames")
        l_target = target_loss(y, target, target_weights, target_scales)
    else:
        l_target = zero
    total = (weights.mag * l_mag + weights.color * l_color + weights.landmark * l_landmark
             + weights.target * l_target)
    return {"total": total, "mag": l_mag.detach(), "color": l_color.detach(),
            "landmark": l_landmark.detach(), "target": l_target.detach()}
