"""Training modes of the learned magnifiers (REFERENCES §1.1-1.3).

- `pretrain_generic`: self-supervised FlowMag training on generated generic-motion pairs (used
  when no published checkpoint is configured);
- `finetune_me`: micro-expression fine-tuning on pairs of different frames of training clips,
  encoder and middle frozen, decoder trained; covers MagPlus (alpha in [1, 16]), DeMagPlus
  (alpha in [1/16, 1], initialised from the forward weights) and the face-aware models
  (landmark weight > 0 with face-region mask weights);
- `adapt_to_clip`: test-time adaptation of the whole generator to one clip's (frame 0, frame i)
  pairs.

No labels are used anywhere here. Every mode optimises only the generator; the flow supervisor
is frozen. alpha is drawn per pair with log2(alpha) ~ U(log2 lo, log2 hi).
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field, fields
from typing import Callable

import numpy as np
import torch

from mexflow.magnify.generator import FlowMagGenerator
from mexflow.magnify.losses import LossWeights, magnification_losses
from mexflow.magnify.pairs import MEPairSampler, PairFilter, generic_pair_pool, warp_forward

# draw(rng, alpha (n,)) -> (x0 (n, S, S, 3) uint8, x1 (n, S, S, 3) uint8,
#                          mask weights (n, S, S) float32 or None, truly magnified x1 (n, S, S, 3) uint8 or None)
BatchDraw = Callable[[np.random.Generator, np.ndarray], tuple]


@dataclass(frozen=True)
class TrainSpec:
    """One training run. steps: optimiser steps; crop: square training crop, px; alpha_range:
    (lo, hi) for log-uniform alpha; loss: term weights; freeze_encoder: freeze down_layers
    (encoder and middle) and train the decoder only."""

    steps: int = 200
    batch_size: int = 8
    lr: float = 1e-4
    crop: int = 96
    alpha_range: tuple[float, float] = (1.0, 16.0)
    loss: LossWeights = field(default_factory=LossWeights)
    freeze_encoder: bool = False
    seed: int = 2
    log_every: int = 25

    @classmethod
    def from_dict(cls, d: dict, **overrides) -> "TrainSpec":
        d = {**d, **overrides}
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        if "alpha_range" in kw:
            lo, hi = (float(v) for v in kw["alpha_range"])
            if not 0 < lo <= hi:
                raise ValueError(f"alpha_range must satisfy 0 < lo <= hi, got {kw['alpha_range']}")
            kw["alpha_range"] = (lo, hi)
        loss = kw.pop("loss", None) or {}
        if isinstance(loss, dict):
            loss = LossWeights(**{k: float(v) for k, v in loss.items()})
        return cls(loss=loss, **kw)


def sample_alpha(rng: np.random.Generator, n: int, alpha_range: tuple[float, float]) -> np.ndarray:
    """(n,) float32 alphas, log2-uniform in [lo, hi]."""
    lo, hi = np.log2(alpha_range[0]), np.log2(alpha_range[1])
    return np.exp2(rng.uniform(lo, hi, size=n)).astype(np.float32)


def _to_tensor(batch: np.ndarray, device) -> torch.Tensor:
    """(n, S, S, 3) uint8 -> (n, 3, S, S) float32 in [0, 1] on `device`."""
    return torch.from_numpy(np.ascontiguousarray(batch)).to(device).permute(0, 3, 1, 2).float().div_(255.0)


def train_generator(generator: FlowMagGenerator, supervisor, draw: BatchDraw, spec: TrainSpec,
                    device=None, log: logging.Logger | None = None) -> list[dict]:
    """Run `spec.steps` Adam steps on the generator with the FlowMag losses.

    draw(rng, alpha) supplies the pairs for the sampled alphas; the supervisor is moved to
    `device` and stays frozen. Returns the loss history: one dict per logged step (step, total,
    mag, color, landmark, target, alpha_mean, seconds).
    """
    log = log or logging.getLogger(__name__)
    device = torch.device(device or "cpu")
    generator.to(device).train()
    if spec.freeze_encoder:
        generator.freeze_encoder()
    supervisor.to(device)
    params = generator.trainable_parameters()
    if not params:
        raise ValueError("the generator has no trainable parameters")
    opt = torch.optim.Adam(params, lr=spec.lr)
    rng = np.random.default_rng(spec.seed)
    torch.manual_seed(spec.seed)
    history, t0 = [], time.perf_counter()
    for step in range(1, spec.steps + 1):
        alpha_np = sample_alpha(rng, spec.batch_size, spec.alpha_range)
        x0, x1, masks, target = draw(rng, alpha_np)
        alpha = torch.from_numpy(alpha_np).to(device)
        x0t, x1t = _to_tensor(x0, device), _to_tensor(x1, device)
        mask_t = None if masks is None else torch.from_numpy(np.ascontiguousarray(masks)).to(device)
        target_t = None if target is None else _to_tensor(target, device)
        y = generator(x0t, x1t, alpha)
        losses = magnification_losses(supervisor, x0t, x1t, y, alpha, spec.loss, mask_t,
                                      target=target_t)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        opt.step()
        if step % spec.log_every == 0 or step in (1, spec.steps):
            rec = {"step": step, **{k: float(v.detach()) for k, v in losses.items()},
                   "alpha_mean": float(alpha.mean()), "seconds": time.perf_counter() - t0}
            history.append(rec)
            log.info("step %d/%d loss %.4f (mag %.4f color %.4f landmark %.4f target %.4f) %.1f s",
                     step, spec.steps, rec["total"], rec["mag"], rec["color"], rec["landmark"],
                     rec["target"], rec["seconds"])
    generator.eval()
    return history


def pool_draw(pool: dict[str, np.ndarray], with_target: bool = False) -> BatchDraw:
    """Batches drawn with replacement from a `generic_pair_pool`, with random flips; with
    `with_target`, also each pair's truly magnified frame (x0 moved by alpha x its flow)."""
    def draw(rng: np.random.Generator, alpha: np.ndarray):
        n = len(alpha)
        idx = rng.integers(len(pool["x0"]), size=n)
        x0, x1 = pool["x0"][idx], pool["x1"][idx]
        target = (np.stack([warp_forward(pool["x0"][i], pool["flow"][i] * np.float32(a))
                            for i, a in zip(idx, alpha)]) if with_target else None)
        flip = rng.random(n) < 0.5
        x0[flip], x1[flip] = x0[flip][:, :, ::-1], x1[flip][:, :, ::-1]
        if target is not None:
            target[flip] = target[flip][:, :, ::-1]
        return x0, x1, None, target
    return draw


def pretrain_generic(architecture: dict, spec: TrainSpec, supervisor, pairs: int = 512,
                     pair_filter: PairFilter = PairFilter(), device=None,
                     log: logging.Logger | None = None) -> tuple[FlowMagGenerator, dict]:
    """Generic self-supervised pretraining from scratch.

    architecture: {"width", "depth", "output"} for FlowMagGenerator; pairs: size of the filtered
    generic-motion pool (`generic_pair_pool` at spec.crop). Returns (generator, metadata).
    """
    log = log or logging.getLogger(__name__)
    torch.manual_seed(spec.seed)
    generator = FlowMagGenerator(**architecture)
    pool = generic_pair_pool(pairs, spec.crop, spec.seed, rule=pair_filter)
    log.info("generic pool: %d pairs kept of %d drawn", pairs, int(pool["tries"]))
    draw = pool_draw(pool, with_target=spec.loss.target > 0)
    history = train_generator(generator, supervisor, draw, spec, device, log)
    meta = {"mode": "generic", "pairs": pairs, "pairs_drawn": int(pool["tries"]),
            "history": history, **_spec_meta(spec)}
    return generator, meta


def finetune_me(generator: FlowMagGenerator, spec: TrainSpec, supervisor, clips: list[np.ndarray],
                masks: list[np.ndarray] | None = None, device=None,
                log: logging.Logger | None = None) -> tuple[FlowMagGenerator, dict]:
    """Micro-expression fine-tuning of `generator` (modified in place and returned).

    clips: temporally normalised training clips (T, H, W, 3) uint8; masks: per clip (H, W)
    float32 weights for the face-aware term (required when spec.loss.landmark > 0).
    Returns (generator, metadata).
    """
    if spec.loss.landmark > 0 and masks is None:
        raise ValueError("face-aware fine-tuning (landmark weight > 0) needs face-region masks")
    sampler = MEPairSampler(clips, masks if spec.loss.landmark > 0 else None)

    if spec.loss.target > 0:
        raise ValueError("micro-expression pairs have no known motion: the target loss needs generated pairs")

    def draw(rng, alpha):
        x0, x1, w = sampler.sample(rng, len(alpha), spec.crop)
        return x0, x1, (w if spec.loss.landmark > 0 else None), None

    history = train_generator(generator, supervisor, draw, spec, device, log)
    return generator, {"mode": "finetune", "clips": len(clips), "history": history, **_spec_meta(spec)}


def adapt_to_clip(generator: FlowMagGenerator, clip: np.ndarray, spec: TrainSpec, supervisor,
                  device=None, log: logging.Logger | None = None) -> FlowMagGenerator:
    """Test-time adaptation (FlowMag): a copy of the whole generator fine-tuned on the pairs
    (frame 0, frame i) of this clip (T, H, W, 3) uint8, random crops and flips. The input
    generator is left untouched."""
    if len(clip) < 2:
        raise ValueError("test-time adaptation needs a clip of at least 2 frames")
    adapted = copy.deepcopy(generator)
    crop = min(spec.crop, clip.shape[1], clip.shape[2])
    t, h, w = clip.shape[:3]

    def draw(rng, alpha):
        n = len(alpha)
        x0 = np.empty((n, crop, crop, 3), np.uint8)
        x1 = np.empty_like(x0)
        for k in range(n):
            i = int(rng.integers(1, t))
            y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
            a, b = clip[0, y:y + crop, x:x + crop], clip[i, y:y + crop, x:x + crop]
            if rng.random() < 0.5:
                a, b = a[:, ::-1], b[:, ::-1]
            x0[k], x1[k] = a, b
        return x0, x1, None, None

    quiet = log or logging.getLogger(__name__ + ".tta")
    train_generator(adapted, supervisor, draw, spec, device, quiet)
    return adapted


def _spec_meta(spec: TrainSpec) -> dict:
    return {"steps": spec.steps, "batch_size": spec.batch_size, "lr": spec.lr, "crop": spec.crop,
            "alpha_range": list(spec.alpha_range), "loss": dict(spec.loss.__dict__),
            "freeze_encoder": spec.freeze_encoder, "seed": spec.seed}
