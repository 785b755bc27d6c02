"""The generated-motion objective of the learned magnifiers and the gain-ratio measurement:
targets are alpha times a known motion, the loss reaches the generator, the measurement is
calibrated by a perfect magnification."""
import math

import numpy as np
import pytest
import torch

from mexflow.magnify.gain import gain_ratios, moving_photo_clip, perfect_magnification
from mexflow.magnify.generator import FlowMagGenerator
from mexflow.magnify.losses import target_loss
from mexflow.magnify.pairs import ClipViews, MotionSpec, generated_batch, random_motion, warp_forward
from mexflow.magnify.train import TrainSpec, finetune_me, train_generator, generated_draw


def _texture(size=48, seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (size // 6, size // 6, 3)).astype(np.float32)
    return np.clip(cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def test_generated_targets_are_alpha_times_the_generated_motion():
    views = np.stack([_texture(seed=s) for s in range(3)])
    alpha = np.array([1.0, 4.0, 4.0], np.float32)
    spec = MotionSpec(noise=0.0)
    x0, x1, target = generated_batch(np.random.default_rng(5), views, alpha, spec)
    assert np.array_equal(x0, views)                                   # no noise: x0 is the view
    # Replaying the same draws gives the fields: x1 = view moved by F, target = view moved by alpha F.
    rng = np.random.default_rng(5)
    for k in range(3):
        flow = random_motion(rng, 48, float(alpha[k]), spec)
        assert np.abs(x1[k].astype(int) - warp_forward(views[k], flow).astype(int)).max() <= 1
        expected = warp_forward(views[k].astype(np.float32), flow * alpha[k])
        assert np.allclose(target[k], expected, atol=1e-3)
    # alpha = 1: the target is x1 itself (up to rounding).
    assert np.abs(target[0] - x1[0].astype(np.float32)).max() <= 0.5 + 1e-4


def test_face_aware_target_magnifies_inside_the_mask_only():
    views = np.stack([_texture(seed=1)] * 2)
    weights = np.zeros((2, 48, 48), np.float32)
    weights[:, :, :24] = 1.0                                           # left half "face parts"
    _, x1, target = generated_batch(np.random.default_rng(0), views, np.array([8.0, 8.0]),
                                    MotionSpec(noise=0.0, local_share=0.0), weights)
    _, _, uniform = generated_batch(np.random.default_rng(0), views, np.array([8.0, 8.0]),
                                    MotionSpec(noise=0.0, local_share=0.0))
    right = (slice(None), slice(4, -4), slice(32, -4))                  # away from the mask edge
    left = (slice(None), slice(4, -4), slice(4, 16))
    assert np.abs(target[right] - x1[right]).max() <= 1.0               # outside: alpha 1 = x1
    assert np.allclose(target[left], uniform[left], atol=1e-3)          # inside: alpha 8


def test_motion_peaks_respect_the_magnified_cap():
    spec = MotionSpec(peak_px=(0.05, 3.0), max_magnified_px=12.0)
    rng = np.random.default_rng(0)
    for alpha in (1.0, 6.0, 24.0):
        peaks = [np.hypot(*random_motion(rng, 32, alpha, spec).transpose(2, 0, 1)).max() for _ in range(40)]
        assert max(peaks) <= min(3.0, 12.0 / alpha) * 1.0001
        assert min(peaks) >= 0.05 * 0.9999
    with pytest.raises(ValueError, match="peak_px"):
        MotionSpec.from_dict({"peak_px": [2, 1]})
    with pytest.raises(ValueError, match="unknown"):
        MotionSpec.from_dict({"peak": 1})


def test_target_loss_is_multiscale_and_weighted():
    torch.manual_seed(0)
    y, t = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    assert float(target_loss(y, t, scales=1)) == pytest.approx(float((y - t).abs().mean()))
    # A 1 px shift of a smooth ramp: coarser levels see less error, the mean of levels is smaller.
    ramp = torch.linspace(0, 1, 32).repeat(1, 3, 32, 1)
    shifted = torch.roll(ramp, 1, dims=3)
    assert float(target_loss(shifted, ramp, scales=4)) < float(target_loss(shifted, ramp, scales=1)) + 1e-6
    w = torch.zeros(2, 16, 16)
    w[:, :8] = 1
    top = (y - t)[:, :, :8].abs().mean()
    assert float(target_loss(y, t, w, scales=1)) == pytest.approx(float(top), rel=1e-5)


def test_generated_objective_trains_towards_alpha():
    """A tiny generator trained on generated motion lowers its target loss and moves its output
    away from x1 in the direction of the magnified target."""
    torch.manual_seed(0)
    g = FlowMagGenerator(width=8, depth=3, output="residual")
    views = ClipViews([_texture(32, 3)[None]])
    spec = TrainSpec.from_dict({"steps": 150, "batch_size": 4, "crop": 32, "lr": 3e-3,
                                "objective": "generated", "alpha_range": [4, 4], "log_every": 150,
                                "motion": {"peak_px": [0.5, 0.5], "grid": [2, 2],
                                           "local_share": 0.0, "noise": 0.0}})
    x0, x1, _, target = generated_draw(views, spec)(np.random.default_rng(99), np.full(16, 4.0))
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float() / 255  # noqa: E731

    def held_out_loss():
        with torch.no_grad():
            return float(target_loss(g.eval()(to_t(x0), to_t(x1), 4.0), to_t(target)))

    before = held_out_loss()
    train_generator(g, None, generated_draw(views, spec), spec)
    after = held_out_loss()
    assert after < 0.8 * before, (before, after)
    with pytest.raises(ValueError, match="supervisor"):
        train_generator(g, None, generated_draw(views, spec), TrainSpec(steps=1, objective="flowmag"))


def test_face_aware_generated_finetuning_needs_masks_and_freezes_the_encoder():
    torch.manual_seed(0)
    g = FlowMagGenerator(width=4, depth=3, output="residual")
    before = {k: v.clone() for k, v in g.state_dict().items()}
    clips = [np.stack([_texture(40, s)] * 3) for s in range(2)]
    masks = [np.ones((40, 40), np.float32)] * 2
    spec = TrainSpec.from_dict({"steps": 2, "batch_size": 2, "crop": 64, "objective": "generated",
                                "freeze_encoder": True, "loss": {"landmark": 5}})
    g, meta = finetune_me(g, spec, None, clips, masks)
    after = g.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("down_layers"))
    assert meta["objective"] == "generated" and meta["loss"]["landmark"] == 5
    with pytest.raises(ValueError, match="masks"):
        finetune_me(g, spec, None, clips, None)


def test_gain_ratio_is_one_for_a_perfect_magnification_and_one_over_alpha_for_none():
    clip, disp = moving_photo_clip(seed=0, peak_px=0.5, frames=3, size=96)
    assert clip.shape == (3, 96, 96, 3) and disp.shape == (2, 96, 96, 2)
    assert np.abs(np.hypot(disp[-1, ..., 0], disp[-1, ..., 1]).max() - 0.5) < 1e-5
    alpha = 6.0
    perfect = perfect_magnification(clip, disp, alpha)
    assert gain_ratios(clip, perfect, alpha, disp)["gain_ratio"] == pytest.approx(1.0, abs=1e-9)
    none = gain_ratios(clip, clip, alpha, disp)["gain_ratio"]
    assert none == pytest.approx(1 / alpha, rel=0.25)
    # With masks: the in-mask ratio and the share of added motion inside them are reported.
    masks = np.zeros((2, 96, 96), bool)
    masks[0, 20:60, 20:60] = True
    masks[1] = True
    r = gain_ratios(clip, perfect, alpha, disp, masks, ["mouth", "face"])
    assert r["inmask_gain_ratio"] == pytest.approx(1.0, abs=1e-9)
    assert r["mask_area_share"] == pytest.approx(masks[0].mean())
    assert 0 < r["added_share_in_masks"] < 1 and not math.isnan(r["outmask_gain_ratio"])


class _LinearMagnifier(torch.nn.Module):
    """A stand-in generator that magnifies by k x alpha: y = x1 + (k alpha - 1)(x1 - x0), the
    linear (Eulerian) magnification, accurate for small motions of a smooth texture."""

    def __init__(self, k: float):
        super().__init__()
        self.k = k
        self.dummy = torch.nn.Parameter(torch.zeros(()))
        self.alpha_range = (1.0, 16.0)
        self.alpha_calibration = None

    def forward(self, x0, x1, alpha, mask=None):
        return x1 + (self.k * float(alpha) - 1.0) * (x1 - x0)


def test_alpha_calibration_finds_the_input_that_gives_alpha():
    from mexflow.magnify.calibration import calibrated_input, fit_alpha_calibration
    from mexflow.magnify.generator import plan_passes

    views = np.stack([_texture(64, s) for s in range(8)])
    motion = MotionSpec(peak_px=(0.05, 0.15), noise=0.0, local_share=0.0, grid=(2, 2))
    g = _LinearMagnifier(0.5)
    table = fit_alpha_calibration(g, views, None, (1.0, 8.0), motion, points=6)
    assert table["requested"][0] == 1.0 and np.all(np.diff(table["requested"]) > 0)
    # A model that magnifies by alpha / 2 must be asked for 2 alpha.
    for alpha in (2.0, 3.0):
        assert calibrated_input(table, alpha) == pytest.approx(2 * alpha, rel=0.15)
    assert calibrated_input(None, 3.0) == 3.0
    g.alpha_calibration = table
    a_in, passes = plan_passes(g, 3.0)
    assert passes == 1 and a_in == pytest.approx(6.0, rel=0.15)
    # Beyond the largest measured gain, one pass becomes two of sqrt(alpha); the input never
    # exceeds the largest factor the calibration tried.
    a_in, passes = plan_passes(g, 12.0)
    assert passes == 2 and a_in == pytest.approx(calibrated_input(table, 12.0 ** 0.5))
    assert calibrated_input(table, 1000.0) == pytest.approx(table["input"][-1])
