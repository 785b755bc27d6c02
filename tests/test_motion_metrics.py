"""Motion-fidelity metrics of magnified clips (mexflow.magnify.metrics) on clips whose true motion
is known: a seeded, smoothed-noise colour texture warped by smooth fields d_i (original, sub-pixel)
and alpha * d_i (ideal magnification). Warps follow the forward-flow convention
frame_i(x + d(x)) = frame_0(x); they are made on a padded canvas and cropped, so that the borders
of every frame carry real moved texture."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from mexflow.features.flow import farneback, to_gray
from mexflow.magnify.metrics import (displacement_between, motion_magnification_ratio, reference_flows,
                                     supervisor_errors, truth_errors)
from mexflow.synthetic.ground_truth import displacement_in_crop

SIZE, PAD = 96, 16
CANVAS = SIZE + 2 * PAD
ALPHA = 3.0
AMPLITUDES = (0.25, 0.5, 0.75, 1.0)  # frames 1..4; frame 0 is the reference


def _texture(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(size=(CANVAS, CANVAS, 3)).astype(np.float32), (0, 0), 1.5)
    return np.clip(128 + noise / noise.std() * 45, 0, 255).astype(np.uint8)


_YY, _XX = np.mgrid[0:CANVAS, 0:CANVAS].astype(np.float32)
# smooth field on the canvas, |d| between about 0.2 and 0.9 px at apex
APEX_FIELD = np.stack([0.5 + 0.3 * np.sin(2 * np.pi * _YY / SIZE), 0.4 * np.cos(2 * np.pi * _XX / SIZE)],
                      axis=-1).astype(np.float32)


def _crop(a: np.ndarray) -> np.ndarray:
    return a[PAD:-PAD, PAD:-PAD]


def _warp(image: np.ndarray, field: np.ndarray) -> np.ndarray:
    """Frame with image(x) moved to x + field(x): out(y) = image(x) where x + field(x) = y, x found by
    fixed-point iteration x <- y - field(x) (converges for smooth fields of slope << 1). Cropped."""
    mx, my = _XX.copy(), _YY.copy()
    for _ in range(10):
        d = cv2.remap(field, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mx, my = _XX - d[..., 0], _YY - d[..., 1]
    return _crop(cv2.remap(image, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101))


def _clip(fields) -> np.ndarray:
    """(T, SIZE, SIZE, 3) uint8: frame 0 the texture, frame i warped by fields[i-1] (canvas fields)."""
    tex = _texture()
    return np.stack([_crop(tex)] + [_warp(tex, f) for f in fields])


@pytest.fixture(scope="module")
def clips():
    fields = [a * APEX_FIELD for a in AMPLITUDES]
    true = np.stack([_crop(f) for f in fields])
    return {"original": _clip(fields), "magnified": _clip([ALPHA * f for f in fields]), "true": true,
            "canvas_fields": fields}


def _region_masks() -> tuple[np.ndarray, list[str]]:
    """face (whole image), mouth (disk), brows (band), empty (no pixel)."""
    mouth = np.zeros((SIZE, SIZE), np.uint8)
    cv2.circle(mouth, (48, 62), 18, 1, -1)
    brows = np.zeros((SIZE, SIZE), bool)
    brows[8:26, 20:76] = True
    masks = np.stack([np.ones((SIZE, SIZE), bool), mouth > 0, brows, np.zeros((SIZE, SIZE), bool)])
    return masks, ["face", "mouth", "brows", "empty"]


# --- reference flows and MMR ----------------------------------------------------------------------

def test_reference_flows_shapes_and_truth(clips):
    """Full-resolution flows follow the true field: mean end-point error < 0.1 px inside a 16 px
    margin (measured 0.05; true |d| 0.05..0.9 px); at 48 x 48 the flow is in resized pixels
    (mean |flow| ratio in (0.4, 0.6), measured 0.53)."""
    flows = reference_flows(clips["original"])
    assert flows.shape == (len(AMPLITUDES), SIZE, SIZE, 2) and flows.dtype == np.float32
    inner = (slice(None), slice(16, -16), slice(16, -16))
    epe = np.linalg.norm(flows[inner] - clips["true"][inner], axis=-1).mean()
    assert epe < 0.1
    small = reference_flows(clips["original"], size=48)
    assert small.shape == (len(AMPLITUDES), 48, 48, 2)
    ratio = np.abs(small[-1]).mean() / np.abs(flows[-1]).mean()
    assert 0.4 < ratio < 0.6
    gray = reference_flows(to_gray(clips["original"]))
    np.testing.assert_array_equal(gray, flows)
    with pytest.raises(ValueError):
        reference_flows(clips["original"][:1])


def test_mmr_self_ideal_and_static(clips):
    """MMR of a clip with itself is exactly 1; of the ideal alpha=3 magnification within 25 % of 3
    (measured 2.66: Farnebäck at 64 x 64 overstates the original's tiny motions); of a static
    'magnified' clip below 0.05 (measured 0.003); NaN for a static original."""
    orig, mag = clips["original"], clips["magnified"]
    assert motion_magnification_ratio(orig, orig) == 1.0
    mmr = motion_magnification_ratio(orig, mag)
    assert abs(mmr - ALPHA) < 0.25 * ALPHA
    static = np.repeat(orig[:1], orig.shape[0], axis=0)
    assert motion_magnification_ratio(orig, static) < 0.05
    assert math.isnan(motion_magnification_ratio(static, mag))
    with pytest.raises(ValueError):
        motion_magnification_ratio(orig, mag[:, :-1])


# --- errors against the true displacement --------------------------------------------------------

def test_truth_errors_ideal_magnification(clips):
    """Ideal alpha=3 magnification: effective alpha within 15 % of 3 (measured 2.96), the original's
    within 15 % of 1 (1.03), relative error < 0.3 (0.08)."""
    r = truth_errors(clips["original"], clips["magnified"], ALPHA, clips["true"])
    assert abs(r["effective_alpha"] - ALPHA) < 0.15 * ALPHA
    assert abs(r["orig_effective_alpha"] - 1) < 0.15
    assert r["truth_rel_error"] < 0.3
    target = ALPHA * np.linalg.norm(clips["true"], axis=-1)
    assert r["truth_epe"] == pytest.approx(r["truth_rel_error"] * target[target >= 0.1 * ALPHA].mean(), rel=1e-4)
    assert 0.9 < r["moving_share"] <= 1
    assert not any(k.startswith("truth_epe_") or k.endswith("_share_in_masks") for k in r)


def test_truth_errors_detect_missing_magnification(clips):
    """An un-magnified copy scored for alpha=3: effective alpha ~1 (within 0.15), equal to the
    original's, and a relative error near (alpha-1)/alpha = 0.67 (> 0.5)."""
    orig = clips["original"]
    r = truth_errors(orig, orig, ALPHA, clips["true"])
    assert abs(r["effective_alpha"] - 1) < 0.15
    assert r["effective_alpha"] == r["orig_effective_alpha"]
    assert r["truth_rel_error"] > 0.5


def test_truth_errors_without_moving_pixels_are_nan(clips):
    orig = clips["original"]
    r = truth_errors(orig, orig, ALPHA, np.zeros_like(clips["true"]))
    assert all(math.isnan(r[k]) for k in ("truth_epe", "truth_rel_error", "effective_alpha"))
    with pytest.raises(ValueError):
        truth_errors(orig, orig, ALPHA, clips["true"][:-1])


def test_region_keys_consistent(clips):
    """Per-region keys: the whole-image region repeats the global values exactly, an empty region
    gives NaN, the part regions' effective alpha is within 15 % of alpha. Uniform magnification
    puts a share of the added motion in the part masks equal to their area share (within 0.1)."""
    masks, names = _region_masks()
    r = truth_errors(clips["original"], clips["magnified"], ALPHA, clips["true"], masks, names)
    for name in names:
        assert f"truth_epe_{name}" in r and f"effective_alpha_{name}" in r
    assert r["truth_epe_face"] == r["truth_epe"] and r["effective_alpha_face"] == r["effective_alpha"]
    assert math.isnan(r["truth_epe_empty"]) and math.isnan(r["effective_alpha_empty"])
    for name in ("mouth", "brows"):
        assert abs(r[f"effective_alpha_{name}"] - ALPHA) < 0.15 * ALPHA
        assert r[f"truth_epe_{name}"] < 0.3
    assert r["mask_area_share"] == pytest.approx((masks[1] | masks[2]).mean())
    assert abs(r["added_share_in_masks"] - r["mask_area_share"]) < 0.1
    with pytest.raises(ValueError):
        truth_errors(clips["original"], clips["magnified"], ALPHA, clips["true"], masks, names[:-1])


def test_added_motion_inside_masks_for_targeted_magnification(clips):
    """Magnify only inside the part masks: gain 1 + (alpha-1) s(x), s the part union eroded by
    4 px and blurred (sigma 2 px), so the true added motion lies inside the masks. Farnebäck's
    window spreads motion a few pixels past the mask edge, so the measured share is below 1:
    required > 0.8 (measured 0.85) and > 3 times the part masks' area share (0.22; the uniform
    magnifier's share, 0.22, matches it)."""
    masks, names = _region_masks()
    union = np.zeros((CANVAS, CANVAS), np.float32)
    union[PAD:-PAD, PAD:-PAD] = masks[1] | masks[2]
    s = cv2.GaussianBlur(cv2.erode(union, np.ones((9, 9), np.uint8)), (0, 0), 2)
    gain = (1 + (ALPHA - 1) * s)[..., None]
    targeted = _clip([f * gain for f in clips["canvas_fields"]])
    r = truth_errors(clips["original"], targeted, ALPHA, clips["true"], masks, names)
    assert r["added_share_in_masks"] > 0.8
    assert r["added_share_in_masks"] > 3 * r["mask_area_share"]
    # inside the mouth the motion is magnified, over the whole image mostly not
    assert r["effective_alpha_mouth"] > 1.5 > r["effective_alpha_face"] > 1.0


# --- errors measured with a flow supervisor ------------------------------------------------------

class LinearSupervisor(torch.nn.Module):
    """Stand-in flow network whose 'flow' is a fixed linear function of the image difference:
    F(a, b) = scale * (b - a)[:, :2] (R and G differences), exactly alpha-homogeneous."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(scale))
        self.calls = 0

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        assert not torch.is_grad_enabled()
        assert a.shape == b.shape and a.shape[1] == 3 and a.dtype == torch.float32
        self.calls += 1
        return self.scale * (b - a)[:, :2]


def _difference_clip(alpha: int, n: int = 7, size: int = 20):
    """x: frame 0 random in [100, 150], frame i = frame 0 + integers in [-5, 5]; y: the exact
    'magnification' frame 0 + alpha (x_i - frame 0) (still in uint8 range)."""
    rng = np.random.default_rng(3)
    x0 = rng.integers(100, 151, (size, size, 3))
    steps = rng.integers(-5, 6, (n - 1, size, size, 3))
    x = np.concatenate([x0[None], x0 + steps]).astype(np.uint8)
    y = np.concatenate([x0[None], x0 + alpha * steps]).astype(np.uint8)
    return x, y, steps


def test_supervisor_errors_exact_values():
    """Perfect prediction: motion error 0 (< 1e-5 px); magnification error equals its formula's
    value 3 * 1e-4 / (|F| + 1e-4) (< 3e-3). Unmagnified prediction: both errors equal the values
    computed here in numpy (relative 1e-5). Batching and gray input do not change the result."""
    alpha, scale = 3, 51.0  # 5 grey levels = 1 px
    x, y, steps = _difference_clip(alpha)
    sup = LinearSupervisor(scale)
    f_src = scale * steps[..., :2].astype(np.float64) / 255.0  # (T-1, H, W, 2)
    src_mag = np.linalg.norm(f_src, axis=-1)
    moving = src_mag >= 0.1

    perfect = supervisor_errors(x, y, alpha, sup, batch_size=4)
    assert sup.calls == 4  # 6 pairs in batches of 4 and 2, two flows each
    assert perfect["motion_error"] < 1e-5
    expected_perfect = np.abs(alpha * src_mag / (src_mag + 1e-4) - alpha)[moving].mean()
    assert perfect["magnification_error"] == pytest.approx(expected_perfect, rel=1e-3, abs=1e-6)
    assert perfect["magnification_error"] < 3e-3
    assert perfect["moving_share"] == pytest.approx(moving.mean())

    wrong = supervisor_errors(x, x, alpha, sup)
    assert wrong["motion_error"] == pytest.approx((alpha - 1) * np.abs(f_src).mean(), rel=1e-5)
    expected = np.abs(src_mag / (src_mag + 1e-4) - alpha)[moving].mean()
    assert wrong["magnification_error"] == pytest.approx(expected, rel=1e-5)

    one_by_one = supervisor_errors(x, x, alpha, sup, batch_size=1)
    assert one_by_one["motion_error"] == pytest.approx(wrong["motion_error"], rel=1e-9)
    gray_x, gray_y = x[..., 0], y[..., 0]
    gray = supervisor_errors(gray_x, gray_y, alpha, sup)
    assert gray["motion_error"] < 1e-5
    none_moving = supervisor_errors(x, x, alpha, lambda a, b: torch.zeros_like(a[:, :2]))
    assert none_moving["motion_error"] == 0 and math.isnan(none_moving["magnification_error"])
    with pytest.raises(ValueError):
        supervisor_errors(x, y, alpha, lambda a, b: torch.zeros_like(a))


def _farneback_supervisor(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Farnebäck behind the supervisor interface (via numpy, gray)."""
    def gray(t):
        rgb = (t.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
        return to_gray(rgb)
    ga, gb = gray(a), gray(b)
    flows = np.stack([farneback(p, q) for p, q in zip(ga, gb)])
    return torch.from_numpy(flows).permute(0, 3, 1, 2)


def test_supervisor_errors_with_farneback_stand_in(clips):
    """With Farnebäck as the supervisor, the ideal magnification scores a motion error below 30 %
    of the un-magnified copy's (measured 0.17) and a magnification error below 0.6 (measured 0.37;
    the copy's is near alpha - 1 = 2: required > 1.5, measured 2.0)."""
    orig, mag = clips["original"], clips["magnified"]
    ideal = supervisor_errors(orig, mag, ALPHA, _farneback_supervisor)
    copy = supervisor_errors(orig, orig, ALPHA, _farneback_supervisor)
    assert ideal["motion_error"] < 0.3 * copy["motion_error"]
    assert ideal["magnification_error"] < 0.6
    assert copy["magnification_error"] > 1.5


# --- true displacement between (fractional) frames -----------------------------------------------

def test_displacement_between_integer_and_fractional_frames(aligned_small_corpus):
    """Integer frames reproduce displacement_in_crop exactly; a fractional frame (and a fractional
    reference) is the linear interpolation of its integer neighbours (to 1e-5 px) and lies between
    them element-wise; frames outside the clip raise KeyError."""
    gt, aligned = aligned_small_corpus[0]
    crop = aligned.frames.shape[1]
    ref, f = gt.onset, gt.onset + 2
    exact = displacement_between(gt, aligned.box, crop, ref, f)
    assert exact.dtype == np.float32 and exact.shape == (crop, crop, 2)
    np.testing.assert_array_equal(exact, displacement_in_crop(gt, aligned.box, crop, ref, f))

    lo = displacement_in_crop(gt, aligned.box, crop, ref, f).astype(np.float64)
    hi = displacement_in_crop(gt, aligned.box, crop, ref, f + 1).astype(np.float64)
    assert np.abs(hi - lo).max() > 0.05, "the fixture should move between these frames"
    mid = displacement_between(gt, aligned.box, crop, ref, f + 0.25)
    np.testing.assert_allclose(mid, 0.75 * lo + 0.25 * hi, atol=1e-5)
    assert np.all(mid >= np.minimum(lo, hi) - 1e-5) and np.all(mid <= np.maximum(lo, hi) + 1e-5)

    r_lo = displacement_in_crop(gt, aligned.box, crop, ref + 1, f).astype(np.float64)
    both = displacement_between(gt, aligned.box, crop, ref + 0.5, f + 0.25)
    r_hi = displacement_in_crop(gt, aligned.box, crop, ref + 1, f + 1).astype(np.float64)
    expected = 0.5 * (0.75 * lo + 0.25 * hi) + 0.5 * (0.75 * r_lo + 0.25 * r_hi)
    np.testing.assert_allclose(both, expected, atol=1e-5)

    with pytest.raises(KeyError):
        displacement_between(gt, aligned.box, crop, ref, gt.frames[-1] + 0.5)
