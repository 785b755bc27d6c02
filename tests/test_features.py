"""Feature bank library: flow backends vs synthetic ground truth, flow modes, strain, block 3D
FFT, flow maps, framewise LBP and the registry (shapes, constant clips, every bad input)."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from mexflow.features import flow as flow_module
from mexflow.features import kinds as kinds_module
from mexflow.features.fft3d import block_fft3d, block_fft3d_reference
from mexflow.features.flow import (DIS_PRESETS, FLOW_BACKENDS, compute_flow, flow_params, flow_sequence,
                                   flow_strain_sequence, to_gray)
from mexflow.features.flowmap import flow_map, flow_to_hsv, onset_apex_flow_map, write_flow_map_png
from mexflow.features.lbp import lbp_image, lbp_mapping, lbp_top
from mexflow.features.lbp_frames import lbp_images, lbp_images_vector
from mexflow.features.pooling import block_means, grid_edges
from mexflow.features.registry import compute_features, data_layout, feature_kinds, output_shapes
from mexflow.features.strain import (benchmark_strain_unnormalised, optical_strain,
                                     optical_strain_benchmark_swapped, strain_field)
from mexflow.synthetic.ground_truth import displacement_in_crop


def _texture(seed: int, shape=(64, 64), sigma: float = 2.0) -> np.ndarray:
    """Smooth random uint8 texture (flow needs gradients at every scale it uses)."""
    noise = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), sigma)
    return np.clip(128 + 60 * smooth / smooth.std(), 0, 255).astype(np.uint8)


def _shifted(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """img moved by (dx, dy) pixels: out[y, x] = img[y - dy, x - dx] (bilinear, reflected border)."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, img.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


# --------------------------------------------------------------------------- #
# Flow backends against the synthetic ground truth (aligned onset/apex crops)
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def aligned_pairs(aligned_small_corpus):
    """Per clip: (gray onset/apex crops (2, 224, 224) uint8, true onset->apex displacement in the
    crop (224, 224, 2) px), from the session's aligned clips (reference = onset)."""
    out = []
    for gt, a in aligned_small_corpus:
        keys = [int(np.flatnonzero(a.frame_numbers == f)[0]) for f in (gt.onset, gt.apex)]
        out.append((to_gray(a.frames[keys]), displacement_in_crop(gt, a.box, 224, gt.onset, gt.apex)))
    return out


# backend -> (params, clips used, bound on the mean EPE in px, bound on EPE / zero-flow error per
# clip). Measured on this fixture (zero-flow error 0.40 px): Farnebäck 0.16 px mean (ratio
# <= 0.56), DIS medium 0.20 (<= 0.62), TV-L1 with 3 scales and 3 warps (~0.8 s per pair at 224^2,
# hence 2 clips; OpenCV's defaults give the same error) 0.25 (<= 0.70).
GROUND_TRUTH_BOUNDS = {
    "farneback": (None, 6, 0.25, 0.6),
    "dis": ({"preset": "medium"}, 6, 0.30, 0.7),
    "tvl1": ({"nscales": 3, "warps": 3}, 2, 0.35, 0.8),
}


@pytest.mark.parametrize("backend", FLOW_BACKENDS)
def test_flow_backend_matches_ground_truth(aligned_pairs, backend):
    """Onset->apex flow vs the true displacement where it exceeds 0.25 crop px: mean end-point
    error below the backend's bound and, on every clip, below a fraction of the error of
    predicting zero motion."""
    params, n_clips, max_mean_epe, max_ratio = GROUND_TRUTH_BOUNDS[backend]
    errs, zero_errs = [], []
    for gray, disp in aligned_pairs:
        mag = np.hypot(disp[..., 0], disp[..., 1])
        moving = mag > 0.25
        if moving.sum() < 50:
            continue
        f = compute_flow(gray[0], gray[1], backend, params)
        errs.append(np.hypot(*(f - disp)[moving].T).mean())
        zero_errs.append(mag[moving].mean())
        if len(errs) == n_clips:
            break
    assert len(errs) == n_clips
    errs, zero_errs = np.array(errs), np.array(zero_errs)
    assert errs.mean() < max_mean_epe and (errs < max_ratio * zero_errs).all(), (errs, zero_errs)


@pytest.mark.parametrize("backend", FLOW_BACKENDS)
def test_backends_share_the_sign_convention(backend):
    """A texture moved by (+1.5, -1.0) px gives flow ~ (1.5, -1.0) inside the frame (tolerance
    0.15 px on the median) for every backend: a[y, x] ~ b[y + v, x + u]."""
    a = _texture(1, (64, 64))
    b = _shifted(a, 1.5, -1.0)
    f = compute_flow(a, b, backend)
    assert f.shape == (64, 64, 2) and f.dtype == np.float32
    med = np.median(f[12:-12, 12:-12].reshape(-1, 2), axis=0)
    np.testing.assert_allclose(med, [1.5, -1.0], atol=0.15)


def test_presets_equal_direct_opencv_calls():
    """Named presets are exactly OpenCV's: samm28 = Farnebäck (0.5, 3, 15, 3, 5, 1.2), DIS medium
    = DISOPTICAL_FLOW_PRESET_MEDIUM, tvl1 opencv = DualTVL1OpticalFlow_create() defaults."""
    a, b = _texture(2, (48, 56)), _shifted(_texture(2, (48, 56)), 0.7, 0.4)
    ref = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    assert np.array_equal(compute_flow(a, b, "farneback", {"preset": "samm28"}), ref)
    for name, code in [("ultrafast", 0), ("fast", 1), ("medium", 2)]:
        ref = cv2.DISOpticalFlow_create(code).calc(a, b, None)
        assert np.array_equal(compute_flow(a, b, "dis", {"preset": name}), ref), name
    ref = cv2.optflow.DualTVL1OpticalFlow_create().calc(a, b, None)
    assert np.array_equal(compute_flow(a, b, "tvl1"), ref)


def test_reused_solvers_give_identical_results_and_overrides_apply():
    a, b = _texture(3), _shifted(_texture(3), 0.8, 0.3)
    for backend in ("dis", "tvl1"):
        first = compute_flow(a, b, backend)
        compute_flow(b, a, backend)  # the cached object must not carry state between calls
        assert np.array_equal(compute_flow(a, b, backend), first)
    base = compute_flow(a, b, "dis")
    changed = compute_flow(a, b, "dis", {"patch_size": 12, "variational_refinement_iterations": 0})
    assert not np.array_equal(base, changed)
    assert not np.array_equal(compute_flow(a, b, "farneback", {"winsize": 9}), compute_flow(a, b))
    p = flow_params("dis", {"preset": "fast", "patch_stride": 2})
    assert p == {**DIS_PRESETS["fast"], "patch_stride": 2}


@pytest.mark.parametrize("backend, params, match", [
    ("lucas", None, "unknown flow backend"),
    ("farneback", {"preset": "dis"}, "unknown farneback preset"),
    ("dis", {"winsize": 15}, "unknown dis flow parameter"),
    ("farneback", {"levels": "four"}, "must be a number"),
    ("farneback", {"levels": 2.5}, "must be an integer"),
    ("dis", {"use_mean_normalization": 1}, "true or false"),
    ("tvl1", {"preset": "medium"}, "unknown tvl1 preset"),
    ("farneback", {"poly_n": -3}, "farneback flow failed"),
])
def test_flow_parameter_errors(backend, params, match):
    a = _texture(4, (32, 32))
    with pytest.raises(ValueError, match=match):
        compute_flow(a, a, backend, params)


def test_flow_frame_errors():
    a = _texture(5, (32, 32))
    with pytest.raises(ValueError, match="uint8"):
        compute_flow(a.astype(np.float32), a)
    with pytest.raises(ValueError, match="equal shape"):
        compute_flow(a, a[:, :30])
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        compute_flow(np.stack([a, a, a], -1), a)


# --------------------------------------------------------------------------- #
# Modes
# --------------------------------------------------------------------------- #
def test_flow_modes():
    base = _texture(6, (40, 48))
    gray = np.stack([_shifted(base, 0.4 * t, -0.2 * t) for t in range(5)])
    cons = flow_sequence(gray, "farneback", None, "consecutive")
    ref = flow_sequence(gray, "farneback", None, "reference")
    oa = flow_sequence(gray, "dis", None, "onset_apex", onset=1, apex=3)
    assert cons.shape == ref.shape == (4, 40, 48, 2) and oa.shape == (1, 40, 48, 2)
    assert cons.dtype == ref.dtype == oa.dtype == np.float32
    for t in range(4):
        assert np.array_equal(cons[t], compute_flow(gray[t], gray[t + 1]))
        assert np.array_equal(ref[t], compute_flow(gray[0], gray[t + 1]))
    assert np.array_equal(oa[0], compute_flow(gray[1], gray[3], "dis"))
    # reference fields grow with t (0.45 px per frame), consecutive ones do not
    med = np.median(np.hypot(*ref[:, 10:-10, 10:-10].reshape(4, -1, 2).transpose(2, 0, 1)), axis=1)
    np.testing.assert_allclose(med, 0.447 * np.arange(1, 5), rtol=0.15)
    two = gray[:2]
    assert np.array_equal(flow_sequence(two, mode="reference"), flow_sequence(two, mode="consecutive"))
    vol = flow_strain_sequence(gray, None, "farneback", "reference")
    assert vol.shape == (4, 40, 48, 3)
    assert np.array_equal(vol[..., :2], ref) and np.array_equal(vol[..., 2], optical_strain(ref))


@pytest.mark.parametrize("kwargs, match", [
    (dict(mode="sideways"), "unknown flow mode"),
    (dict(mode="onset_apex"), "onset and apex"),
    (dict(mode="onset_apex", onset=0, apex=9), "apex index 9 outside"),
    (dict(mode="consecutive", onset=0, apex=1), "only used by mode onset_apex"),
])
def test_flow_mode_errors(kwargs, match):
    gray = np.stack([_texture(7, (24, 24))] * 3)
    with pytest.raises(ValueError, match=match):
        flow_sequence(gray, **kwargs)
    with pytest.raises(ValueError, match="at least two frames"):
        flow_sequence(gray[:1], mode="reference")


# --------------------------------------------------------------------------- #
# Strain
# --------------------------------------------------------------------------- #
AFFINE = (0.02, -0.01, 0.03, -0.015)  # u = a x + b y, v = c x + d y


def _affine_flow(a, b, c, d, shape=(40, 50)) -> np.ndarray:
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    return np.stack([a * x + b * y, c * x + d * y], -1).astype(np.float32)


def test_strain_of_an_affine_field_correct_and_benchmark_variant():
    """correct: sqrt(a^2 + d^2 + (b + c)^2 / 2); MEB's benchmark_swapped before its min-max step,
    inside the frame: 8 sqrt(b^2 + c^2 + (a^2 + d^2)/2) (Sobel = 8 x central difference on an affine
    field), which differs on a field with shear and is not zero on a pure rotation."""
    a, b, c, d = AFFINE
    flow = _affine_flow(*AFFINE)
    correct = np.sqrt(a**2 + d**2 + 0.5 * (b + c) ** 2)
    swapped = np.sqrt(b**2 + c**2 + 0.5 * (a**2 + d**2))
    np.testing.assert_allclose(optical_strain(flow), correct, rtol=1e-4)
    np.testing.assert_allclose(benchmark_strain_unnormalised(flow)[1:-1, 1:-1], 8 * swapped, rtol=1e-4)
    assert abs(correct - swapped) > 0.2 * correct
    assert np.array_equal(strain_field(flow), optical_strain(flow))
    assert np.array_equal(strain_field(flow, "benchmark_swapped"), optical_strain_benchmark_swapped(flow))
    rotation = _affine_flow(0.0, -0.01, 0.01, 0.0)
    assert optical_strain(rotation).max() < 1e-6
    np.testing.assert_allclose(benchmark_strain_unnormalised(rotation)[1:-1, 1:-1], 8 * 0.01 * np.sqrt(2),
                               rtol=1e-4)
    batch = np.stack([flow, rotation, 2 * flow])
    assert np.array_equal(optical_strain(batch), np.stack([optical_strain(f) for f in batch]))
    with pytest.raises(ValueError, match="unknown strain_variant"):
        strain_field(flow, "swapped")
    with pytest.raises(ValueError, match=r"\(\.\.\., H, W, 2\)"):
        optical_strain(flow[..., :1])


def _meb_strain(flow2d: np.ndarray) -> np.ndarray:
    """MEB's optical strain of one (H, W, 2) float32 flow, written as MEB writes it: scipy's Sobel
    with zero padding, the axis-0 derivative named "x", cross terms squared separately, then
    min-max normalisation over the field."""
    ndimage = pytest.importorskip("scipy.ndimage")
    u, v = flow2d[..., 0], flow2d[..., 1]
    ux = ndimage.sobel(u, axis=0, mode="constant")
    uy = ndimage.sobel(u, axis=1, mode="constant")
    vx = ndimage.sobel(v, axis=0, mode="constant")
    vy = ndimage.sobel(v, axis=1, mode="constant")
    strain = np.sqrt(ux**2 + vy**2 + 0.5 * (uy**2 + vx**2))
    return (strain - strain.min()) / (strain.max() - strain.min())


def _explicit_zero_padded_sobel(a: np.ndarray, axis: int) -> np.ndarray:
    """The Sobel as an explicit 3x3 correlation over a zero-padded copy (no scipy, no slicing
    tricks shared with the module): kernel [-1, 0, 1] along `axis`, [1, 2, 1] across."""
    kernel = np.outer([-1.0, 0.0, 1.0], [1.0, 2.0, 1.0])
    if axis == 1:
        kernel = kernel.T
    padded = np.zeros((a.shape[0] + 2, a.shape[1] + 2))
    padded[1:-1, 1:-1] = a
    out = np.zeros(a.shape)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[i, j] = (kernel * padded[i:i + 3, j:j + 3]).sum()
    return out


def test_benchmark_strain_reproduces_meb_exactly():
    """benchmark_swapped equals MEB's formula (scipy.ndimage.sobel, mode constant, then min-max)
    field by field, on smooth and random flows, batched or not; the Sobel itself equals an
    explicit zero-padded 3x3 correlation; the border is not special-cased (zero padding)."""
    rng = np.random.default_rng(3)
    smooth = np.stack([cv2.GaussianBlur(rng.normal(size=(37, 45)).astype(np.float32), (0, 0), 3) * 4
                       for _ in range(2)], -1)
    noisy = rng.normal(size=(37, 45, 2)).astype(np.float32)
    offset = (_affine_flow(*AFFINE, shape=(37, 45)) + np.float32([1.5, -0.7])).astype(np.float32)
    for field in (smooth, noisy, offset):
        expected = _meb_strain(field)
        got = optical_strain_benchmark_swapped(field)
        assert got.dtype == np.float32 and got.shape == field.shape[:2]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        assert got.min() == 0 and got.max() == 1
        u, v = field[..., 0].astype(np.float64), field[..., 1].astype(np.float64)
        explicit = np.sqrt(_explicit_zero_padded_sobel(u, 0) ** 2 + _explicit_zero_padded_sobel(v, 1) ** 2
                           + 0.5 * (_explicit_zero_padded_sobel(u, 1) ** 2
                                    + _explicit_zero_padded_sobel(v, 0) ** 2))
        np.testing.assert_allclose(benchmark_strain_unnormalised(field), explicit, rtol=1e-12, atol=1e-12)
    batch = np.stack([smooth, noisy, offset])
    np.testing.assert_array_equal(optical_strain_benchmark_swapped(batch),
                                  np.stack([optical_strain_benchmark_swapped(f) for f in batch]))
    # a translation: zero inside, the zero padding makes the border the maximum
    shift = np.broadcast_to(np.float32([0.8, -0.3]), (20, 24, 2))
    s = optical_strain_benchmark_swapped(shift)
    assert np.all(s[1:-1, 1:-1] == 0) and s.max() == 1
    np.testing.assert_allclose(s, _meb_strain(np.ascontiguousarray(shift)), rtol=1e-5, atol=1e-6)
    # a zero field: MEB divides 0 by 0, here it is zero
    assert np.array_equal(optical_strain_benchmark_swapped(np.zeros((6, 7, 2), np.float32)),
                          np.zeros((6, 7), np.float32))


def test_registry_strain_variant_is_correct_by_default():
    base = _texture(8, (32, 32))
    frames = np.repeat(np.stack([base, _shifted(base, 0.5, 0.2), _shifted(base, 1.2, 0.1)])[..., None], 3, -1)
    default = compute_features({"frames": frames}, {"kind": "flow_strain"})
    field = flow_sequence(frames[..., 0])
    np.testing.assert_allclose(default["data"][..., 2].astype(np.float32), optical_strain(field),
                               rtol=1e-3, atol=1e-4)
    variant = compute_features({"frames": frames}, {"kind": "flow_strain", "strain_variant": "benchmark_swapped"})
    np.testing.assert_allclose(variant["data"][..., 2].astype(np.float32),
                               optical_strain_benchmark_swapped(field), rtol=1e-3, atol=1e-4)


# --------------------------------------------------------------------------- #
# Block 3D FFT
# --------------------------------------------------------------------------- #
def test_block_fft3d_matches_loop_reference_and_degenerate_tiles():
    rng = np.random.default_rng(9)
    clip = rng.integers(0, 256, (5, 24, 32)).astype(np.uint8)
    clip[:, 0:8, 8:16] = 0  # all-zero tile: flat spectrum
    clip[:, 8:16, 0:8] = 173  # constant non-zero tile: structureless
    clip[:, 16:24, 24:32] = 0
    clip[2, 19, 27] = 90  # single impulse: flat |FFT|
    out = block_fft3d(clip, 8)
    ref = block_fft3d_reference(clip, 8)
    assert out.shape == clip.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6)
    for y, x in [(0, 8), (8, 0), (16, 24)]:
        assert np.all(out[:, y:y + 8, x:x + 8] == 0)
    tile = clip[:, 0:8, 0:8].astype(np.float64)  # an ordinary tile, by hand
    s = np.log1p(np.abs(np.fft.fftn(tile)))
    np.testing.assert_allclose(out[:, 0:8, 0:8], (s - s.min()) / (s.max() - s.min()), atol=1e-6)
    assert out[:, 0:8, 0:8].min() == 0 and out[:, 0:8, 0:8].max() == pytest.approx(1.0)
    np.testing.assert_allclose(block_fft3d(clip.astype(np.float32), 4), block_fft3d_reference(clip, 4),
                               atol=1e-6)
    assert np.all(block_fft3d(np.full((3, 16, 16), 77, np.uint8)) == 0)


def test_block_fft3d_errors():
    with pytest.raises(ValueError, match="multiples of block=8"):
        block_fft3d(np.zeros((4, 20, 24), np.uint8))
    with pytest.raises(ValueError, match=r"\(T, H, W\)"):
        block_fft3d(np.zeros((16, 16), np.uint8))
    with pytest.raises(ValueError, match="block must be"):
        block_fft3d(np.zeros((2, 16, 16), np.uint8), block=0)
    with pytest.raises(ValueError, match="NaN"):
        block_fft3d(np.full((2, 8, 8), np.nan))


# --------------------------------------------------------------------------- #
# 28x28 flow maps
# --------------------------------------------------------------------------- #
def _ramp_flow(angle_deg: float, shape=(56, 56)) -> np.ndarray:
    """Uniform direction, magnitude rising linearly from 0 (left) to 2 px (right)."""
    mag = np.broadcast_to(np.linspace(0, 2, shape[1]), shape)
    th = np.radians(angle_deg)
    return np.stack([mag * np.cos(th), mag * np.sin(th)], -1).astype(np.float32)


@pytest.mark.parametrize("angle", [0, 30, 45, 90, 135, 180, 270, 300])
def test_flow_map_hue_and_value(angle):
    """hue = angle / 2 (OpenCV's 0..180), saturation 255, value = min-max magnitude 0..255."""
    flow = _ramp_flow(angle)
    hsv = flow_to_hsv(flow)
    expected_hue = round(angle / 2) % 180
    assert np.all(hsv[:, 1:, 0] == expected_hue)  # column 0 has zero flow
    assert np.all(hsv[..., 1] == 255)
    np.testing.assert_array_equal(hsv[0, :, 2], np.round(np.linspace(0, 255, 56)).astype(np.uint8))
    img = flow_map(flow, 28)
    assert img.shape == (28, 28, 3) and img.dtype == np.uint8
    back = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    bright = back[..., 2] > 100
    hue_error = (back[..., 0][bright].astype(int) - expected_hue + 90) % 180 - 90
    assert bright.sum() > 200 and np.abs(hue_error).max() <= 1
    # value of each 2x2 area cell is the mean of the ramp over its columns
    np.testing.assert_allclose(back[0, :, 2], 255 * (np.arange(28) * 2 + 0.5) / 55, atol=1.5)


def test_flow_map_pure_colours_zero_and_uniform_flow():
    red = flow_map(_ramp_flow(0))  # angle 0 -> hue 0 -> red
    assert np.all(red[..., 1:] == 0) and red[..., 0].max() >= 250
    assert np.all(flow_map(np.zeros((40, 40, 2), np.float32)) == 0)
    assert np.all(flow_to_hsv(np.zeros((8, 8, 2), np.float32))[..., 2] == 0)
    uniform = np.broadcast_to(np.float32([1.0, 0.0]), (16, 16, 2))
    assert np.all(flow_to_hsv(uniform)[..., 2] == 0)  # max == min: value 0, no division
    with pytest.raises(FloatingPointError):
        flow_to_hsv(np.full((4, 4, 2), np.nan, np.float32))


def test_onset_apex_flow_map_and_png(tmp_path):
    a = _texture(10, (64, 64))
    b = _shifted(a, 1.0, 0.5)
    flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    img = onset_apex_flow_map(a, b)
    assert np.array_equal(img, flow_map(flow, 28))
    path = tmp_path / "maps" / "clip.png"
    write_flow_map_png(path, img)
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), img)
    assert [p.name for p in path.parent.iterdir()] == ["clip.png"]  # no temporary left
    with pytest.raises(ValueError, match="uint8 RGB"):
        write_flow_map_png(tmp_path / "bad.png", img[..., 0])


# --------------------------------------------------------------------------- #
# Framewise LBP
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("P, R, mapping, dtype", [(8, 1, "u2", np.uint8), (8, 2, "riu2", np.uint8),
                                                  (8, 1.5, None, np.uint8), (12, 1, None, np.uint16)])
def test_lbp_images_match_lbp_image_per_frame(P, R, mapping, dtype):
    gray = np.random.default_rng(11).integers(0, 256, (3, 20, 23)).astype(np.uint8)
    codes = lbp_images(gray, P, R, mapping)
    assert codes.shape == gray.shape and codes.dtype == dtype
    c = math.ceil(R)
    for t in range(3):
        assert np.array_equal(codes[t, c:-c, c:-c], lbp_image(gray[t], P, R, mapping))
        padded = np.pad(gray[t], c, mode="edge")
        assert np.array_equal(codes[t], lbp_image(padded, P, R, mapping))


def test_lbp_images_flat_frame_and_vector():
    flat = np.full((2, 12, 12), 90, np.uint8)
    assert np.all(lbp_images(flat, mapping="u2") == 57)
    assert np.all(lbp_images(flat, mapping="riu2") == 8)
    assert np.all(lbp_images(flat, mapping=None) == 255)
    codes = np.random.default_rng(12).integers(0, 59, (4, 30, 25))
    vec = lbp_images_vector(codes, 59, (3, 2))
    ys, xs = grid_edges(30, 3), grid_edges(25, 2)
    expected = []
    for i in range(3):
        for j in range(2):
            counts = np.bincount(codes[:, ys[i]:ys[i + 1], xs[j]:xs[j + 1]].ravel(), minlength=59)
            expected.append(counts / counts.sum())
    np.testing.assert_allclose(vec, np.concatenate(expected), rtol=1e-6)
    assert vec.dtype == np.float32 and vec.shape == (3 * 2 * 59,)
    with pytest.raises(ValueError, match="mapping"):
        lbp_images(flat, mapping="uniform")
    with pytest.raises(ValueError, match="outside"):
        lbp_images_vector(codes, 40, (2, 2))


def test_block_means_matches_loop():
    vol = np.random.default_rng(13).normal(size=(3, 17, 22, 2)).astype(np.float32)
    out = block_means(vol, (4, 5)).reshape(3, 4, 5, 2)
    ys, xs = grid_edges(17, 4), grid_edges(22, 5)
    for i in range(4):
        for j in range(5):
            np.testing.assert_allclose(out[:, i, j], vol[:, ys[i]:ys[i + 1], xs[j]:xs[j + 1]].mean(axis=(1, 2)),
                                       rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="blocks"):
        block_means(vol, (18, 2))


# --------------------------------------------------------------------------- #
# Registry
# --------------------------------------------------------------------------- #
SPECS = [
    {"kind": "flow_strain"},
    {"kind": "flow_strain", "backend": "dis", "preset": "fast", "mode": "reference", "vector_grid": [3, 4]},
    {"kind": "flow_strain", "backend": "tvl1", "flow": {"nscales": 2, "warps": 2}, "mode": "onset_apex"},
    {"kind": "flow_strain", "preset": "samm28", "flow": {"winsize": 9}, "strain_variant": "benchmark_swapped"},
    {"kind": "lbptop", "P": 8, "radii": [1, 1, 2], "grid": [2, 2], "overlap": 0.3, "time_parts": 1},
    {"kind": "lbptop", "P": [8, 4, 4], "mapping": "none", "grid": [2, 3], "time_parts": 2},
    {"kind": "lbp_images", "P": 8, "R": 1, "mapping": "u2", "vector_grid": [2, 2]},
    {"kind": "lbp_images", "P": 12, "mapping": "none", "vector_grid": [1, 1]},
    {"kind": "fft3d", "block": 8, "vector_grid": [2, 2]},
    {"kind": "flowmap28"},
    {"kind": "flowmap28", "size": 14, "flow": {"winsize": 9}},
    {"kind": "frames", "size": 16, "vector_grid": [2, 2]},
    {"kind": "frames", "size": 8, "color": "rgb"},
    {"kind": "apex_flow", "size": 16, "vector_grid": [2, 2]},
]


@pytest.fixture(scope="module")
def clip_arrays():
    base = _texture(14, (32, 32))
    gray = np.stack([_shifted(base, 0.3 * t, 0.1 * t) for t in range(6)])
    frames = np.repeat(gray[..., None], 3, -1)
    return {"frames": frames, "key_frames": frames[[0, 4]]}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_registry_shapes_for_every_kind(clip_arrays, spec):
    out = compute_features(clip_arrays, spec, "s01/EP01")
    shapes = output_shapes(spec, T=6, S=32)
    assert set(out) == set(shapes)
    for name, (shape, dtype) in shapes.items():
        assert out[name].shape == shape and out[name].dtype == np.dtype(dtype), name
    assert out["vector"].dtype == np.float32 and out["vector"].ndim == 1


def test_feature_kinds_and_readme_shapes():
    assert set(feature_kinds()) == {"flow_strain", "lbptop", "lbp_images", "fft3d", "flowmap28",
                                    "frames", "apex_flow"}
    assert output_shapes({"kind": "frames"}, 8, 224)["data"] == ((8, 64, 64, 1), "uint8")
    assert output_shapes({"kind": "apex_flow"}, 8, 224)["data"] == ((64, 64, 5), "float16")
    assert [data_layout({"kind": k}) for k in ("flow_strain", "lbptop", "lbp_images", "fft3d",
                                                "flowmap28", "frames", "apex_flow")] == [
        "TSSC", None, "TSS", "TSS", "SSC", "TSSC", "SSC"]
    assert output_shapes({"kind": "flow_strain"}, 8, 224) == {
        "data": ((7, 224, 224, 3), "float16"), "vector": ((7 * 36 * 3,), "float32")}
    assert output_shapes({"kind": "lbptop", "grid": [8, 8]}, 10, 224) == {"vector": ((11_328,), "float32")}
    assert output_shapes({"kind": "flowmap28"}, 8, 224)["data"] == ((28, 28, 3), "uint8")


def test_registry_values_follow_the_library(clip_arrays):
    frames, key = clip_arrays["frames"], clip_arrays["key_frames"]
    gray = frames[..., 0]
    out = compute_features(clip_arrays, {"kind": "flow_strain", "backend": "dis", "mode": "onset_apex"})
    assert np.array_equal(out["data"][0, ..., :2], compute_flow(gray[0], gray[4], "dis").astype(np.float16))
    fs = flow_strain_sequence(gray, None)
    out = compute_features(clip_arrays, {"kind": "flow_strain", "vector_grid": [2, 2]})
    np.testing.assert_allclose(out["vector"], block_means(fs, (2, 2)), rtol=1e-6)
    out = compute_features(clip_arrays, {"kind": "lbptop", "radii": [1, 1, 2], "grid": [2, 2]})
    assert np.array_equal(out["vector"], lbp_top(gray, radii=(1, 1, 2), grid=(2, 2)))
    out = compute_features(clip_arrays, {"kind": "fft3d", "vector_grid": [2, 2]})
    assert np.array_equal(out["data"], block_fft3d(gray).astype(np.float16))
    out = compute_features(clip_arrays, {"kind": "flowmap28"})
    assert np.array_equal(out["data"], onset_apex_flow_map(gray[0], gray[4]))
    assert out["image"] is out["data"]
    np.testing.assert_allclose(out["vector"], out["data"].ravel() / 255.0, rtol=1e-6)
    out = compute_features({"frames": frames}, {"kind": "lbp_images"})
    assert np.array_equal(out["data"], lbp_images(gray))
    # frames: area resize 32 -> 16 is the mean of 2x2 blocks; the vector is the change from frame 0
    out = compute_features({"frames": frames}, {"kind": "frames", "size": 16, "vector_grid": [1, 1]})
    means = gray.reshape(6, 16, 2, 16, 2).mean(axis=(2, 4))
    assert np.abs(out["data"][..., 0].astype(float) - means).max() <= 0.5 + 1e-9
    expected = (out["data"][1:, ..., 0].astype(float) - out["data"][0, ..., 0]).mean(axis=(1, 2)) / 255
    np.testing.assert_allclose(out["vector"], expected, atol=1e-6)
    # apex_flow: apex RGB in [0, 1] and the onset->apex flow scaled to the resized image
    out = compute_features({"key_frames": key}, {"kind": "apex_flow", "size": 16, "vector_grid": [1, 1]})
    np.testing.assert_allclose(out["data"][..., 0], key[1, ..., 0].reshape(16, 2, 16, 2).mean(axis=(1, 3)) / 255,
                               atol=2e-3)
    full = compute_flow(gray[0], gray[4], "farneback", {"preset": "samm28"})
    np.testing.assert_allclose(out["vector"], full.reshape(-1, 2).mean(axis=0) * 0.5, rtol=0.02, atol=1e-3)
    # the synthetic shift is (0.3, 0.1) px per frame: 4 frames -> (1.2, 0.4) px, halved by the resize
    np.testing.assert_allclose(np.median(out["data"][4:12, 4:12, 3:].astype(float).reshape(-1, 2), axis=0),
                               [0.6, 0.2], atol=0.1)
    assert key.shape == (2, 32, 32, 3)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_registry_constant_frames(spec):
    """Flat frames: zero flow and strain (every backend), all-ones LBP code, zero FFT, black map."""
    frames = np.full((6, 32, 32, 3), 120, np.uint8)
    key = frames[:2].copy()
    key[1] = 160  # a brightness change between flat frames is still no motion
    out = compute_features({"frames": frames, "key_frames": key}, spec, "flat")
    kind = spec["kind"]
    if kind in ("flow_strain", "fft3d", "flowmap28"):
        assert np.all(out["data"] == 0) and np.all(out["vector"] == 0)
    elif kind == "frames":  # the frames themselves, unchanged: no change from the first
        assert np.all(out["data"] == 120) and np.all(out["vector"] == 0)
    elif kind == "apex_flow":  # the apex frame (160 / 255) and zero flow
        assert np.allclose(out["data"][..., :3], 160 / 255, atol=1e-3)
        assert np.all(out["data"][..., 3:] == 0) and np.all(out["vector"] == 0)
    elif kind == "lbp_images":
        all_ones = {"u2": 57, "none": 2**spec["P"] - 1}[spec["mapping"]]
        assert np.all(out["data"] == all_ones)
    else:  # lbptop: every plane histogram of every block is one-hot on the all-ones code's bin
        mapping = None if spec.get("mapping") == "none" else spec.get("mapping", "u2")
        planes = [lbp_mapping(p, mapping) for p in np.broadcast_to(spec["P"], 3)]
        expected = np.concatenate([np.eye(n)[lut[-1]] for lut, n in planes])
        blocks = out["vector"].reshape(-1, expected.size)
        assert np.array_equal(blocks, np.broadcast_to(expected, blocks.shape))


BAD_INPUTS = [
    ({"kind": "flow_strain"}, {"frames": np.zeros((4, 16, 16, 3), np.float32)}, ValueError, "uint8"),
    ({"kind": "flow_strain"}, {"frames": np.zeros((4, 16, 16), np.uint8)}, ValueError, r"\(N, H, W, 3\)"),
    ({"kind": "lbp_images"}, {"frames": np.zeros((4, 16, 16, 4), np.uint8)}, ValueError, r"\(N, H, W, 3\)"),
    ({"kind": "fft3d"}, {"frames": [[0]]}, ValueError, "numpy array"),
    ({"kind": "fft3d"}, {"key_frames": np.zeros((2, 16, 16, 3), np.uint8)}, ValueError,
     "missing input array 'frames'"),
    ({"kind": "flowmap28"}, {"frames": np.zeros((4, 16, 16, 3), np.uint8)}, ValueError,
     "missing input array 'key_frames'"),
    ({"kind": "flowmap28"}, {"key_frames": np.zeros((3, 16, 16, 3), np.uint8)}, ValueError, "exactly 2 frames"),
    ({"kind": "flow_strain", "mode": "onset_apex"}, {"key_frames": np.zeros((2, 16, 16), np.uint8)},
     ValueError, r"\(N, H, W, 3\)"),
    ({"kind": "flow_strain"}, {"frames": np.zeros((1, 16, 16, 3), np.uint8)}, ValueError, "fewer than the 2"),
    ({"kind": "lbptop", "radii": [1, 1, 2]}, {"frames": np.zeros((4, 16, 16, 3), np.uint8)}, ValueError,
     "fewer than the 5"),
    ({"kind": "lbptop", "grid": [16, 16]}, {"frames": np.zeros((4, 16, 16, 3), np.uint8)}, ValueError,
     "no valid centre"),
    ({"kind": "fft3d", "block": 5}, {"frames": np.zeros((4, 16, 16, 3), np.uint8)}, ValueError, "multiples"),
    ({"kind": "wavelets"}, {}, ValueError, "unknown feature kind"),
    ({"kind": "flow_strain", "vector_gird": [2, 2]}, {}, ValueError, r"unknown key\(s\) \['vector_gird'\]"),
    ({"kind": "flow_strain", "backend": "raft"}, {}, ValueError, "backend must be one of"),
    ({"kind": "flow_strain", "mode": "pairs"}, {}, ValueError, "mode must be one of"),
    ({"kind": "flow_strain", "strain_variant": "swapped"}, {}, ValueError, "strain_variant must be one of"),
    ({"kind": "flow_strain", "backend": "dis", "preset": "emotion_engine"}, {}, ValueError, "unknown dis preset"),
    ({"kind": "flow_strain", "flow": {"levles": 3}}, {}, ValueError, "unknown farneback flow parameter"),
    ({"kind": "lbp_images", "mapping": "uniform"}, {}, ValueError, "mapping must be one of"),
    ({"kind": "lbp_images", "vector_grid": [0, 2]}, {}, ValueError, "vector_grid"),
    ({"kind": "lbptop", "overlap": 1.0}, {}, ValueError, "overlap"),
    ({"kind": "flowmap28", "size": 0}, {}, ValueError, "size"),
]


@pytest.mark.parametrize("spec, arrays, exc, match", BAD_INPUTS)
def test_registry_errors_name_the_clip(spec, arrays, exc, match):
    with pytest.raises(exc, match=match) as info:
        compute_features(arrays, spec, clip_id="sub07/EP13_02")
    assert f"clip sub07/EP13_02: feature kind {spec['kind']}" in str(info.value)


def test_registry_rejects_a_bare_array():
    with pytest.raises(ValueError, match="clip c9: .*dict"):
        compute_features(np.zeros((4, 16, 16, 3), np.uint8), {"kind": "lbptop"}, "c9")


def test_non_finite_flow_and_outputs_raise_floating_point_error(clip_arrays, monkeypatch):
    def nan_backend(a, b, backend, p):
        return np.full((*a.shape, 2), np.nan, np.float32)

    monkeypatch.setattr(flow_module, "_run_backend", nan_backend)
    for spec in ({"kind": "flow_strain"}, {"kind": "flowmap28"}):
        with pytest.raises(FloatingPointError, match=f"clip bad01: feature kind {spec['kind']}: .*non-finite"):
            compute_features(clip_arrays, spec, "bad01")
    monkeypatch.undo()
    monkeypatch.setattr(kinds_module, "block_fft3d", lambda g, b: np.full(g.shape, np.inf, np.float32))
    with pytest.raises(FloatingPointError, match="clip bad02: feature kind fft3d: output 'data'"):
        compute_features(clip_arrays, {"kind": "fft3d"}, "bad02")


def test_dis_flow_does_not_depend_on_earlier_flows():
    """The same pair gives the same DIS flow whatever was computed before (a cached, stateful DIS
    object once made flows depend on call history)."""
    from mexflow.features.flow import compute_flow

    rng = np.random.default_rng(0)
    a = cv2.GaussianBlur(rng.integers(0, 255, (64, 64), dtype=np.uint8), (5, 5), 1.5)
    b = np.roll(a, 1, axis=1)
    first = compute_flow(a, b, "dis", {"preset": "medium"})
    for size in (40, 224):
        c = rng.integers(0, 255, (size, size), dtype=np.uint8)
        compute_flow(c, np.roll(c, 2, axis=0), "dis", {"preset": "medium"})
    np.testing.assert_array_equal(compute_flow(a, b, "dis", {"preset": "medium"}), first)
