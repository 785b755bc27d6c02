"""Temporal normalisation: choose a window of a clip and bring it to a fixed number of frames,
by uniform sampling or by TIM interpolation."""
from __future__ import annotations

from typing import Sequence

import numpy as np

WINDOW_POINTS = ("first", "onset", "apex", "offset", "last")


def window_frames(frames: Sequence[int], onset: int, apex: int, offset: int,
                  window: Sequence[str] = ("onset", "offset")) -> list[int]:
    """Frame numbers of `frames` between two named points, inclusive, e.g. ('onset', 'offset')."""
    frames = sorted(int(f) for f in frames)
    points = {"first": frames[0], "onset": onset, "apex": apex, "offset": offset, "last": frames[-1]}
    start, end = window
    if start not in points or end not in points:
        raise ValueError(f"window points must be among {WINDOW_POINTS}, got {tuple(window)}")
    lo, hi = points[start], points[end]
    if lo > hi:
        raise ValueError(f"window {start}..{end} is empty ({lo} > {hi})")
    return [f for f in frames if lo <= f <= hi]


def uniform_indices(n: int, t: int) -> np.ndarray:
    """Indices of t frames spread uniformly over n: floor(linspace(0, n-1, t)) (Emotion Engine
    convention). When n < t some frames repeat. Returns (t,) int64."""
    if n < 1 or t < 1:
        raise ValueError(f"cannot sample {t} frames from {n}")
    return np.floor(np.linspace(0, n - 1, t)).astype(np.int64)


def sample_uniform(clip: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """clip: (N, ...) frames -> ((t, ...) sampled frames, (t,) source indices)."""
    idx = uniform_indices(clip.shape[0], t)
    return clip[idx], idx


def _check_length(clip: np.ndarray, t: int) -> np.ndarray:
    """clip as an array with at least one frame, and t an integer >= 1 (ValueError otherwise)."""
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1:
        raise ValueError(f"the number of output frames t must be an integer >= 1, got {t!r}")
    clip = np.asarray(clip)
    if clip.ndim < 1 or clip.shape[0] == 0:
        raise ValueError(f"the clip is empty (shape {clip.shape}); need at least one frame")
    return clip


def _check_values(clip: np.ndarray) -> None:
    """uint8 or finite floating-point values (ValueError otherwise)."""
    if clip.dtype != np.uint8 and not np.issubdtype(clip.dtype, np.floating):
        raise ValueError(f"clip must be uint8 or floating point, got {clip.dtype}")
    if clip.dtype != np.uint8 and not np.all(np.isfinite(clip)):
        raise ValueError("clip contains NaN or infinite values")


def tim_embedding(n: int, s: np.ndarray) -> np.ndarray:
    """TIM's continuous embedding of a path graph with n vertices at positions s (M,):
    y_k(s) = sin(pi k s + pi (n - k) / (2 n)), k = 1..n-1. Returns (M, n - 1) float64.

    At s = i/n (i = 1..n) column k - 1 is the k-th eigenvector of the path graph's Laplacian
    (eigenvalue 2 - 2 cos(pi k / n)); the constant eigenvector (k = 0) is left out because TIM
    fits mean-centred frames.
    """
    k = np.arange(1, n, dtype=np.float64)
    s = np.asarray(s, np.float64)[:, None]
    return np.sin(np.pi * k * s + np.pi * (n - k) / (2 * n))


def tim_matrix(n: int, t: int) -> np.ndarray:
    """The (t, n) float64 matrix A with TIM(X) = A X for n input frames (rows of X).

    TIM fits X - mean = Y W by least squares (Y = tim_embedding at s_i = i/n, i = 1..n) and
    synthesises mean + Y' W at s' = linspace(1/n, 1, t); both steps are linear in X, so
    A = Y' pinv(Y) (I - 1/n) + 1/n. This equals the PCA route (W fitted to the <= n - 1 principal
    components of X) exactly, without ever forming the (n - 1, D) map W. Rows of A sum to 1.
    """
    if n < 1 or t < 1:
        raise ValueError(f"TIM needs n >= 1 input and t >= 1 output frames, got n={n}, t={t}")
    if n == 1:
        return np.ones((t, 1))
    y = tim_embedding(n, np.arange(1, n + 1) / n)
    y_new = tim_embedding(n, np.linspace(1 / n, 1, t))
    centring = np.eye(n) - 1.0 / n
    return y_new @ np.linalg.pinv(y) @ centring + 1.0 / n


def tim_interpolate(clip: np.ndarray, t: int) -> np.ndarray:
    """Temporal interpolation model (Zhou, Zhao & Pietikainen 2011; Pfister et al. 2011 for
    micro-expressions): resample a clip to t frames along the curve TIM fits through it.

    clip: (N, ...) uint8 or float frames (any frame shape, e.g. (N, H, W, 3)). Returns (t, ...)
    of clip's dtype; uint8 output is rounded and clipped to 0..255. The output frames lie at
    source positions linspace(0, N - 1, t) (see normalise_clip); with t == N the input comes
    back (to float rounding; exactly for uint8). N == 1 repeats the frame; N == 2 follows the
    one-eigenvector curve between the two frames. Memory: the frames are multiplied by the
    (t, N) matrix `tim_matrix` in column blocks of about 4 M values, so beyond input and output
    only one block is held (float32, float64 for float64 input).
    ValueError for t < 1, an empty clip, a dtype other than uint8/float, NaN or inf.
    """
    clip = _check_length(clip, t)
    _check_values(clip)
    n = clip.shape[0]
    work = np.float64 if clip.dtype == np.float64 else np.float32
    a = tim_matrix(n, t).astype(work)
    flat = clip.reshape(n, -1)
    out = np.empty((t, flat.shape[1]), clip.dtype)
    step = max(1, (1 << 22) // n)
    for c0 in range(0, flat.shape[1], step):
        block = a @ flat[:, c0:c0 + step].astype(work)
        if clip.dtype == np.uint8:
            block = np.clip(np.rint(block), 0, 255)
        out[:, c0:c0 + step] = block
    return out.reshape((t,) + clip.shape[1:])


NORMALISE_METHODS = ("uniform", "tim")


def normalise_clip(frames: np.ndarray, t: int, method: str = "uniform") -> tuple[np.ndarray, np.ndarray]:
    """Bring a clip (N, ...) to t frames.

    uniform: the frames floor(linspace(0, N - 1, t)) (uniform_indices), any dtype; tim: TIM
    interpolation (tim_interpolate), uint8 or float. Returns (clip (t, ...) of frames' dtype,
    positions (t,) float64: where each output frame lies in the source clip, in frames from its
    first, within [0, N - 1]).
    """
    if method == "uniform":
        clip, idx = sample_uniform(_check_length(frames, t), t)
        return clip, idx.astype(np.float64)
    if method == "tim":
        out = tim_interpolate(frames, t)
        return out, np.linspace(0.0, np.asarray(frames).shape[0] - 1, t)
    raise ValueError(f"temporal normalisation method must be one of {NORMALISE_METHODS}, got {method!r}")


def key_frame_indices(frame_numbers, onset: int, apex: int) -> np.ndarray:
    """Positions of the onset and apex frames in an aligned clip's `frame_numbers` (N,).

    Returns (2,) int64 [onset index, apex index]. ValueError naming the frame when either is not
    among the clip's frames (e.g. a temporal window that starts after the onset).
    """
    numbers = np.asarray(frame_numbers)
    out = []
    for name, frame in (("onset", onset), ("apex", apex)):
        hits = np.flatnonzero(numbers == frame)
        if hits.size == 0:
            span = f"{numbers.min()}..{numbers.max()}" if numbers.size else "no frames"
            raise ValueError(f"{name} frame {frame} is not among the clip's aligned frames ({span})")
        out.append(int(hits[0]))
    return np.array(out, np.int64)
