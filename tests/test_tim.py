"""TIM temporal interpolation and normalise_clip."""
from __future__ import annotations

import numpy as np
import pytest

from mexflow.temporal import key_frame_indices, normalise_clip, tim_embedding, tim_interpolate, tim_matrix


def _path_laplacian(n: int) -> np.ndarray:
    """L = D - A of the path graph 1 - 2 - ... - n."""
    adj = np.eye(n, k=1) + np.eye(n, k=-1)
    return np.diag(adj.sum(1)) - adj


@pytest.mark.parametrize("n", [2, 3, 5, 8, 13])
def test_embedding_columns_are_path_laplacian_eigenvectors(n):
    """L y_k = lambda_k y_k with lambda_k = 2 - 2 cos(pi k / n), at s_i = i / n (to 1e-12)."""
    y = tim_embedding(n, np.arange(1, n + 1) / n)
    lam = 2 - 2 * np.cos(np.pi * np.arange(1, n) / n)
    np.testing.assert_allclose(_path_laplacian(n) @ y, y * lam, atol=1e-12)
    assert np.abs(y.sum(axis=0)).max() < 1e-12  # orthogonal to the constant eigenvector


def test_matches_the_least_squares_definition():
    """The closed form equals fitting X - mean = Y W by least squares and synthesising
    mean + Y' W at s' = linspace(1/N, 1, t) (float64, to 1e-9)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(9, 5, 4))
    n, t = 9, 14
    flat = x.reshape(n, -1)
    mean = flat.mean(0)
    y = tim_embedding(n, np.arange(1, n + 1) / n)
    w, *_ = np.linalg.lstsq(y, flat - mean, rcond=None)
    want = (mean + tim_embedding(n, np.linspace(1 / n, 1, t)) @ w).reshape(t, 5, 4)
    np.testing.assert_allclose(tim_interpolate(x, t), want, atol=1e-9)
    np.testing.assert_allclose(tim_matrix(n, t).sum(1), 1.0, atol=1e-12)


def test_t_equal_n_reproduces_the_frames():
    """uint8: exactly; float64: to 1e-9; float32: to 1e-4 on values of magnitude <= 255."""
    rng = np.random.default_rng(2)
    clip = rng.integers(0, 256, (20, 12, 10, 3), dtype=np.uint8)
    assert np.array_equal(tim_interpolate(clip, 20), clip)
    f64 = clip.astype(np.float64) / 7
    np.testing.assert_allclose(tim_interpolate(f64, 20), f64, atol=1e-9)
    f32 = clip.astype(np.float32)
    np.testing.assert_allclose(tim_interpolate(f32, 20), f32, atol=1e-4)


@pytest.mark.parametrize("n,t", [(30, 10), (30, 64), (45, 8), (40, 100)])
def test_smooth_signals_are_interpolated_at_the_new_positions(n, t):
    """Pixels that are smooth functions of time (an ME-like raised-cosine rise and fall, a
    Gaussian bump, 1.5 sine cycles, a ramp over the clip) are reproduced at the positions
    normalise_clip reports within 1 % of each signal's range (measured at most 0.8 %, for the
    sine resampled 30 -> 64)."""
    i = np.arange(n, dtype=np.float64)
    signals = [
        lambda s: 100 + 40 * (1 - np.cos(2 * np.pi * s / (n - 1))),
        lambda s: 50 + 100 * np.exp(-0.5 * ((s - 0.4 * (n - 1)) / (0.15 * n)) ** 2),
        lambda s: 100 + 50 * np.sin(2 * np.pi * 1.5 * s / (n - 1)),
        lambda s: 20 + 3 * s,
    ]
    clip = np.stack([f(i) for f in signals], axis=1)  # (n, 4): four "pixels"
    out, pos = normalise_clip(clip, t, "tim")
    want = np.stack([f(pos) for f in signals], axis=1)
    tolerance = 0.01 * np.ptp(clip, axis=0)
    assert np.all(np.abs(out - want) <= tolerance), np.abs(out - want).max(0) / np.ptp(clip, axis=0)


def test_short_clips():
    """N == 1 repeats the frame; N == 2 runs monotonically from the first frame to the second."""
    one = np.full((1, 3, 3), 17, np.uint8)
    out, pos = normalise_clip(one, 4, "tim")
    assert out.shape == (4, 3, 3) and (out == 17).all() and pos.tolist() == [0, 0, 0, 0]
    two = np.array([[10.0], [30.0]])
    out, pos = normalise_clip(two, 5, "tim")
    assert out[0, 0] == pytest.approx(10) and out[-1, 0] == pytest.approx(30)
    assert np.all(np.diff(out[:, 0]) > 0) and pos.tolist() == [0, 0.25, 0.5, 0.75, 1]
    assert tim_interpolate(two, 1)[0, 0] == pytest.approx(10)  # t == 1: the first frame


def test_shapes_dtypes_and_uniform_method():
    rng = np.random.default_rng(3)
    clip = rng.integers(0, 256, (11, 6, 5, 3), dtype=np.uint8)
    for dtype in (np.uint8, np.float32, np.float64):
        out = tim_interpolate(clip.astype(dtype), 7)
        assert out.shape == (7, 6, 5, 3) and out.dtype == dtype
    # uint8 output is the rounded, clipped float result
    ref = tim_interpolate(clip.astype(np.float64), 7)
    assert np.array_equal(tim_interpolate(clip, 7), np.clip(np.rint(ref), 0, 255).astype(np.uint8))
    out, pos = normalise_clip(clip, 8, "uniform")
    assert pos.dtype == np.float64 and pos.tolist() == [0, 1, 2, 4, 5, 7, 8, 10]
    assert np.array_equal(out, clip[pos.astype(int)])
    out, pos = normalise_clip(clip, 8, "tim")
    np.testing.assert_allclose(pos, np.linspace(0, 10, 8))
    assert out[0].tolist() == clip[0].tolist() and out[-1].tolist() == clip[-1].tolist()


def test_bad_input():
    clip = np.zeros((4, 3, 3), np.float32)
    with pytest.raises(ValueError, match="t must be"):
        tim_interpolate(clip, 0)
    with pytest.raises(ValueError, match="t must be"):
        normalise_clip(clip, 2.5, "tim")
    with pytest.raises(ValueError, match="empty"):
        tim_interpolate(np.zeros((0, 3, 3), np.uint8), 4)
    with pytest.raises(ValueError, match="empty"):
        normalise_clip(np.zeros((0, 3)), 4, "uniform")
    bad = clip.copy()
    bad[2, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        tim_interpolate(bad, 4)
    with pytest.raises(ValueError, match="uint8 or floating"):
        tim_interpolate(clip.astype(np.int32), 4)
    with pytest.raises(ValueError, match="method"):
        normalise_clip(clip, 4, "cubic")


def test_key_frame_indices():
    numbers = np.arange(40, 61)
    assert key_frame_indices(numbers, 43, 52).tolist() == [3, 12]
    with pytest.raises(ValueError, match="onset frame 30"):
        key_frame_indices(numbers, 30, 52)
    with pytest.raises(ValueError, match="apex frame 70"):
        key_frame_indices(numbers, 43, 70)
