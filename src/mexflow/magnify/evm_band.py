"""EVM's temporal band against the micro-expression motion it is meant to pass.

EVM (`mexflow.magnify.evm`) amplifies only what its temporal filter passes: to first order the
displacement d(t) of a pattern comes out as d + alpha * (h * d), h the filter's impulse response.
A micro-expression in its onset..offset window is one smooth rise and fall (the synthetic
generator's raised-cosine profile, `mexflow.synthetic.corpus.temporal_profile`), a one-sided
event whose spectrum lies in [0, ~2/D] Hz (D the onset->offset duration in seconds); the default
IIR band (r1 0.47, r2 0.1: about 3.4..21 Hz at 200 fps) removes most of it, so the gain along the
true motion stays far below alpha. This module computes

- `temporal_response`: the frequency response of the filter `magnify_evm` applies (IIR: the
  difference of two first-order low-passes; ideal: 1 inside [low_hz, high_hz], 0 outside);
- `profile_spectrum`: the amplitude spectrum of the index's onset->apex->offset profiles;
- `profile_gain`: the gain of a filter along one profile (what EVM's effective alpha is, on the
  levels that get the full alpha);
- `me_band` / `resolve_me_preset`: the `me` preset, a band derived from the corpus.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from mexflow.magnify.evm import EVMParams
from mexflow.synthetic.corpus import temporal_profile

__all__ = ["ME_LOW_DIVISOR", "ME_HIGH_MULTIPLE", "iir_rate_for_cutoff", "iir_cutoff_hz", "temporal_response",
           "me_profile", "profile_spectrum", "dominant_frequency", "profile_gain", "median_duration_s",
           "corpus_fps", "me_band", "me_params", "resolve_me_preset", "PRESETS"]

PRESETS = ("me",)
ME_LOW_DIVISOR = 8.0    # low cut-off  = f0 / 8
ME_HIGH_MULTIPLE = 4.0  # high cut-off = 4 f0 (dropped at the Nyquist frequency)


def iir_rate_for_cutoff(f_hz: float, fps: float) -> float:
    """Rate r of the first-order low-pass y_t = (1 - r) y_{t-1} + r x_t whose gain is 1/sqrt(2)
    (-3 dB) at f_hz: with w = 2 pi f / fps, b = 4 - 2 cos w and a = (b - sqrt(b^2 - 4)) / 2
    (the root in (0, 1) of a^2 - b a + 1 = 0), r = 1 - a. 1.0 (no low-pass) at or above the
    Nyquist frequency, where no first-order rate reaches -3 dB."""
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if not f_hz > 0:
        raise ValueError(f"cut-off must be > 0 Hz, got {f_hz}")
    if f_hz >= fps / 2.0:
        return 1.0
    w = 2.0 * math.pi * f_hz / fps
    b = 4.0 - 2.0 * math.cos(w)
    return 1.0 - (b - math.sqrt(b * b - 4.0)) / 2.0


def iir_cutoff_hz(r: float, fps: float) -> float:
    """The -3 dB frequency of the first-order low-pass of rate r (inverse of
    `iir_rate_for_cutoff`); the Nyquist frequency when the gain never falls to -3 dB."""
    a = 1.0 - r
    if a <= 0:
        return fps / 2.0
    c = (1.0 + a * a - 2.0 * r * r) / (2.0 * a)
    if c <= -1.0:
        return fps / 2.0
    return math.acos(min(1.0, c)) * fps / (2.0 * math.pi)


def temporal_response(params: EVMParams, freqs_hz, fps: float) -> np.ndarray:
    """Complex frequency response of the temporal filter that `magnify_evm` applies, at freqs_hz
    (0..fps/2) for a clip at `fps`.

    iir: H(z) = r1 / (1 - (1 - r1) z^-1) - r2 / (1 - (1 - r2) z^-1), z = exp(i 2 pi f / fps), the
    steady-state response of lowpass1 - lowpass2 (both low-passes start at frame 0, so a finite
    clip adds a transient). ideal: 1 for low_hz <= f <= high_hz, else 0 (a sinusoid on an FFT bin
    of the clip passes at exactly this gain; off-bin frequencies leak into neighbouring bins).
    """
    f = np.asarray(freqs_hz, dtype=np.float64)
    if params.temporal == "ideal":
        return ((f >= params.low_hz) & (f <= params.high_hz)).astype(np.complex128)
    z_inv = np.exp(-2j * np.pi * f / fps)
    return params.r1 / (1 - (1 - params.r1) * z_inv) - params.r2 / (1 - (1 - params.r2) * z_inv)


def me_profile(onset: int, apex: int, offset: int) -> np.ndarray:
    """The displacement profile over the EVM window onset..offset (frames, inclusive): raised-
    cosine rise 0 -> 1 at apex, raised-cosine fall to 0 at offset (the synthetic generator's
    `temporal_profile`). (offset - onset + 1,) float64."""
    onset, apex, offset = int(onset), int(apex), int(offset)
    if not onset <= apex <= offset or offset == onset:
        raise ValueError(f"need onset <= apex <= offset and onset < offset, got {onset}, {apex}, {offset}")
    frames = np.arange(onset, offset + 1, dtype=np.float32)
    return temporal_profile(frames, onset, apex, offset).astype(np.float64)


def _dtft(x: np.ndarray, freqs_hz: np.ndarray, fps: float) -> np.ndarray:
    n = np.arange(len(x))
    return np.exp(-2j * np.pi * np.outer(freqs_hz, n) / fps) @ x / fps


def profile_spectrum(index: pd.DataFrame, freqs_hz) -> np.ndarray:
    """Mean over the index's clips of the amplitude spectrum |P(f)| of each clip's profile
    (`me_profile` sampled at the clip's fps; discrete-time Fourier transform, in seconds), each
    normalised to 1 at 0 Hz (its peak), 0 above the clip's Nyquist frequency. (len(freqs),)"""
    f = np.asarray(freqs_hz, dtype=np.float64)
    rows = _valid_rows(index)
    total = np.zeros(len(f))
    for onset, apex, offset, fps in rows:
        p = np.abs(_dtft(me_profile(onset, apex, offset), f, fps))
        p /= p.max() if p.max() > 0 else 1.0
        p[f > fps / 2.0] = 0.0
        total += p
    return total / len(rows)


def dominant_frequency(onset: int, apex: int, offset: int, fps: float, resolution: int = 4096) -> float:
    """The frequency (Hz) of the peak of the amplitude spectrum of the profile's variation over
    its window (the profile minus its mean: the part a filter without DC gain can pass). For a
    symmetric rise/fall this is the profile's fundamental 1 / D, D = (offset - onset) / fps."""
    p = me_profile(onset, apex, offset)
    p = p - p.mean()
    spectrum = np.abs(np.fft.rfft(p, n=max(resolution, 8 * len(p))))
    freqs = np.fft.rfftfreq(max(resolution, 8 * len(p)), d=1.0 / fps)
    return float(freqs[int(np.argmax(spectrum))])


def _filter(params: EVMParams, x: np.ndarray, fps: float) -> np.ndarray:
    """The temporal filter of `magnify_evm` on a 1-D signal (exactly, transient included)."""
    if params.temporal == "iir":
        lp1 = lp2 = x[0]
        out = np.zeros_like(x)
        for t in range(1, len(x)):
            lp1 = (1 - params.r1) * lp1 + params.r1 * x[t]
            lp2 = (1 - params.r2) * lp2 + params.r2 * x[t]
            out[t] = lp1 - lp2
        return out
    freqs = np.fft.rfftfreq(len(x), d=1.0 / fps)
    spectrum = np.fft.rfft(x)
    spectrum[~((freqs >= params.low_hz) & (freqs <= params.high_hz))] = 0
    return np.fft.irfft(spectrum, n=len(x))


def profile_gain(params: EVMParams, profile: np.ndarray, fps: float) -> float:
    """EVM's predicted effective alpha along a displacement profile d (first order, on pyramid
    levels with the full gain alpha): the least-squares gain of d + alpha * filter(d) on d,
    i.e. 1 + alpha <filter(d), d> / <d, d>. 1 + alpha when the filter passes d unchanged."""
    d = np.asarray(profile, dtype=np.float64)
    return 1.0 + params.alpha * float(_filter(params, d, fps) @ d / (d @ d))


def _valid_rows(index: pd.DataFrame) -> list[tuple[int, int, int, float]]:
    rows = [(int(r.onset), int(r.apex), int(r.offset), float(r.fps))
            for r in index[["onset", "apex", "offset", "fps"]].itertuples(index=False)
            if r.offset > r.onset and r.onset <= r.apex <= r.offset and r.fps > 0]
    if not rows:
        raise ValueError("the index has no clip with onset <= apex <= offset, onset < offset and fps > 0")
    return rows


def median_duration_s(index: pd.DataFrame) -> float:
    """Median onset->offset duration in seconds, (offset - onset) / fps, over the index's clips."""
    return float(np.median([(off - on) / fps for on, _, off, fps in _valid_rows(index)]))


def corpus_fps(index: pd.DataFrame) -> float:
    """The corpus frame rate: the median of the index's `fps` column."""
    return float(np.median([fps for *_, fps in _valid_rows(index)]))


def me_band(index: pd.DataFrame) -> tuple[float, float]:
    """The `me` preset's pass band (low_hz, high_hz) for a corpus.

    With D the median onset->offset duration (seconds) of the index's clips and f0 = 1 / D the
    fundamental of the rise/fall profile (one raised-cosine period across onset..offset; its
    spectrum's main lobe spans 0..2 f0):

        low_hz  = f0 / 8   (the slow reference: lowpass2's time constant ~1.3 D, so it barely
                            follows the expression but still removes drift slower than that)
        high_hz = 4 f0     (beyond the main lobe), capped at the Nyquist frequency fps / 2.

    The band therefore contains f0 at any frame rate (e.g. 200 fps, D = 0.165 s: 0.76..24.2 Hz;
    30 fps, same D: 0.76..15 Hz).
    """
    f0 = 1.0 / median_duration_s(index)
    nyquist = corpus_fps(index) / 2.0
    return f0 / ME_LOW_DIVISOR, min(ME_HIGH_MULTIPLE * f0, nyquist)


def me_params(base: EVMParams, band: tuple[float, float], fps: float) -> EVMParams:
    """`base` with its temporal filter set to the band (Hz) at `fps`. iir: r2 = the rate of
    the low cut-off, r1 = that of the high cut-off (1, no low-pass, at the Nyquist frequency);
    ideal: low_hz / high_hz = the band, high_hz capped at fps / 2."""
    low, high = float(band[0]), float(band[1])
    if base.temporal == "ideal":
        return dataclasses.replace(base, low_hz=low, high_hz=min(high, fps / 2.0))
    r1 = iir_rate_for_cutoff(high, fps)
    r2 = iir_rate_for_cutoff(low, fps)
    return dataclasses.replace(base, r1=r1, r2=r2)


def resolve_me_preset(spec: dict, index: pd.DataFrame) -> tuple[dict, tuple[float, float]]:
    """A condition spec with `preset: me` -> (the spec without `preset`, the band in Hz). For
    temporal 'ideal' the band is written as low_hz / high_hz; for 'iir' the rates are set per
    clip from the band and the clip's fps (`me_params`)."""
    spec = dict(spec)
    preset = spec.pop("preset", None)
    if preset not in PRESETS:
        raise ValueError(f"unknown EVM preset {preset!r}; known: {list(PRESETS)}")
    for key in ("r1", "r2", "low_hz", "high_hz"):
        if key in spec:
            raise ValueError(f"EVM preset {preset!r} sets the temporal band; remove {key!r}")
    band = me_band(index)
    if spec.get("temporal", "iir") == "ideal":
        spec["low_hz"], spec["high_hz"] = band
    return spec, band


def condition_params(spec, fps: float) -> EVMParams:
    """The EVMParams a parsed EVM condition (`ConditionSpec`) applies to a clip at `fps`."""
    return me_params(spec.evm, spec.band, fps) if spec.band is not None else spec.evm


def median_profile_gain(spec, index: pd.DataFrame) -> float:
    """Median over the index's clips of `profile_gain` of a parsed EVM condition."""
    return float(np.median([profile_gain(condition_params(spec, fps), me_profile(on, ap, off), fps)
                            for on, ap, off, fps in _valid_rows(index)]))


def band_figure(index: pd.DataFrame, specs: list, out_png, title: str = "", n_freqs: int = 400) -> dict:
    """The EVM band figure: left, the amplitude spectrum of the index's ME profiles (mean over
    clips, 1 at 0 Hz) and |H(f)| of every parsed EVM condition in `specs` at the corpus frame rate;
    right, the median-duration profile over its window and the displacement each condition's filter
    makes of it, d + alpha h*d, over 1 + alpha (1 = every frame magnified by the full alpha).
    Returns {condition: median predicted gain along the profiles} (what the legend shows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fps = corpus_fps(index)
    duration = median_duration_s(index)
    freqs = np.linspace(0.0, fps / 2.0, n_freqs)
    spectrum = profile_spectrum(index, freqs)
    gains = {s.name: median_profile_gain(s, index) for s in specs}

    fig, (ax, ax_t) = plt.subplots(1, 2, figsize=(12, 5.5 + 0.18 * len(specs)), layout="constrained",
                                   gridspec_kw={"width_ratios": [3, 2]})
    ax.fill_between(freqs, spectrum, color="0.85", label="ME profile |P(f)| (mean over clips)")
    ax.axvline(1.0 / duration, color="0.4", ls=":", label=f"f0 = 1 / median duration = {1 / duration:.3g} Hz")
    rows = _valid_rows(index)
    median_row = min(rows, key=lambda r: abs((r[2] - r[0]) / r[3] - duration))
    on, ap, off, clip_fps = median_row
    d = me_profile(on, ap, off)
    t = np.arange(len(d)) / clip_fps
    ax_t.plot(t, d, color="0.3", lw=2, label="profile d (x alpha = full magnification)")
    for s in specs:
        params = condition_params(s, fps)
        band = (f"(low-pass cut-offs r2 {iir_cutoff_hz(params.r2, fps):.3g}, r1 {iir_cutoff_hz(params.r1, fps):.3g} Hz)"
                if params.temporal == "iir" else f"{params.low_hz:.3g}..{params.high_hz:.3g} Hz")
        line, = ax.plot(freqs, np.abs(temporal_response(params, freqs, fps)), lw=2,
                        label=f"{s.name}: |H(f)| {params.temporal} {band}, gain on profiles {gains[s.name]:.2f} "
                              f"(alpha {params.alpha:g})")
        p_clip = condition_params(s, clip_fps)
        out = d + p_clip.alpha * _filter(p_clip, d, clip_fps)
        ax_t.plot(t, out / (1.0 + p_clip.alpha), color=line.get_color(), lw=1.5,
                  label=f"{s.name}: (d + alpha h*d) / (1 + alpha)")
    ax.set_xlabel("temporal frequency (Hz)")
    ax.set_ylabel("gain / normalised amplitude")
    ax.set_xlim(0, fps / 2.0)
    ax.set_ylim(0, 1.05)
    # below the axes: inside, the legend hid the filters' responses where they are largest
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
    ax.set_title(f"{title} EVM temporal band vs ME motion spectrum ({fps:g} fps)".strip())
    ax_t.set_xlabel("time from onset (s)")
    ax_t.set_title(f"median-duration clip ({off - on} frames at {clip_fps:g} fps)")
    ax_t.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return gains
