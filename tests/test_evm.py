"""Eulerian Video Magnification: fast path against the plain reference, the spatial gains against
hand-computed values, and the magnified motion against first-order EVM theory."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from mexflow.magnify.evm import (RGB_TO_YIQ, EVMParams, level_gains, magnify_evm,
                                 magnify_evm_reference, max_levels)


def texture_clip(n_frames: int, height: int, width: int, rgb: bool, seed: int = 0) -> np.ndarray:
    """(T, H, W[, 3]) float32 in [0, 255]: a smooth random texture plus a smooth random pattern
    whose strength varies over time (random per frame), so every band has temporal content."""
    rng = np.random.default_rng(seed)
    shape = (height, width, 3) if rgb else (height, width)
    base = cv2.GaussianBlur(rng.uniform(30, 225, shape).astype(np.float32), (0, 0), 1.5)
    pattern = cv2.GaussianBlur(rng.normal(0, 40, shape).astype(np.float32), (0, 0), 2.0)
    weights = rng.normal(0, 0.5, n_frames).astype(np.float32)
    weights = weights.reshape((n_frames,) + (1,) * len(shape))
    return np.clip(base[None] + weights * pattern[None], 0, 255)


IDEAL = dict(temporal="ideal", low_hz=2.0, high_hz=6.0)
CASES = [  # (id, params, (T, H, W))
    ("defaults", EVMParams(), (12, 97, 75)),
    ("ideal", EVMParams(**IDEAL), (12, 97, 75)),
    ("clamped_gain_levels", EVMParams(levels=5, lambda_c=64.0), (10, 64, 63)),
    ("ideal_alpha20_chroma1", EVMParams(alpha=20.0, chroma_attenuation=1.0, levels=4, **IDEAL), (12, 41, 58)),
    ("two_levels_nothing_amplified", EVMParams(levels=2), (6, 33, 21)),
]


@pytest.mark.parametrize("rgb", [False, True], ids=["gray", "rgb"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_fast_matches_reference(case, rgb):
    _, params, (n_frames, height, width) = case
    clip = texture_clip(n_frames, height, width, rgb)
    clip_u8 = np.rint(clip).astype(np.uint8)

    fast = magnify_evm(clip_u8, params, fps=30.0)
    ref = magnify_evm_reference(clip_u8, params, fps=30.0)
    assert fast.shape == ref.shape == clip_u8.shape and fast.dtype == ref.dtype == np.uint8
    diff = np.abs(fast.astype(np.int16) - ref.astype(np.int16))
    assert diff.max() <= 1, "uint8 outputs may differ by one level (rounding) at most"
    assert (diff > 0).mean() < 1e-3

    fast_f = magnify_evm(clip, params, fps=30.0)
    ref_f = magnify_evm_reference(clip, params, fps=30.0)
    assert fast_f.dtype == ref_f.dtype == np.float32
    assert np.abs(fast_f - ref_f).max() < 1e-3  # in grey levels of [0, 255]

    changed = np.abs(ref_f - clip).max()
    if level_gains((height, width), params).any():
        assert changed > 2.0, "the test clip must actually be magnified"
    else:
        assert changed < 1e-3


def test_level_gains_hand_computed():
    # 224 x 224, defaults (alpha 10, lambda_c 16, 6 levels): delta = 16/8/11 = 0.181818;
    # lambda at the coarsest level 5 = sqrt(224^2 + 224^2)/3 = 105.594613, halving towards level 0.
    # level 1: lambda = 105.594613/16 = 6.599663; 2*(6.599663/0.181818/8 - 1) = 7.074537
    # levels 2..4: lambda >= 13.199327 gives >= 16.149 > alpha, so 10.
    np.testing.assert_allclose(level_gains((224, 224), EVMParams()),
                               [0.0, 7.074537, 10.0, 10.0, 10.0, 0.0], atol=1e-5)
    # 97 x 75: coarsest lambda = sqrt(15034)/3 = 40.871070; level 1: 2.554442 -> 2*(1.756179-1)
    # = 1.512358; level 2: 5.108884 -> 2*(3.512358-1) = 5.024715; levels 3, 4 -> alpha.
    np.testing.assert_allclose(level_gains((97, 75), EVMParams()),
                               [0.0, 1.512358, 5.024715, 10.0, 10.0, 0.0], atol=1e-5)
    # 64 x 64, 5 levels, lambda_c 64: delta = 64/8/11 = 0.727273, coarsest lambda = 30.169889;
    # level 1: 3.771236 -> 2*(0.648181-1) < 0 -> clamped to 0; level 2: 7.542472 -> 0.592725;
    # level 3: 15.084944 -> 3.185450.
    np.testing.assert_allclose(level_gains((64, 64), EVMParams(levels=5, lambda_c=64.0)),
                               [0.0, 0.0, 0.592725, 3.185450, 0.0], atol=1e-5)


def test_level_gains_lambda_runs_from_the_coarsest_level():
    """The wavelength is largest at the coarsest level, so gains never fall towards coarser levels;
    the reversed sequence (a common port's bug) would give [0, 10, 10, 10, 7.07, 0] at 224^2."""
    gains = level_gains((224, 224), EVMParams())
    assert gains[1] < gains[4] == 10.0
    for shape, params in [((224, 224), EVMParams()), ((480, 640), EVMParams(lambda_c=80.0)),
                          ((97, 75), EVMParams(levels=6, alpha=50.0))]:
        mid = level_gains(shape, params)[1:-1]
        assert np.all(np.diff(mid) >= 0) and mid[0] < mid[-1]
    g = level_gains((97, 75), EVMParams())
    assert g[0] == 0.0 and g[-1] == 0.0


@pytest.mark.parametrize("rgb", [False, True], ids=["gray", "rgb"])
@pytest.mark.parametrize("temporal", ["iir", "ideal"])
def test_static_clip_is_unchanged(rgb, temporal):
    one = texture_clip(1, 71, 80, rgb, seed=3)[0]
    clip = np.repeat(one[None], 16, axis=0)
    params = EVMParams(**IDEAL) if temporal == "ideal" else EVMParams()
    clip_u8 = np.rint(clip).astype(np.uint8)
    np.testing.assert_array_equal(magnify_evm(clip_u8, params, fps=30.0), clip_u8)
    assert np.abs(magnify_evm(clip, params, fps=30.0) - clip).max() < 1e-3


def test_first_frame_is_the_input_frame():
    clip = np.rint(texture_clip(8, 70, 90, rgb=True, seed=5)).astype(np.uint8)
    out = magnify_evm(clip, EVMParams())
    np.testing.assert_array_equal(out[0], clip[0])
    assert np.abs(out[1:].astype(int) - clip[1:]).max() > 5


def test_iir_temporal_response_matches_the_recursion():
    """A fixed pattern scaled by s(t): by linearity the added signal is h(t) * A(x), with h the
    scalar IIR band-pass of s (both low-passes start at s(0))."""
    params = EVMParams(alpha=5.0)
    rng = np.random.default_rng(7)
    pattern = cv2.GaussianBlur(rng.normal(0, 3, (72, 88)).astype(np.float32), (0, 0), 2.0)
    s = np.array([0.3, 0.3, 0.3, 1.0, 1.0, 1.0, -0.5, -0.5, 0.2, 0.2, 0.2, 0.2])
    clip = (128.0 + s[:, None, None] * pattern[None]).astype(np.float32)
    added = magnify_evm(clip, params) - clip

    lp1 = lp2 = s[0]
    h = [0.0]
    for value in s[1:]:
        lp1 = (1 - params.r1) * lp1 + params.r1 * value
        lp2 = (1 - params.r2) * lp2 + params.r2 * value
        h.append(lp1 - lp2)
    h = np.array(h)
    t_max = int(np.argmax(np.abs(h)))
    spatial = added[t_max] / h[t_max]
    assert np.abs(spatial).max() > 1.0
    np.testing.assert_allclose(added, h[:, None, None] * spatial[None], atol=1e-3)


def _grating_clip(n_frames: int, fps: float, freq_hz: float, amplitude_px: float, wavelength_px: float,
                  height: int = 96, width: int = 128) -> np.ndarray:
    """A vertical cosine grating (128 +- 60 grey levels) translated along x by
    amplitude_px * sin(2 pi freq_hz t / fps); (T, H, W) float32."""
    x = np.arange(width, dtype=np.float64)
    shifts = amplitude_px * np.sin(2 * np.pi * freq_hz * np.arange(n_frames) / fps)
    rows = 128.0 + 60.0 * np.cos(2 * np.pi * (x[None, :] - shifts[:, None]) / wavelength_px)
    return np.repeat(rows[:, None, :], height, axis=1).astype(np.float32)


def _grating_shift(frames: np.ndarray, wavelength_px: float, margin: int = 16) -> np.ndarray:
    """Per-frame translation (px along x) of the grating, from the phase of its Fourier component,
    measured away from the borders."""
    x = np.arange(frames.shape[2], dtype=np.float64)[margin:-margin]
    k = 2 * np.pi / wavelength_px
    profile = frames[:, margin:-margin, margin:-margin].mean(axis=1)
    return -np.angle((profile * np.exp(-1j * k * x)).sum(axis=1)) / k


def _complex_amplitude(signal: np.ndarray, omega: float, t: np.ndarray) -> complex:
    return 2 * complex(np.mean(signal * np.exp(-1j * omega * t)))


def test_ideal_filter_magnifies_subpixel_motion_by_one_plus_alpha():
    """A 32-px grating moving by 0.2 px * sin(2 pi 3 Hz t) at 30 fps (60 frames = 6 periods),
    ideal band 2..4 Hz. With lambda_c 4 every mid level gets the full alpha = 4 (checked), so
    first-order EVM predicts a displacement amplitude of (1 + alpha) * 0.2 = 1.0 px. The measured
    value is a little lower (~4.86x) because ~4 % of a 32-px grating sits in the unamplified finest
    band; asserted within 10 % of 1 + alpha."""
    fps, freq, amplitude, wavelength, alpha = 30.0, 3.0, 0.2, 32.0, 4.0
    clip = _grating_clip(60, fps, freq, amplitude, wavelength)
    params = EVMParams(alpha=alpha, lambda_c=4.0, levels=6, temporal="ideal", low_hz=2.0, high_hz=4.0)
    np.testing.assert_allclose(level_gains(clip.shape[1:], params), [0, alpha, alpha, alpha, alpha, 0])

    out = magnify_evm(clip, params, fps=fps)
    t = np.arange(len(clip))
    omega = 2 * np.pi * freq / fps
    a_in = _complex_amplitude(_grating_shift(clip, wavelength), omega, t)
    a_out = _complex_amplitude(_grating_shift(out, wavelength), omega, t)
    assert abs(abs(a_in) - amplitude) < 0.01
    ratio = a_out / a_in
    assert abs(ratio.imag) < 0.05 * abs(ratio)  # the ideal filter adds no phase
    assert abs(ratio.real / (1 + alpha) - 1) < 0.10


def test_iir_filter_magnifies_motion_by_its_frequency_response():
    """Same grating, IIR filter (r1 0.47, r2 0.1): in steady state the displacement is multiplied
    by 1 + alpha * H(e^{i w}), H(z) = r1/(1-(1-r1)/z) - r2/(1-(1-r2)/z) the band-pass of the
    recursion, w = 2 pi 3/30 (|H| = 0.59, so about 3.26x, with a phase lag). Frames before 60
    (transient, 0.9^60 ~ 0.002) are skipped; complex ratio within 5 % of the prediction."""
    fps, freq, amplitude, wavelength, alpha = 30.0, 3.0, 0.2, 32.0, 4.0
    clip = _grating_clip(150, fps, freq, amplitude, wavelength)
    params = EVMParams(alpha=alpha, lambda_c=4.0, levels=6)
    out = magnify_evm(clip, params, fps=fps)

    omega = 2 * np.pi * freq / fps
    z_inv = np.exp(-1j * omega)
    response = params.r1 / (1 - (1 - params.r1) * z_inv) - params.r2 / (1 - (1 - params.r2) * z_inv)
    predicted = 1 + alpha * response
    t = np.arange(60, len(clip))
    a_in = _complex_amplitude(_grating_shift(clip[60:], wavelength), omega, t)
    a_out = _complex_amplitude(_grating_shift(out[60:], wavelength), omega, t)
    assert abs(a_out / a_in - predicted) < 0.05 * abs(predicted)


def test_chroma_attenuation_scales_the_added_iq():
    clip = texture_clip(10, 67, 70, rgb=True, seed=9)
    clip = 80.0 + 0.4 * clip  # keep away from clipping so that output - input is the added signal

    def added_yiq(chroma):
        out = magnify_evm(clip, EVMParams(chroma_attenuation=chroma, alpha=5.0))
        return (out.astype(np.float64) - clip) @ RGB_TO_YIQ.T

    full, none, tenth = added_yiq(1.0), added_yiq(0.0), added_yiq(0.1)
    assert np.abs(full[..., 0]).max() > 5.0 and np.abs(full[..., 1:]).max() > 1.0
    assert np.abs(none[..., 1:]).max() < 1e-3
    np.testing.assert_allclose(none[..., 0], full[..., 0], atol=1e-3)  # Y is untouched
    np.testing.assert_allclose(tenth[..., 1:], 0.1 * full[..., 1:], atol=1e-3)
    ref_none = (magnify_evm_reference(clip, EVMParams(chroma_attenuation=0.0, alpha=5.0)) - clip) @ RGB_TO_YIQ.T
    assert np.abs(ref_none[..., 1:]).max() < 1e-3


def test_gray_output_keeps_dtype_and_range():
    clip = np.rint(texture_clip(6, 66, 70, rgb=False, seed=2)).astype(np.uint8)
    out = magnify_evm(clip, EVMParams(alpha=50.0))
    assert out.dtype == np.uint8 and out.shape == clip.shape
    float_out = magnify_evm(clip.astype(np.float32), EVMParams(alpha=50.0))
    assert float_out.dtype == np.float32 and float_out.min() >= 0.0 and float_out.max() <= 255.0
    assert float_out.max() == 255.0 or float_out.min() == 0.0  # alpha 50 saturates somewhere


def test_from_dict():
    p = EVMParams.from_dict({"method": "evm", "alpha": 15, "levels": 6, "temporal": "iir",
                             "low_hz": None, "high_hz": None})
    assert p == EVMParams(alpha=15.0) and isinstance(p.alpha, float)
    p = EVMParams.from_dict({"temporal": "ideal", "low_hz": 0.5, "high_hz": 3})
    assert (p.low_hz, p.high_hz) == (0.5, 3.0)
    with pytest.raises(ValueError, match="unknown EVM parameter.*'gamma'"):
        EVMParams.from_dict({"alpha": 10, "gamma": 1})


@pytest.mark.parametrize("kwargs, message", [
    (dict(r1=0.1, r2=0.1), "r1 must be > r2"),
    (dict(r1=0.05, r2=0.1), "r1 must be > r2"),
    (dict(r1=1.5), r"r1 and r2 must lie in \(0, 1\]"),
    (dict(alpha=-1.0), "alpha must be >= 0"),
    (dict(alpha=float("nan")), "alpha must be >= 0"),
    (dict(levels=1), "levels must be >= 2"),
    (dict(levels=3.5), "levels must be an integer"),
    (dict(lambda_c=0.0), "lambda_c must be > 0"),
    (dict(chroma_attenuation=-0.1), "chroma_attenuation must be >= 0"),
    (dict(temporal="butterworth"), "temporal must be one of"),
    (dict(temporal="ideal"), "needs low_hz and high_hz"),
    (dict(temporal="ideal", low_hz=4.0, high_hz=2.0), "0 <= low_hz < high_hz"),
    (dict(low_hz=1.0, high_hz=2.0), "apply only to temporal='ideal'"),
    (dict(alpha="ten"), "alpha must be a number"),
])
def test_bad_parameters_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EVMParams(**kwargs)


def test_bad_calls_raise():
    clip = np.zeros((4, 40, 40), np.uint8)
    # 40 -> 20 -> 10 -> 5 -> 3: four reductions are allowed, so at most 5 levels
    assert max_levels((40, 40)) == 5
    magnify_evm(clip, EVMParams(levels=5))
    with pytest.raises(ValueError, match="levels=6 is too many for 40x40"):
        magnify_evm(clip, EVMParams(levels=6))
    with pytest.raises(ValueError, match="levels=6 is too many"):
        level_gains((40, 40), EVMParams(levels=6))
    with pytest.raises(ValueError, match="levels=6 is too many"):
        magnify_evm_reference(clip, EVMParams(levels=6))
    ideal = EVMParams(levels=3, **IDEAL)
    with pytest.raises(ValueError, match="needs the frame rate"):
        magnify_evm(clip, ideal)
    with pytest.raises(ValueError, match="exceeds the Nyquist frequency 5.0 Hz"):
        magnify_evm(clip, ideal, fps=10.0)
    with pytest.raises(ValueError, match="holds no frequency bin"):
        magnify_evm(clip, EVMParams(levels=3, temporal="ideal", low_hz=2.0, high_hz=3.0), fps=30.0)
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\) RGB or \(T, H, W\) gray"):
        magnify_evm(np.zeros((4, 40, 40, 2), np.uint8), EVMParams(levels=3))
    with pytest.raises(ValueError, match="uint8, or float32"):
        magnify_evm(clip.astype(np.int32), EVMParams(levels=3))


def test_max_levels_matches_reference_auto_height():
    # the reference's 'auto' height: 7 levels at 224^2 and 8 at 640x480
    assert max_levels((224, 224)) == 7 and max_levels((480, 640)) == 8
    # 8 levels at 640x480: level 1 lambda = 800/3/64 = 4.166667 -> 2*(4.166667*11/16 - 1) = 3.729167
    assert math.isclose(level_gains((480, 640), EVMParams(levels=8))[1], 3.7291667, abs_tol=1e-6)
