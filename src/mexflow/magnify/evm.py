"""Eulerian Video Magnification (Wu et al. 2012), as in the authors' reference implementation
("amplify_spatial_lpyr_temporal_iir" and its ideal band-pass variant); REFERENCES §4 and §1.4.

Per frame: RGB -> YIQ (NTSC matrix; gray frames are Y only), Laplacian pyramid with `levels`
levels (level 0 = finest band, level `levels`-1 = low-pass residual), a temporal band-pass of
every pyramid coefficient over the clip (IIR difference of two first-order low-passes, or an
ideal FFT band-pass), each band scaled by its gain (`level_gains`), the scaled bands collapsed,
I and Q of that added signal scaled by `chroma_attenuation`, added to the input, back to RGB,
clipped to the valid range.

`magnify_evm` is the fast path and `magnify_evm_reference` the plain per-frame oracle. The fast
path relies only on linearity, so both agree up to floating-point rounding:
- every operator involved (pyramid, temporal filter, gains, YIQ, chroma scaling) is linear and
  acts on a separate axis (space, time, colour), so they commute;
- the amplified band sum  sum_k g_k * (G_k - up(G_{k+1}))  over Gaussian levels G_k telescopes to
  R_1 with R_k = (g_k - g_{k-1}) G_k + up(R_{k+1}), so only levels whose gain differs from the next
  finer one's are touched, one pyrUp per level, and nothing at full resolution but one pyrDown
  and one pyrUp (level 0 and the residual have gain 0);
- the temporal filter is therefore run once, on R_1 (a quarter of the frame), and the colour
  step is one 3x3 matrix  YIQ->RGB . diag(1, c, c) . RGB->YIQ  applied there too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import cv2
import numpy as np
import scipy.fft

__all__ = ["EVMParams", "RGB_TO_YIQ", "YIQ_TO_RGB", "TEMPORAL_FILTERS", "pyramid_sizes", "max_levels",
           "level_gains", "magnify_evm", "magnify_evm_reference"]

# NTSC RGB -> YIQ (rows Y, I, Q), as MATLAB's rgb2ntsc; the inverse is the exact matrix inverse.
RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                       [0.596, -0.274, -0.322],
                       [0.211, -0.523, 0.312]])
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)
TEMPORAL_FILTERS = ("iir", "ideal")
_FILTER_TAPS = 5  # cv2.pyrDown's binomial kernel: an image narrower than this is not reduced further


@dataclass(frozen=True)
class EVMParams:
    """EVM settings (defaults: the Emotion Engine's, REFERENCES §1.4).

    alpha: motion amplification factor (>= 0). levels: pyramid levels in total, residual included.
    lambda_c: cut-off spatial wavelength in pixels (bands with a shorter representative wavelength
    get less than alpha). r1 > r2: IIR low-pass rates per frame, in (0, 1]. chroma_attenuation:
    factor on I and Q of the added signal. exaggeration: boost over the paper's bound (2 in the
    reference code). temporal: "iir" or "ideal"; low_hz / high_hz: pass band of "ideal" in Hz,
    bounds included; positive and mirrored negative frequencies are both kept, so a sinusoid in
    the band passes at unit gain.
    """

    alpha: float = 10.0
    levels: int = 6
    lambda_c: float = 16.0
    r1: float = 0.47
    r2: float = 0.1
    chroma_attenuation: float = 0.1
    exaggeration: float = 2.0
    temporal: str = "iir"
    low_hz: float | None = None
    high_hz: float | None = None

    def __post_init__(self):
        for name in ("alpha", "lambda_c", "r1", "r2", "chroma_attenuation", "exaggeration"):
            object.__setattr__(self, name, _as_float(name, getattr(self, name)))
        for name in ("low_hz", "high_hz"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _as_float(name, getattr(self, name)))
        levels = self.levels
        try:
            integral = not isinstance(levels, (bool, str)) and float(levels) == int(levels)
        except (TypeError, ValueError, OverflowError):
            integral = False
        if not integral:
            raise ValueError(f"EVM levels must be an integer, got {levels!r}")
        object.__setattr__(self, "levels", int(levels))

        if self.levels < 2:
            raise ValueError(f"EVM levels must be >= 2 (one band and the low-pass residual), got {self.levels}")
        if not self.alpha >= 0:
            raise ValueError(f"EVM alpha must be >= 0, got {self.alpha}")
        if not self.lambda_c > 0:
            raise ValueError(f"EVM lambda_c must be > 0 pixels, got {self.lambda_c}")
        if not self.exaggeration >= 0:
            raise ValueError(f"EVM exaggeration must be >= 0, got {self.exaggeration}")
        if not self.chroma_attenuation >= 0:
            raise ValueError(f"EVM chroma_attenuation must be >= 0, got {self.chroma_attenuation}")
        if self.temporal not in TEMPORAL_FILTERS:
            raise ValueError(f"EVM temporal must be one of {TEMPORAL_FILTERS}, got {self.temporal!r}")
        if self.temporal == "iir":
            if not (0 < self.r2 <= 1 and 0 < self.r1 <= 1):
                raise ValueError(f"EVM r1 and r2 must lie in (0, 1], got r1={self.r1}, r2={self.r2}")
            if not self.r1 > self.r2:
                raise ValueError(f"EVM r1 must be > r2 (r1 sets the upper, r2 the lower cut-off), "
                                 f"got r1={self.r1} <= r2={self.r2}")
            if self.low_hz is not None or self.high_hz is not None:
                raise ValueError("EVM low_hz/high_hz apply only to temporal='ideal' "
                                 f"(got low_hz={self.low_hz}, high_hz={self.high_hz} with temporal='iir')")
        else:
            if self.low_hz is None or self.high_hz is None:
                raise ValueError("EVM temporal='ideal' needs low_hz and high_hz (the pass band in Hz)")
            if not 0 <= self.low_hz < self.high_hz:
                raise ValueError(f"EVM ideal band needs 0 <= low_hz < high_hz, "
                                 f"got low_hz={self.low_hz}, high_hz={self.high_hz}")

    @classmethod
    def from_dict(cls, d: dict) -> "EVMParams":
        """From a config mapping; a "method" key is ignored, any other unknown key is an error."""
        d = {k: v for k, v in dict(d or {}).items() if k != "method"}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown EVM parameter(s) {unknown}; known: {sorted(known)}")
        return cls(**d)


def _as_float(name: str, value) -> float:
    if isinstance(value, bool):
        raise ValueError(f"EVM {name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"EVM {name} must be a number, got {value!r}") from None


def pyramid_sizes(shape_hw: tuple[int, int], levels: int) -> list[tuple[int, int]]:
    """(height, width) of pyramid levels 0..levels-1 as cv2.pyrDown makes them (ceil of half)."""
    h, w = int(shape_hw[0]), int(shape_hw[1])
    sizes = [(h, w)]
    for _ in range(levels - 1):
        h, w = (h + 1) // 2, (w + 1) // 2
        sizes.append((h, w))
    return sizes


def max_levels(shape_hw: tuple[int, int]) -> int:
    """Most pyramid levels a frame of this size supports: an image is reduced only while its
    shorter side is at least the 5-tap kernel (as the reference's 'auto' height)."""
    h, w = int(shape_hw[0]), int(shape_hw[1])
    n = 1
    while min(h, w) >= _FILTER_TAPS:
        h, w = (h + 1) // 2, (w + 1) // 2
        n += 1
    return n


def _check_levels(shape_hw, levels: int) -> None:
    most = max_levels(shape_hw)
    if levels > most:
        raise ValueError(f"EVM levels={levels} is too many for {shape_hw[0]}x{shape_hw[1]} frames "
                         f"(at most {most}: each reduced level must be >= {_FILTER_TAPS} px on its shorter side)")


def level_gains(shape_hw: tuple[int, int], params: EVMParams) -> np.ndarray:
    """Amplification of each pyramid level (paper Fig. 6), (levels,) float64, index 0 = finest.

    The representative wavelength is sqrt(H^2 + W^2) / 3 pixels at the COARSEST level and halves at
    each finer level; with delta = lambda_c / 8 / (1 + alpha) the gain is
    min(alpha, exaggeration * (lambda / delta / 8 - 1)), clamped at 0. The finest band (level 0) and
    the low-pass residual (level levels-1) get 0.
    """
    h, w = int(shape_hw[0]), int(shape_hw[1])
    _check_levels((h, w), params.levels)
    top = params.levels - 1
    delta = params.lambda_c / 8.0 / (1.0 + params.alpha)
    lambda_coarsest = math.sqrt(h * h + w * w) / 3.0
    gains = np.zeros(params.levels, dtype=np.float64)
    for level in range(1, top):
        lam = lambda_coarsest / 2.0 ** (top - level)
        gains[level] = max(0.0, min(params.alpha, params.exaggeration * (lam / delta / 8.0 - 1.0)))
    return gains


def _check_inputs(frames, params: EVMParams, fps: float | None) -> tuple[np.ndarray, bool]:
    """Validate a call; returns (C-contiguous frames, is_rgb)."""
    if not isinstance(params, EVMParams):
        raise TypeError(f"params must be EVMParams, got {type(params).__name__}")
    frames = np.ascontiguousarray(frames)
    if frames.ndim == 4 and frames.shape[-1] == 3:
        rgb = True
    elif frames.ndim == 3:
        rgb = False
    else:
        raise ValueError(f"frames must be (T, H, W, 3) RGB or (T, H, W) gray, got shape {frames.shape}")
    if frames.dtype != np.uint8 and frames.dtype not in (np.float32, np.float64):
        raise ValueError(f"frames must be uint8, or float32/float64 in [0, 255], got {frames.dtype}")
    if frames.shape[0] < 1 or min(frames.shape[1:3]) < 1:
        raise ValueError(f"frames must hold at least one non-empty frame, got shape {frames.shape}")
    _check_levels(frames.shape[1:3], params.levels)
    if params.temporal == "ideal":
        _ideal_band_mask(frames.shape[0], params, fps)
    return frames, rgb


def _ideal_band_mask(n_frames: int, params: EVMParams, fps: float | None) -> np.ndarray:
    """Boolean mask over np.fft.rfftfreq(n_frames, 1/fps): bins with low_hz <= f <= high_hz."""
    if fps is None:
        raise ValueError("EVM temporal='ideal' needs the frame rate: pass fps (frames per second)")
    if not fps > 0:
        raise ValueError(f"EVM fps must be > 0, got {fps}")
    nyquist = fps / 2.0
    if params.high_hz > nyquist:
        raise ValueError(f"EVM ideal band [{params.low_hz}, {params.high_hz}] Hz exceeds the Nyquist "
                         f"frequency {nyquist} Hz of {fps} fps")
    freqs = np.fft.rfftfreq(n_frames, d=1.0 / fps)
    mask = (freqs >= params.low_hz) & (freqs <= params.high_hz)
    if not mask.any():
        raise ValueError(f"EVM ideal band [{params.low_hz}, {params.high_hz}] Hz holds no frequency bin of a "
                         f"{n_frames}-frame clip at {fps} fps (bin spacing {fps / n_frames:.4g} Hz)")
    return mask


def _chroma_matrix(chroma_attenuation: float) -> np.ndarray:
    """RGB -> RGB matrix of 'scale I and Q by chroma_attenuation': YIQ_TO_RGB diag(1, c, c) RGB_TO_YIQ."""
    return YIQ_TO_RGB @ np.diag([1.0, chroma_attenuation, chroma_attenuation]) @ RGB_TO_YIQ


# ----------------------------------------------------------------------------------------------
# Reference: plain per-frame version, float64, every level of every YIQ channel.


def _laplacian_pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    """Bands of a 2-D float image: level 0 finest, last = Gaussian low-pass residual."""
    bands = []
    current = np.ascontiguousarray(image)
    for _ in range(levels - 1):
        smaller = cv2.pyrDown(current)
        h, w = current.shape
        bands.append(current - cv2.pyrUp(smaller, dstsize=(w, h)))
        current = smaller
    bands.append(current)
    return bands


def _collapse_laplacian(bands: list[np.ndarray]) -> np.ndarray:
    image = bands[-1]
    for band in reversed(bands[:-1]):
        h, w = band.shape
        image = band + cv2.pyrUp(image, dstsize=(w, h))
    return image


def magnify_evm_reference(frames: np.ndarray, params: EVMParams, fps: float | None = None) -> np.ndarray:
    """Slow, obviously-correct EVM (the oracle for `magnify_evm`; same signature and output).

    Works in float64 with RGB scaled to [0, 1]: YIQ of every frame, full Laplacian pyramid of each
    channel, the temporal filter on every level, unamplified levels zeroed, whole pyramid collapsed.
    """
    frames, rgb = _check_inputs(frames, params, fps)
    n_frames, height, width = frames.shape[:3]
    gains = level_gains((height, width), params)
    x = frames.astype(np.float64) / 255.0
    yiq = x @ RGB_TO_YIQ.T if rgb else x[..., None]
    channels = yiq.shape[-1]

    pyramids = [[_laplacian_pyramid(yiq[t, :, :, c], params.levels) for c in range(channels)]
                for t in range(n_frames)]
    if params.temporal == "iir":
        filtered = _iir_reference(pyramids, params.r1, params.r2)
    else:
        filtered = _ideal_reference(pyramids, params, fps)

    added = np.empty_like(yiq)
    for t in range(n_frames):
        for c in range(channels):
            bands = [gains[level] * band if gains[level] > 0 else np.zeros_like(band)
                     for level, band in enumerate(filtered[t][c])]
            added[t, :, :, c] = _collapse_laplacian(bands)
    if rgb:
        added[..., 1:] *= params.chroma_attenuation
        out = (yiq + added) @ YIQ_TO_RGB.T
    else:
        out = (yiq + added)[..., 0]
    out = np.clip(out, 0.0, 1.0) * 255.0
    if frames.dtype == np.uint8:
        return np.rint(out).astype(np.uint8)
    return out.astype(frames.dtype)


def _iir_reference(pyramids, r1: float, r2: float):
    """filtered[t][c][level] = lp1 - lp2, both low-passes starting at frame 0's pyramid."""
    lowpass1 = [[band.copy() for band in pyr] for pyr in pyramids[0]]
    lowpass2 = [[band.copy() for band in pyr] for pyr in pyramids[0]]
    filtered = [[[np.zeros_like(band) for band in pyr] for pyr in pyramids[0]]]
    for frame_pyramids in pyramids[1:]:
        out_t = []
        for c, pyr in enumerate(frame_pyramids):
            out_c = []
            for level, band in enumerate(pyr):
                lowpass1[c][level] = (1 - r1) * lowpass1[c][level] + r1 * band
                lowpass2[c][level] = (1 - r2) * lowpass2[c][level] + r2 * band
                out_c.append(lowpass1[c][level] - lowpass2[c][level])
            out_t.append(out_c)
        filtered.append(out_t)
    return filtered


def _ideal_reference(pyramids, params: EVMParams, fps: float):
    """Full complex FFT along time per level; bins with low_hz <= |f| <= high_hz kept."""
    n_frames = len(pyramids)
    freqs = np.abs(np.fft.fftfreq(n_frames, d=1.0 / fps))
    keep = (freqs >= params.low_hz) & (freqs <= params.high_hz)
    filtered = [[[None] * params.levels for _ in pyramids[0]] for _ in range(n_frames)]
    for c in range(len(pyramids[0])):
        for level in range(params.levels):
            stack = np.stack([pyramids[t][c][level] for t in range(n_frames)])
            spectrum = np.fft.fft(stack, axis=0)
            spectrum[~keep] = 0
            band = np.fft.ifft(spectrum, axis=0).real
            for t in range(n_frames):
                filtered[t][c][level] = band[t]
    return filtered


# ----------------------------------------------------------------------------------------------
# Fast path.


class _BandSum:
    """Per frame: the gain-weighted sum of the (unfiltered) Laplacian bands 1..levels-2, collapsed
    to level-1 size, float32: R_1 with R_k = (g_k - g_{k-1}) G_k + up(R_{k+1}) on Gaussian levels G_k
    (levels whose coefficient is 0 are only upsampled; none above the last non-zero one is built).

    Preallocated buffers; `__call__` returns the same array every time (overwritten per frame)."""

    def __init__(self, shape_hw, channels: int, gains: np.ndarray):
        coeffs = np.diff(gains)  # coeffs[k - 1] = g_k - g_{k-1}
        nonzero = np.flatnonzero(coeffs)
        self.top = int(nonzero[-1]) + 1  # coarsest Gaussian level needed
        self.coeffs = [0.0] + [float(c) for c in coeffs[: self.top]]
        self.sizes = pyramid_sizes(shape_hw, self.top + 1)
        extra = (channels,) if channels > 1 else ()
        self.full = np.empty(self.sizes[0] + extra, np.float32)
        self.gauss = [None] + [np.empty(s + extra, np.float32) for s in self.sizes[1:]]
        self.sums = [None] + [np.empty(s + extra, np.float32) for s in self.sizes[1:]]

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        np.copyto(self.full, frame, casting="unsafe")
        previous = self.full
        for k in range(1, self.top + 1):
            h, w = self.sizes[k]
            cv2.pyrDown(previous, dst=self.gauss[k], dstsize=(w, h))
            previous = self.gauss[k]
        top, coeffs, sums = self.top, self.coeffs, self.sums
        np.multiply(self.gauss[top], coeffs[top], out=sums[top])
        for k in range(top - 1, 0, -1):
            h, w = self.sizes[k]
            cv2.pyrUp(sums[k + 1], dst=sums[k], dstsize=(w, h))
            if coeffs[k] != 0.0:
                cv2.scaleAdd(self.gauss[k], coeffs[k], sums[k], dst=sums[k])
        return sums[1]


def magnify_evm(frames: np.ndarray, params: EVMParams, fps: float | None = None) -> np.ndarray:
    """Magnify a clip with EVM.

    frames: (T, H, W, 3) uint8 RGB or (T, H, W) gray (uint8, or float32/float64 in [0, 255]).
    params: EVMParams. fps: frames per second, needed by temporal='ideal' (pass band in Hz).
    Returns the same shape and dtype: uint8 rounded and saturated, float clipped to [0, 255].
    With 'iir' frame 0 is returned unchanged (both low-passes start at it) and the clip is
    streamed (memory: the output plus a few pyramids); 'ideal' keeps one quarter-size float32
    frame per input frame for the FFT along time.
    """
    frames, rgb = _check_inputs(frames, params, fps)
    n_frames, height, width = frames.shape[:3]
    gains = level_gains((height, width), params)
    out = np.empty_like(frames)
    if not gains.any():
        _finish_unchanged(frames, out)
        return out

    channels = 3 if rgb else 1
    band_sum = _BandSum((height, width), channels, gains)
    colour = None
    if rgb and params.chroma_attenuation != 1.0:
        colour = _chroma_matrix(params.chroma_attenuation).astype(np.float32)
    level1 = band_sum.sizes[1] + ((3,) if rgb else ())
    filtered = np.empty(level1, np.float32)
    coloured = np.empty(level1, np.float32) if colour is not None else filtered
    added = np.empty(frames.shape[1:], np.float32)
    uint8 = frames.dtype == np.uint8

    def render(t: int, band: np.ndarray, frame_f32: np.ndarray) -> None:
        """out[t] = frame t + pyrUp(colour(band)); frame_f32 is frame t as float32."""
        if colour is not None:
            cv2.transform(band, colour, dst=coloured)
        cv2.pyrUp(coloured if colour is not None else band, dst=added, dstsize=(width, height))
        if uint8:  # float + float saturated to uint8 in one pass (much faster than uint8 + float)
            cv2.add(frame_f32, added, dst=out[t], dtype=cv2.CV_8U)
        else:
            np.add(frames[t], added, out=out[t], casting="unsafe")
            np.clip(out[t], 0.0, 255.0, out=out[t])

    if params.temporal == "iir":
        r1, r2 = params.r1, params.r2
        lowpass1 = band_sum(frames[0]).copy()
        lowpass2 = lowpass1.copy()
        _finish_unchanged(frames[:1], out[:1])
        for t in range(1, n_frames):
            x = band_sum(frames[t])
            cv2.addWeighted(lowpass1, 1.0 - r1, x, r1, 0.0, dst=lowpass1)
            cv2.addWeighted(lowpass2, 1.0 - r2, x, r2, 0.0, dst=lowpass2)
            cv2.subtract(lowpass1, lowpass2, dst=filtered)
            render(t, filtered, band_sum.full)  # band_sum.full still holds frame t
    else:
        mask = _ideal_band_mask(n_frames, params, fps)
        stack = np.empty((n_frames,) + level1, np.float32)
        for t in range(n_frames):
            stack[t] = band_sum(frames[t])
        spectrum = scipy.fft.rfft(stack, axis=0)
        del stack
        spectrum[~mask] = 0
        stack = scipy.fft.irfft(spectrum, n=n_frames, axis=0)
        del spectrum
        for t in range(n_frames):
            np.copyto(band_sum.full, frames[t], casting="unsafe")
            render(t, np.ascontiguousarray(stack[t], dtype=np.float32), band_sum.full)
    return out


def _finish_unchanged(frames: np.ndarray, out: np.ndarray) -> None:
    """Output of frames with nothing added: a copy (uint8), clipped to [0, 255] (float)."""
    if frames.dtype == np.uint8:
        np.copyto(out, frames)
    else:
        np.clip(frames, 0.0, 255.0, out=out)
