"""EVM's temporal band against micro-expression motion: the response function against the filter
magnify_evm applies, the `me` preset's band, and EVM's gain along the synthetic ME profile."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd
import pytest
from test_evm import _complex_amplitude, _grating_clip, _grating_shift

from mexflow.magnify.conditions import parse_condition
from mexflow.magnify.evm import EVMParams, level_gains, magnify_evm
from mexflow.magnify.evm_band import (band_figure, dominant_frequency, iir_cutoff_hz, iir_rate_for_cutoff,
                                      me_band, me_params, me_profile, profile_gain, profile_spectrum,
                                      temporal_response)

WAVELENGTH = 32.0


@pytest.mark.parametrize("freq", [1.0, 3.0, 6.0, 10.0])
def test_iir_response_predicts_the_gain_on_a_translating_sinusoid(freq):
    """A 32-px grating translated by 0.2 px sin(2 pi f t) at 30 fps, EVM alpha 4 with every mid
    level at the full alpha (lambda_c 4): after the transient (60 frames) the displacement is
    multiplied by 1 + alpha H(f) with H = temporal_response; complex ratio within 5 % of it."""
    fps, alpha = 30.0, 4.0
    params = EVMParams(alpha=alpha, lambda_c=4.0, levels=6)
    n = 60 + int(round(6 * fps / freq))  # >= 6 periods after the transient
    clip = _grating_clip(n, fps, freq, 0.2, WAVELENGTH)
    out = magnify_evm(clip, params, fps=fps)
    omega, t = 2 * np.pi * freq / fps, np.arange(60, n)
    ratio = (_complex_amplitude(_grating_shift(out[60:], WAVELENGTH), omega, t)
             / _complex_amplitude(_grating_shift(clip[60:], WAVELENGTH), omega, t))
    predicted = 1 + alpha * temporal_response(params, [freq], fps)[0]
    assert abs(ratio - predicted) < 0.05 * abs(predicted), (ratio, predicted)


@pytest.mark.parametrize("freq, inside", [(3.0, True), (6.0, False)])
def test_ideal_response_predicts_the_gain_on_a_translating_sinusoid(freq, inside):
    """Ideal band 2..4 Hz, 60 frames at 30 fps (frequencies on FFT bins): 1 + alpha inside the
    band, 1 outside (within 10 %: ~4 % of the grating sits in the unamplified finest band)."""
    fps, alpha = 30.0, 4.0
    params = EVMParams(alpha=alpha, lambda_c=4.0, levels=6, temporal="ideal", low_hz=2.0, high_hz=4.0)
    assert temporal_response(params, [freq], fps)[0] == (1.0 if inside else 0.0)
    clip = _grating_clip(60, fps, freq, 0.2, WAVELENGTH)
    out = magnify_evm(clip, params, fps=fps)
    omega, t = 2 * np.pi * freq / fps, np.arange(60)
    ratio = abs(_complex_amplitude(_grating_shift(out, WAVELENGTH), omega, t)
                / _complex_amplitude(_grating_shift(clip, WAVELENGTH), omega, t))
    predicted = 1 + alpha * abs(temporal_response(params, [freq], fps)[0])
    assert abs(ratio / predicted - 1) < 0.10


@pytest.mark.parametrize("fps", [30.0, 200.0])
@pytest.mark.parametrize("f_hz", [0.5, 4.0, 12.0])
def test_iir_rate_puts_the_low_pass_minus_3db_at_the_cutoff(f_hz, fps):
    r = iir_rate_for_cutoff(f_hz, fps)
    z_inv = np.exp(-2j * np.pi * f_hz / fps)
    assert abs(abs(r / (1 - (1 - r) * z_inv)) - 1 / math.sqrt(2)) < 1e-9
    assert abs(iir_cutoff_hz(r, fps) - f_hz) < 1e-6
    assert iir_rate_for_cutoff(fps / 2, fps) == 1.0


def _index(fps: float, rises, falls) -> pd.DataFrame:
    rows = [{"clip_id": f"c{k}", "onset": 100, "apex": 100 + r, "offset": 100 + r + f, "fps": fps}
            for k, (r, f) in enumerate(zip(rises, falls))]
    return pd.DataFrame(rows)


# the synthetic generator's default rise 8..20 and fall 10..28 frames, at 200 fps; the same
# durations in seconds at 30 fps are 1.2..3 and 1.5..4.2 frames (rounded, at least 1)
RISES_200, FALLS_200 = [8, 11, 14, 17, 20], [10, 14, 19, 23, 28]
CASES = {200.0: (RISES_200, FALLS_200),
         30.0: ([max(1, round(r * 0.15)) for r in RISES_200], [max(1, round(f * 0.15)) for f in FALLS_200])}


@pytest.mark.parametrize("fps", [200.0, 30.0])
def test_me_band_contains_the_profiles_dominant_frequency(fps):
    """f0 = 1 / median onset->offset duration; band f0/8 .. min(4 f0, fps/2). Every clip's
    dominant frequency (peak of its mean-removed profile's spectrum) lies inside, and the median
    clip's is within 25 % of f0."""
    index = _index(fps, *CASES[fps])
    low, high = me_band(index)
    durations = (index["offset"] - index["onset"]) / fps
    f0 = 1 / durations.median()
    assert low == pytest.approx(f0 / 8) and high == pytest.approx(min(4 * f0, fps / 2))
    dominant = [dominant_frequency(r.onset, r.apex, r.offset, fps) for r in index.itertuples()]
    assert all(low <= f <= high for f in dominant), (low, high, dominant)
    assert abs(np.median(dominant) / f0 - 1) < 0.25
    params = me_params(EVMParams(), (low, high), fps)
    response = np.abs(temporal_response(params, [f0], fps)[0])
    assert response > 0.7  # the fundamental passes (default filter at 200 fps: see below)


def test_me_preset_passes_more_of_the_profile_than_the_default_band():
    """Predicted gain along the median synthetic profile (14 + 19 frames at 200 fps), alpha 10:
    default IIR band (r1 0.47, r2 0.1: 3.4..20.9 Hz) 1 + 10 x 0.33 = 4.25; me preset (0.76..24.2 Hz:
    r1 0.517, r2 0.0235) 1 + 10 x 0.75 = 8.51."""
    index = _index(200.0, *CASES[200.0])
    profile = me_profile(100, 114, 133)
    default = profile_gain(EVMParams(alpha=10.0), profile, 200.0)
    me = parse_condition("evm_me", {"method": "evm", "alpha": 10, "preset": "me"}, index=index)
    preset = profile_gain(me_params(me.evm, me.band, 200.0), profile, 200.0)
    assert 3.5 < default < 5.0 and 8.0 < preset < 9.0, (default, preset)


def _profile_clip(profile: np.ndarray, amplitude: float) -> np.ndarray:
    """The 32-px grating translated by amplitude x profile(t), (T, 96, 128) float32."""
    x = np.arange(128, dtype=np.float64)
    shifts = amplitude * profile
    rows = 128.0 + 60.0 * np.cos(2 * np.pi * (x[None, :] - shifts[:, None]) / WAVELENGTH)
    return np.repeat(rows[:, None, :], 96, axis=1).astype(np.float32)


@pytest.mark.parametrize("preset", [False, True], ids=["default", "me"])
def test_evm_gain_on_the_synthetic_me_profile_matches_the_prediction(preset):
    """The grating moved by 0.1 px x the median synthetic ME profile over its onset..offset window
    (33 frames at 200 fps), EVM alpha 10 with every mid level at alpha (lambda_c 4): the measured
    least-squares gain of the displacement along the profile matches `profile_gain` within 10 %
    (measured: default 4.17 vs 4.25 predicted, me preset 8.28 vs 8.51)."""
    fps = 200.0
    profile = me_profile(100, 114, 133)
    params = EVMParams(alpha=10.0, lambda_c=4.0, levels=6)
    if preset:
        params = me_params(params, me_band(_index(fps, *CASES[fps])), fps)
    assert (level_gains((96, 128), params)[1:-1] == 10.0).all()
    clip = _profile_clip(profile, 0.1)
    out = magnify_evm(clip, params, fps=fps)
    d_in, d_out = _grating_shift(clip, WAVELENGTH), _grating_shift(out, WAVELENGTH)
    measured = float(d_out @ profile / (profile @ profile)) / float(d_in @ profile / (profile @ profile))
    predicted = profile_gain(params, profile, fps)
    assert abs(measured / predicted - 1) < 0.10, (measured, predicted)


def test_profile_spectrum_and_band_figure(tmp_path):
    index = _index(200.0, *CASES[200.0])
    freqs = np.linspace(0, 100, 201)
    spectrum = profile_spectrum(index, freqs)
    assert spectrum[0] == pytest.approx(1.0) and spectrum.max() == pytest.approx(1.0)
    assert spectrum[freqs > 40].max() < 0.05  # concentrated well below 4 f0 (~24 Hz)
    specs = [parse_condition("evm", {"method": "evm", "alpha": 10}),
             parse_condition("evm_me", {"method": "evm", "alpha": 10, "preset": "me"}, index=index)]
    gains = band_figure(index, specs, tmp_path / "band.png", title="t")
    assert cv2.imread(str(tmp_path / "band.png")) is not None
    assert gains["evm_me"] > 1.5 * gains["evm"]
