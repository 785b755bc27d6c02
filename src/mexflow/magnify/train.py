"""Training modes of the learned magnifiers (REFERENCES §1.1-1.3).

- `pretrain_generic`: self-supervised training of the generic model on textures and faces;
- `finetune_me`: micro-expression fine-tuning on frames of training clips, encoder and middle
  frozen, decoder trained; covers MagPlus (alpha in [1, 16]), DeMagPlus (alpha in [1/16, 1],
  initialised from the forward weights) and the face-aware models (landmark weight > 0 with
  face-region mask weights);
- `adapt_to_clip`: test-time adaptation of the whole generator to one clip.

Two objectives (TrainSpec.objective):
- "generated" (the defaults of config.yaml): each frame is moved by a generated smooth field F
  whose size is known, and the generator is pulled towards the truly magnified frame (moved by
  alpha F) with a multi-scale L1 (`pairs.generated_batch`, `losses.target_loss`). The face-aware
  variant targets alpha inside the face-part masks and 1 (no magnification) outside, with the
  in-mask error weighted by lambda = loss.landmark. Nothing here needs a label or a flow network.
- "flowmag": FlowMag's own losses through the frozen flow supervisor on pairs whose motion is
  not known (generic pool pairs, two frames of an ME clip, (frame 0, frame i) of a test clip).
  Measured here, it leaves the generator well short of alpha: the flow supervisor under-reads
  large magnified motion and the generator follows it (docs/results.md, "Magnification against the ground truth").

No labels are used anywhere here. Every mode optimises only the generator; the flow supervisor
is frozen. alpha is drawn per pair with log2(alpha) ~ U(log2 lo, log2 hi).
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field, fields
from typing import Callable

import numpy as np
import torch

from mexflow.magnify.generator import FlowMagGenerator
from mexflow.magnify.losses import LossWeights, magnification_losses
from mexflow.magnify.pairs import (ClipViews, GenericViews, MEPairSampler, MotionSpec, PairFilter,
                                   generated_batch, generic_pair_pool, warp_forward)

OBJECTIVES = ("flowmag", "generated")
OUTPUT_INIT_STD = 1e-2
EMBEDDING_INIT_SCALE = 0.0
SCHEDULES = ("constant", "cosine")

# draw(rng, alpha (n,)) -> (x0 (n, S, S, 3) uint8, x1 (n, S, S, 3) uint8,
#                          mask weights (n, S, S) float32 or None, truly magnified x1 (n, S, S, 3) uint8 or None)
BatchDraw = Callable[[np.random.Generator, np.ndarray], tuple]


@dataclass(frozen=True)
class TrainSpec:
    """One training run. steps: optimiser steps; crop: square training crop, px; alpha_range:
    (lo, hi) for log-uniform alpha; loss: term weights (for the generated objective only
    loss.landmark counts: the face-aware lambda); freeze_encoder: freeze down_layers (encoder
    and middle) and train the decoder only; objective: "generated" | "flowmag" (module doc);
    motion: the generated motion; target_scales: pyramid levels of the target L1; schedule:
    "constant" lr, or "cosine" (linear warm-up over the first 5 % of steps, cosine decay to
    1 % of lr); face_share: generic pretraining, share of views that are faces; bn_batches:
    batches of the training distribution that re-estimate the BatchNorm statistics after the
    last step (`recalibrate_batchnorm`; 0 keeps the running averages); difference_init: share of
    first-layer filters initialised on the temporal difference (`init_for_magnification`, from
    scratch only); alpha_ramp: share of the steps over which the log-alpha range grows from its
    geometric centre to alpha_range (`alpha_range_at`): with the full range from the first step
    the model never left the identity, with one alpha it learned at once (measured);
    embedding_rate: the first convolution's weights on the 32 alpha-embedding channels move by
    this share of each optimiser update (`EmbeddingPace`), and blind_share: not at all during the
    first share of the steps, so the model first learns to see motion, then how alpha scales it
    (an alpha-blind model learned where the full-rate one stayed at the identity, measured);
    calibrate: fit the alpha calibration after generic pretraining and fine-tuning
    (`mexflow.magnify.calibration`, generated objective only)."""

    steps: int = 200
    batch_size: int = 8
    lr: float = 1e-4
    crop: int = 96
    alpha_range: tuple[float, float] = (1.0, 16.0)
    loss: LossWeights = field(default_factory=LossWeights)
    freeze_encoder: bool = False
    seed: int = 2
    log_every: int = 25
    bn_batches: int = 50
    objective: str = "flowmag"
    motion: MotionSpec = field(default_factory=MotionSpec)
    target_scales: int = 4
    schedule: str = "constant"
    face_share: float = 0.5
    difference_init: float = 0.5
    alpha_ramp: float = 0.0
    embedding_rate: float = 1.0
    blind_share: float = 0.0
    calibrate: bool = True

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
        if isinstance(kw.get("motion"), dict) or kw.get("motion") is None:
            kw["motion"] = MotionSpec.from_dict(kw.get("motion"))
        if kw.get("objective", "flowmag") not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {kw['objective']!r}")
        if kw.get("schedule", "constant") not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {kw['schedule']!r}")
        return cls(loss=loss, **kw)

    @property
    def generated(self) -> bool:
        return self.objective == "generated"


def sample_alpha(rng: np.random.Generator, n: int, alpha_range: tuple[float, float]) -> np.ndarray:
    """(n,) float32 alphas, log2-uniform in [lo, hi]."""
    lo, hi = np.log2(alpha_range[0]), np.log2(alpha_range[1])
    return np.exp2(rng.uniform(lo, hi, size=n)).astype(np.float32)


def face_aware_weights(masks: torch.Tensor, lam: float) -> torch.Tensor:
    """Per-pixel weights (B, H, W) of the face-aware target error from mask weights W (B, H, W)
    in [0, 1]: (1 - W) / mean(1 - W) + lambda W / mean(W), means per sample. Each region's error
    enters as its own mean, so lambda is how much more an in-mask error counts than one outside
    whatever the masks' area (about 16 % of an aligned face: weighted by pixels, lambda 2 left the
    in-mask term so small that the model chose not to magnify at all, measured)."""
    inside = masks.mean(dim=(1, 2), keepdim=True).clamp_min(1e-6)
    outside = (1.0 - masks).mean(dim=(1, 2), keepdim=True).clamp_min(1e-6)
    return (1.0 - masks) / outside + lam * masks / inside


def alpha_range_at(spec: TrainSpec, step: int) -> tuple[float, float]:
    """The alpha range of optimiser step `step` (0-based): spec.alpha_range, or during the first
    spec.alpha_ramp share of the steps a log-range around its geometric centre growing linearly
    from one value to the whole range."""
    lo, hi = spec.alpha_range
    ramp = spec.alpha_ramp * spec.steps
    if ramp <= 0 or step >= ramp:
        return lo, hi
    k = step / ramp
    c = math.sqrt(lo * hi)
    return c * (lo / c) ** k, c * (hi / c) ** k


class EmbeddingPace:
    """Slows (or holds) the updates of the first convolution's weights on the alpha-embedding
    channels: after each optimiser step those weights are set to old + rate x (new - old). A
    gradient scale would not do it: Adam's update does not depend on the gradient's scale."""

    def __init__(self, generator: FlowMagGenerator, spec: TrainSpec):
        w = generator.down_layers[0].double_conv[0].weight
        self.weight = w if w.requires_grad else None
        self.spec = spec
        self.saved = None

    def before(self) -> None:
        if self.weight is not None:
            self.saved = self.weight.detach()[:, 6:].clone()

    @torch.no_grad()
    def after(self, step: int) -> None:
        if self.weight is None:
            return
        rate = 0.0 if step <= self.spec.blind_share * self.spec.steps else self.spec.embedding_rate
        if rate != 1.0:
            new = self.weight[:, 6:]
            new.copy_(self.saved + rate * (new - self.saved))


def _lr_factor(spec: TrainSpec, step: int) -> float:
    """Learning-rate multiplier at optimiser step `step` (0-based)."""
    if spec.schedule == "constant":
        return 1.0
    warm = max(1, spec.steps // 20)
    ramp = min(1.0, (step + 1) / warm)
    return ramp * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(step, spec.steps) / spec.steps)))


def _to_tensor(batch: np.ndarray, device) -> torch.Tensor:
    """(n, S, S, 3) uint8 (or float32 on the 0..255 scale) -> (n, 3, S, S) float32 in [0, 1] on
    `device`."""
    return torch.from_numpy(np.ascontiguousarray(batch)).to(device).permute(0, 3, 1, 2).float().div_(255.0)


def train_generator(generator: FlowMagGenerator, supervisor, draw: BatchDraw, spec: TrainSpec,
                    device=None, log: logging.Logger | None = None) -> list[dict]:
    """Run `spec.steps` Adam steps on the generator with the FlowMag losses.

    draw(rng, alpha) supplies the pairs for the sampled alphas; the supervisor is moved to
    `device` and stays frozen (None is allowed for the generated objective, which needs none).
    With spec.generated, the draw's targets are required and its mask weights W, when given,
    weigh the target error (1 - W) + lambda W with lambda = spec.loss.landmark.
    Returns the loss history: one dict per logged step (step, total, mag, color, landmark,
    target, alpha_mean, lr, seconds).
    """
    log = log or logging.getLogger(__name__)
    device = torch.device(device or "cpu")
    generator.to(device).train()
    if spec.freeze_encoder:
        generator.freeze_encoder()
    if supervisor is not None:
        supervisor.to(device)
    elif not spec.generated:
        raise ValueError("the flowmag objective needs a flow supervisor")
    params = generator.trainable_parameters()
    if not params:
        raise ValueError("the generator has no trainable parameters")
    opt = torch.optim.Adam(params, lr=spec.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: _lr_factor(spec, i))
    pace = EmbeddingPace(generator, spec)
    target_only = LossWeights(mag=0.0, color=0.0, landmark=0.0, target=1.0)
    rng = np.random.default_rng(spec.seed)
    torch.manual_seed(spec.seed)
    history, t0 = [], time.perf_counter()
    for step in range(1, spec.steps + 1):
        alpha_np = sample_alpha(rng, spec.batch_size, alpha_range_at(spec, step - 1))
        x0, x1, masks, target = draw(rng, alpha_np)
        alpha = torch.from_numpy(alpha_np).to(device)
        x0t, x1t = _to_tensor(x0, device), _to_tensor(x1, device)
        mask_t = None if masks is None else torch.from_numpy(np.ascontiguousarray(masks)).to(device)
        target_t = None if target is None else _to_tensor(target, device)
        y = generator(x0t, x1t, alpha)
        if spec.generated:
            if target_t is None:
                raise ValueError("the generated objective needs the truly magnified frames")
            tw = None if mask_t is None else face_aware_weights(mask_t, spec.loss.landmark)
            losses = magnification_losses(None, x0t, x1t, y, alpha, target_only, target=target_t,
                                          target_weights=tw, target_scales=spec.target_scales)
        else:
            losses = magnification_losses(supervisor, x0t, x1t, y, alpha, spec.loss, mask_t,
                                          target=target_t, target_scales=spec.target_scales)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        pace.before()
        opt.step()
        pace.after(step)
        sched.step()
        if step % spec.log_every == 0 or step in (1, spec.steps):
            rec = {"step": step, **{k: float(v.detach()) for k, v in losses.items()},
                   "alpha_mean": float(alpha.mean()), "lr": float(opt.param_groups[0]["lr"]),
                   "seconds": time.perf_counter() - t0}
            history.append(rec)
            log.info("step %d/%d loss %.4f (mag %.4f color %.4f landmark %.4f target %.4f) %.1f s",
                     step, spec.steps, rec["total"], rec["mag"], rec["color"], rec["landmark"],
                     rec["target"], rec["seconds"])
    if spec.bn_batches > 0:
        recalibrate_batchnorm(generator, draw, spec, rng, device)
    generator.eval()
    return history


@torch.no_grad()
def recalibrate_batchnorm(generator: FlowMagGenerator, draw: BatchDraw, spec: TrainSpec,
                          rng: np.random.Generator, device) -> None:
    """Re-estimate the running mean and variance of every trainable BatchNorm as the plain average
    over `spec.bn_batches` fresh training batches (no gradients, weights unchanged).

    Why: a magnifier reads motion from the tiny difference x1 - x0, and the exponential running
    averages that BatchNorm keeps during training (momentum 0.1, batches of 4-8 while the weights
    still move) do not match the batch statistics the network learned with: measured on a small
    model, eval-mode loss 0.093 against 0.022 in train mode; after this, 0.022 in both.
    BatchNorms of a frozen encoder keep their statistics."""
    layers = [m for m in generator.modules() if isinstance(m, torch.nn.BatchNorm2d)
              and m.weight is not None and m.weight.requires_grad]
    if not layers:
        return
    saved = [(m, m.momentum) for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    generator.train()
    for _ in range(spec.bn_batches):
        alpha_np = sample_alpha(rng, spec.batch_size, spec.alpha_range)
        x0, x1, _, _ = draw(rng, alpha_np)
        generator(_to_tensor(x0, device), _to_tensor(x1, device), torch.from_numpy(alpha_np).to(device))
    for m, momentum in saved:
        m.momentum = momentum


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


@torch.no_grad()
def init_for_magnification(generator: FlowMagGenerator, difference_share: float = 0.5) -> None:
    """Initialise a generator trained from scratch so the motion signal is visible at once.

    - First convolution: a share `difference_share` of its filters get weights w on frame 1 and
      -w on frame 0 of each colour (input channels [R0, R1, G0, G1, B0, B1]), i.e. they see the
      temporal difference x1 - x0, which carries all of a sub-pixel motion; with independent
      random weights that difference is buried under the frames' own content.
    - The alpha embedding's first-layer weights are scaled by EMBEDDING_INIT_SCALE. At full
      size, 32 channels that are constant over each sample but differ between samples add
      per-sample offsets far larger than the motion signal; BatchNorm's batch statistics and
      the ReLUs then follow alpha, not motion, and with alpha varying within a batch the model
      never left the identity, where with one alpha per batch it learned (measured).
    - Residual output: small random weights (std OUTPUT_INIT_STD) instead of zeros. A zero output
      conv (the untrained residual model is the identity) also zeroes the gradient of every
      layer before it, and trained from scratch the model sat at the identity (measured)."""
    first = generator.down_layers[0].double_conv[0].weight        # (C, 38, 3, 3)
    first[:, 6:] *= EMBEDDING_INIT_SCALE
    n = int(round(difference_share * first.shape[0]))
    if n:
        for c in range(3):
            first[:n, 2 * c] = -first[:n, 2 * c + 1]
    if generator.output == "residual":
        torch.nn.init.normal_(generator.up_layers[-1].conv.weight, std=OUTPUT_INIT_STD)


def calibrate(generator: FlowMagGenerator, views, spec: TrainSpec,
              log: logging.Logger | None = None, n: int = 32, crop: int = 96) -> dict | None:
    """Fit and attach the generator's alpha calibration (`fit_alpha_calibration`) on `n` views of
    its training sources (`views.sample`, at most `crop` px, or the whole frame for face-aware
    weights), with spec.motion and spec.alpha_range. Returns the table, or None (logged, and the
    generator left uncalibrated) when no gain could be measured."""
    from mexflow.magnify.calibration import fit_alpha_calibration

    log = log or logging.getLogger(__name__)
    rng = np.random.default_rng(spec.seed + 1000)
    frames, weights = views.sample(rng, n if spec.loss.landmark <= 0 else max(8, n // 2),
                                   spec.crop if spec.loss.landmark > 0 else min(crop, spec.crop))
    if spec.loss.landmark <= 0:
        weights = None
    try:
        table = fit_alpha_calibration(generator, frames, weights, spec.alpha_range, spec.motion,
                                      seed=spec.seed + 7)
    except ValueError as e:
        log.warning("no alpha calibration: %s", e)
        generator.alpha_calibration = None
        return None
    generator.alpha_calibration = table
    log.info("alpha calibration (requested -> input): %s",
             ", ".join(f"{r:.3g}->{i:.3g}" for r, i in zip(table["requested"], table["input"])))
    return table


def generated_draw(views, spec: TrainSpec) -> BatchDraw:
    """Batches of the generated objective: views.sample(rng, n, spec.crop) -> (frames, mask
    weights or None), moved by generated motion (`generated_batch`)."""
    def draw(rng: np.random.Generator, alpha: np.ndarray):
        frames, weights = views.sample(rng, len(alpha), spec.crop)
        x0, x1, target = generated_batch(rng, frames, alpha, spec.motion, weights)
        return x0, x1, weights, target
    return draw


def pretrain_generic(architecture: dict, spec: TrainSpec, supervisor, pairs: int = 512,
                     pair_filter: PairFilter = PairFilter(), device=None,
                     log: logging.Logger | None = None, faces: int = 6) -> tuple[FlowMagGenerator, dict]:
    """Generic self-supervised pretraining from scratch.

    architecture: {"width", "depth", "output"} for FlowMagGenerator. Objective "generated":
    views of scikit-image's textures and `faces` synthetic faces moved by generated motion,
    drawn afresh at every step (no pool). Objective "flowmag": a filtered generic-motion pool of
    `pairs` pairs (`generic_pair_pool` at spec.crop). Returns (generator, metadata).
    """
    log = log or logging.getLogger(__name__)
    torch.manual_seed(spec.seed)
    generator = FlowMagGenerator(**architecture)
    init_for_magnification(generator, spec.difference_init)
    if spec.generated:
        views = GenericViews(faces=faces, face_share=spec.face_share, seed=spec.seed)
        log.info("generic pretraining on generated motion: %d textures, %d faces (share %.2f)",
                 len(views.textures), len(views.faces), views.face_share)
        history = train_generator(generator, supervisor, generated_draw(views, spec), spec, device, log)
        meta = {"mode": "generic", "textures": len(views.textures), "faces": len(views.faces),
                "history": history, **_spec_meta(spec)}
        if spec.calibrate:
            meta["alpha_calibration"] = calibrate(generator, views, spec, log)
        return generator, meta
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
    float32 weights for the face-aware term (required when spec.loss.landmark > 0; the generated
    objective softens their edges with `soft_mask`). Returns (generator, metadata).
    """
    if spec.loss.landmark > 0 and masks is None:
        raise ValueError("face-aware fine-tuning (landmark weight > 0) needs face-region masks")
    if spec.generated:
        soft = [soft_mask(m) for m in masks] if spec.loss.landmark > 0 else None
        views = ClipViews(clips, soft)
        history = train_generator(generator, supervisor, generated_draw(views, spec), spec, device, log)
        meta = {"mode": "finetune", "clips": len(clips), "history": history, **_spec_meta(spec)}
        if spec.calibrate:
            meta["alpha_calibration"] = calibrate(generator, views, spec, log)
        return generator, meta
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
    """Test-time adaptation: a copy of the whole generator fine-tuned on this clip (T, H, W, 3)
    uint8, random crops and flips: with the flowmag objective on its pairs (frame 0, frame i)
    (FlowMag), with the generated objective on its frames moved by generated motion. The input
    generator is left untouched."""
    if len(clip) < 2:
        raise ValueError("test-time adaptation needs a clip of at least 2 frames")
    adapted = copy.deepcopy(generator)
    quiet = log or logging.getLogger(__name__ + ".tta")
    if spec.generated:
        # The clip's own frames moved by generated motion: adapts to this face's appearance
        # without trusting a flow estimate of its (unknown) motion. BatchNorm statistics stay
        # those of training (with them re-estimated on one clip, the adapted model lost a third
        # of its gain, measured), and the calibration of the base model is kept.
        adapted.freeze_batchnorm()
        spec = dataclasses.replace(spec, bn_batches=0)
        train_generator(adapted, supervisor, generated_draw(ClipViews([clip]), spec), spec, device, quiet)
        return adapted
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

    train_generator(adapted, supervisor, draw, spec, device, quiet)
    return adapted


def soft_mask(mask: np.ndarray, sigma_px: float = 3.0) -> np.ndarray:
    """(H, W) weights in [0, 1] with Gaussian-blurred edges, float32: a targeted alpha map whose
    edges are soft moves the pixels at a mask's border smoothly instead of tearing them."""
    import cv2

    m = np.asarray(mask, np.float32)
    return np.clip(cv2.GaussianBlur(m, (0, 0), sigma_px), 0.0, 1.0)


def _spec_meta(spec: TrainSpec) -> dict:
    return {"steps": spec.steps, "batch_size": spec.batch_size, "lr": spec.lr, "crop": spec.crop,
            "alpha_range": list(spec.alpha_range),
            # the generated objective uses the target term alone (lambda weighs its in-mask part)
            "loss": ({"target": 1.0, "landmark": spec.loss.landmark} if spec.generated
                     else dict(spec.loss.__dict__)),
            "freeze_encoder": spec.freeze_encoder, "seed": spec.seed, "objective": spec.objective,
            "motion": {k: (list(v) if isinstance(v, tuple) else v)
                       for k, v in spec.motion.__dict__.items()},
            "target_scales": spec.target_scales, "schedule": spec.schedule,
            "face_share": spec.face_share, "blind_share": spec.blind_share,
            "embedding_rate": spec.embedding_rate, "alpha_ramp": spec.alpha_ramp,
            "difference_init": spec.difference_init, "bn_batches": spec.bn_batches,
            "calibrate": spec.calibrate}
