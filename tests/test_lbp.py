"""Tests for mexflow.features.lbp: exactness vs the per-pixel reference,
mappings, agreement with scikit-image, layout, and argument errors."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from mexflow.features.lbp import (
    lbp_image,
    lbp_image_stack,
    lbp_mapping,
    lbp_top,
    lbp_top_codes,
    lbp_top_reference,
)


def _volume(seed: int, shape=(6, 17, 19), levels: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, levels, shape).astype(np.uint8)


def _n_bins(P: int, mapping) -> int:
    return lbp_mapping(P, mapping)[1]


# --------------------------------------------------------------------------- #
# Exactness against the reference
# --------------------------------------------------------------------------- #
CONFIGS = [
    dict(P=8, radii=(1, 1, 1), grid=(5, 5), overlap=0.0, mapping="u2"),
    dict(P=8, radii=(2, 1, 1), grid=(3, 3), overlap=0.5, mapping="u2"),
    dict(P=8, radii=(1, 2, 1), grid=(2, 4), overlap=0.0, mapping="u2", time_parts=2),
    dict(P=8, radii=(1.5, 1.5, 1), grid=(2, 3), overlap=0.3, mapping="riu2", time_parts=2),
    dict(P=4, radii=(1, 1, 1), grid=(4, 4), overlap=0.25, mapping=None),
    dict(P=(8, 4, 4), radii=(1, 1, 1), grid=(2, 2), overlap=0.0, mapping="u2", time_parts=2),
    dict(P=(4, 8, 6), radii=(1, 1, 1.5), grid=(3, 2), overlap=0.6, mapping="u2", time_parts=2),
    dict(P=8, radii=(1, 1, 1), grid=(3, 3), overlap=0.7, mapping="ri"),
    dict(P=6, radii=(2.5, 1.2, 1), grid=(2, 2), overlap=0.1, mapping="riu2"),
    dict(P=8, radii=(1, 1, 2), grid=(1, 1), overlap=0.0, mapping=None),
]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_matches_reference_exactly(cfg, seed):
    vol = _volume(seed)
    raw = lbp_top(vol, normalise=False, **cfg)
    raw_ref = lbp_top_reference(vol, normalise=False, **cfg)
    assert raw.dtype == np.float32 and raw.shape == raw_ref.shape
    assert np.array_equal(raw, raw_ref)
    norm = lbp_top(vol, **cfg)
    norm_ref = lbp_top_reference(vol, **cfg)
    assert np.allclose(norm, norm_ref, rtol=0, atol=0)
    assert np.array_equal(norm, norm_ref)


@pytest.mark.parametrize(
    "vol",
    [
        _volume(3, levels=3),  # many exact interpolation ties
        np.random.default_rng(4).normal(size=(5, 13, 16)),  # float input
        np.random.default_rng(5).integers(-1000, 1000, (7, 11, 15)).astype(np.int32),
        (np.random.default_rng(6).random((6, 12, 12)) > 0.5),  # bool input
    ],
    ids=["ties", "float", "int32", "bool"],
)
@pytest.mark.parametrize("radii", [(1, 1, 1), (1.5, 2, 1), (2, 1.5, 1.5)])
def test_matches_reference_on_other_inputs(vol, radii):
    cfg = dict(P=8, radii=radii, grid=(2, 2), overlap=0.4, mapping="u2", normalise=False)
    assert np.array_equal(lbp_top(vol, **cfg), lbp_top_reference(vol, **cfg))


def test_non_contiguous_and_dtype_inputs():
    vol = _volume(7, shape=(7, 20, 22))
    cfg = dict(P=8, radii=(2, 1, 1), grid=(3, 3), overlap=0.5)
    expected = lbp_top(np.ascontiguousarray(vol[:, ::-1, 1::2]), **cfg)
    assert np.array_equal(lbp_top(vol[:, ::-1, 1::2], **cfg), expected)
    assert np.array_equal(lbp_top(vol[:, ::-1, 1::2].astype(np.float32), **cfg), expected)


def test_codes_consistent_with_histograms_and_lbp_image():
    vol = _volume(8, shape=(7, 15, 18))
    radii = (1.5, 1.5, 2)
    codes = lbp_top_codes(vol, P=8, radii=radii, mapping="u2")
    ct = math.ceil(radii[2])
    assert all(c.shape == (7 - 2 * ct, 15 - 4, 18 - 4) for c in codes)
    # Whole-volume histogram (one block) is the bincount of the codes.
    hist = lbp_top(vol, P=8, radii=radii, grid=(1, 1), normalise=False)
    expected = np.concatenate([np.bincount(c.ravel(), minlength=59) for c in codes])
    assert np.array_equal(hist, expected.astype(np.float32))
    # The XY plane is framewise 2-D LBP.
    for t in range(codes[0].shape[0]):
        assert np.array_equal(codes[0][t], lbp_image(vol[t + ct], P=8, R=1.5, mapping="u2"))


@pytest.mark.parametrize("P,R,mapping", [(8, 1, "u2"), (8, 2.5, "riu2"), (6, 1.5, None), (8, 3, "ri")])
def test_lbp_image_stack_equals_lbp_image_per_frame(P, R, mapping):
    """The stacked XY pass never reads across frames: frame t equals lbp_image of frame t."""
    stack = _volume(17, shape=(4, 15, 21))
    codes = lbp_image_stack(stack, P, R, mapping)
    c = math.ceil(R)
    assert codes.shape == (4, 15 - 2 * c, 21 - 2 * c)
    for t in range(4):
        assert np.array_equal(codes[t], lbp_image(stack[t], P, R, mapping))
    assert lbp_image_stack(stack[:0], P, R, mapping).shape == (0, 15 - 2 * c, 21 - 2 * c)
    with pytest.raises(ValueError, match="3-D"):
        lbp_image_stack(stack[0], P, R, mapping)


def test_repeated_calls_do_not_alias_scratch_buffers():
    a, b = _volume(9, shape=(8, 30, 30)), _volume(10, shape=(8, 30, 30))
    cfg = dict(P=8, radii=(2, 2, 2), grid=(3, 3), overlap=0.5)
    ra = lbp_top(a, **cfg)
    ra_copy = ra.copy()
    rb = lbp_top(b, **cfg)
    assert np.array_equal(ra, ra_copy)
    assert np.array_equal(lbp_top(a, **cfg), ra)
    assert not np.array_equal(ra, rb)


def test_thread_safe():
    vols = [_volume(s, shape=(8, 40, 40)) for s in range(4)]
    cfg = dict(P=8, radii=(2, 2, 2), grid=(4, 4), overlap=0.5)
    expected = [lbp_top(v, **cfg) for v in vols]
    results: dict[int, list] = {}

    def work(i):
        results[i] = [lbp_top(vols[(i + k) % 4], **cfg) for k in range(8)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, res in results.items():
        for k, r in enumerate(res):
            assert np.array_equal(r, expected[(i + k) % 4])


# --------------------------------------------------------------------------- #
# Mappings
# --------------------------------------------------------------------------- #
def test_u2_table_p8():
    lut, n_bins = lbp_mapping(8, "u2")
    assert lut.shape == (256,) and n_bins == 59
    uniform = lut < 58
    assert uniform.sum() == 58  # 58 uniform codes, each its own bin
    assert np.array_equal(lut[uniform], np.arange(58))  # increasing code order
    assert np.all(lut[~uniform] == 58)  # one last bin for non-uniform codes
    assert lut[0] == 0 and lut[255] == 57
    assert lut[0b00011100] < 58 and lut[0b10000001] < 58 and lut[0b00100100] == 58


@pytest.mark.parametrize("P", [2, 3, 4, 6, 8, 12, 16])
def test_mapping_bin_counts(P):
    for mapping, expected in [("u2", P * (P - 1) + 3), ("riu2", P + 2), (None, 2**P)]:
        lut, n_bins = lbp_mapping(P, mapping)
        assert n_bins == expected and lut.shape == (2**P,)
        assert lut.min() >= 0 and lut.max() < n_bins
    lut, n_bins = lbp_mapping(P, "ri")
    assert np.array_equal(np.unique(lut), np.arange(n_bins))
    if P == 8:
        assert n_bins == 36


def test_mapping_returns_copy_and_rejects_unknown():
    lut, _ = lbp_mapping(8, "u2")
    lut[:] = 0
    assert lbp_mapping(8, "u2")[0][255] == 57
    with pytest.raises(ValueError):
        lbp_mapping(8, "uniform")
    with pytest.raises(ValueError):
        lbp_mapping(1, "u2")


# --------------------------------------------------------------------------- #
# scikit-image
# --------------------------------------------------------------------------- #
def _skimage_nri_label(code: int, P: int) -> int:
    """scikit-image's 'nri_uniform' label of a raw code (from its _texture.pyx)."""
    bits = [(code >> i) & 1 for i in range(P)]
    if sum(abs(bits[i] - bits[i + 1]) for i in range(P - 1)) > 2:
        return P * (P - 1) + 2
    n_ones = sum(bits)
    if n_ones == 0:
        return 0
    if n_ones == P:
        return P * (P - 1) + 1
    first_one, first_zero = bits.index(1), bits.index(0)
    rot = n_ones - first_zero if first_one == 0 else P - first_one
    return 1 + (n_ones - 1) * P + rot


@pytest.mark.parametrize(
    "P,R", [(8, 1), (8, 1.5), (8, 2), (8, 3), (4, 1), (6, 1), (12, 2.5), (16, 2)]
)
def test_lbp_image_matches_skimage(P, R):
    """Same neighbour order (point p at row -R sin, col +R cos), same bit weights
    2**p and same ``>=`` test, so ``mapping=None`` equals skimage 'default' and
    'riu2' equals skimage 'uniform'; 'ri' bins are the sorted skimage 'ror'
    values; 'u2' equals 'nri_uniform' up to a fixed bin permutation (skimage
    orders uniform patterns by number of ones and rotation, we by code value;
    both use the last bin for non-uniform codes).

    skimage interpolates as (1-f)*a + f*b with weights from the absolute
    coordinate, we as a + f*(b - a) with weights from the offset, so on exact
    interpolation ties (images with plateaus of equal values) single bits can
    differ; random 256-level images have no such ties.
    """
    skimage_feature = pytest.importorskip("skimage.feature")
    frame = np.random.default_rng(P * 100 + int(10 * R)).integers(0, 256, (40, 47)).astype(np.uint8)
    c = math.ceil(R)

    def sk(method):
        out = skimage_feature.local_binary_pattern(frame, P, R, method=method)
        return out[c:-c, c:-c].astype(int)

    assert lbp_image(frame, P, R, mapping=None).shape == (40 - 2 * c, 47 - 2 * c)
    assert np.array_equal(lbp_image(frame, P, R, mapping=None), sk("default"))
    assert np.array_equal(lbp_image(frame, P, R, mapping="riu2"), sk("uniform"))
    lut_ri, _ = lbp_mapping(P, "ri")
    representatives = np.unique(lut_ri, return_index=True)[1]  # smallest code of each orbit
    assert np.array_equal(representatives[lbp_image(frame, P, R, mapping="ri")], sk("ror"))
    lut_u2, n_bins = lbp_mapping(P, "u2")
    perm = np.empty(n_bins, dtype=int)
    for code in range(2**P):
        perm[lut_u2[code]] = _skimage_nri_label(code, P)
    assert np.array_equal(np.sort(perm), np.arange(n_bins))  # a true permutation
    assert np.array_equal(perm[lbp_image(frame, P, R, mapping="u2")], sk("nri_uniform"))


# --------------------------------------------------------------------------- #
# Layout, normalisation, frames
# --------------------------------------------------------------------------- #
def _edges(n, parts, overlap):
    size = n / (1 + (parts - 1) * (1 - overlap))
    step = size * (1 - overlap)
    return [(round(i * step), min(round(i * step + size), n)) for i in range(parts)]


def test_histograms_sum_to_one_per_plane_per_block():
    vol = _volume(11, shape=(9, 40, 36))
    out = lbp_top(vol, P=(8, 4, 8), radii=(2, 1, 1), grid=(4, 3), overlap=0.5, time_parts=2)
    assert out.shape == (2 * 4 * 3 * (59 + 15 + 59),)
    blocks = out.reshape(2 * 4 * 3, 59 + 15 + 59)
    for lo, hi in [(0, 59), (59, 74), (74, 133)]:
        np.testing.assert_allclose(blocks[:, lo:hi].sum(axis=1), 1.0, rtol=1e-6)


def test_clip_224_layout():
    clip = _volume(12, shape=(10, 224, 224))
    cfg = dict(P=8, radii=(3, 3, 3), grid=(8, 8), overlap=0.7, mapping="u2")
    out = lbp_top(clip, **cfg)
    assert out.shape == (11_328,) and out.dtype == np.float32
    raw = lbp_top(clip, normalise=False, **cfg).reshape(8, 8, 3, 59)  # rows, cols, planes, bins
    codes = lbp_top_codes(clip, P=8, radii=(3, 3, 3), mapping="u2")
    edges = _edges(224, 8, 0.7)
    for i, j in [(0, 0), (0, 7), (3, 5), (7, 0), (7, 7)]:
        (y0, y1), (x0, x1) = edges[i], edges[j]
        ys = slice(max(y0, 3) - 3, min(y1, 221) - 3)  # valid centres, in code coordinates
        xs = slice(max(x0, 3) - 3, min(x1, 221) - 3)
        for plane in range(3):
            expected = np.bincount(codes[plane][:, ys, xs].ravel(), minlength=59)
            assert np.array_equal(raw[i, j, plane], expected)
    np.testing.assert_allclose(out.reshape(8, 8, 3, 59).sum(-1), 1.0, rtol=1e-6)


def test_plane_order_is_xy_xt_yt():
    """A volume varying only along one axis is constant in the plane without it."""
    rng = np.random.default_rng(16)
    along = {
        "x": np.broadcast_to(rng.permutation(20)[None, None, :], (7, 18, 20)),
        "y": np.broadcast_to(rng.permutation(18)[None, :, None], (7, 18, 20)),
        "t": np.broadcast_to(rng.permutation(7)[:, None, None], (7, 18, 20)),
    }
    constant_plane = {"x": 2, "y": 1, "t": 0}  # YT has no x, XT no y, XY no t
    for axis, vol in along.items():
        out = lbp_top(vol, P=8, radii=(1, 1, 1), grid=(2, 2)).reshape(2, 2, 3, 59)
        for plane in range(3):
            one_hot_all_ones = np.all(out[:, :, plane, 57] == 1)
            assert one_hot_all_ones == (plane == constant_plane[axis]), (axis, plane)


def test_every_frame_is_used():
    clip = _volume(13, shape=(10, 40, 40))
    cfg = dict(P=8, radii=(3, 3, 3), grid=(3, 3), overlap=0.5)
    base = lbp_top(clip, **cfg)
    for t in (0, 9):
        changed = clip.copy()
        changed[t] = _volume(14, shape=(40, 40))
        assert not np.array_equal(lbp_top(changed, **cfg), base), f"frame {t} ignored"


@pytest.mark.parametrize("value", [0, 100, 255, 0.3, -7.25])
@pytest.mark.parametrize("radii", [(1, 1, 1), (1.5, 2.5, 1.5), (3, 3, 3)])
def test_constant_volume_gives_all_ones_code(value, radii):
    vol = np.full((7, 12, 13), value)
    all_ones_bin = [("u2", 8, 57), ("riu2", 8, 8), (None, 8, 255), ("u2", 4, 13), ("ri", 8, 35)]
    for mapping, P, bin_ in all_ones_bin:
        codes = lbp_top_codes(vol, P=P, radii=radii, mapping=mapping)
        assert all(np.all(c == bin_) for c in codes)
        out = lbp_top(vol, P=P, radii=radii, grid=(2, 2), mapping=mapping).reshape(4, 3, -1)
        assert np.all(out[..., bin_] == 1) and out.sum() == 12


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("fn", [lbp_top, lbp_top_reference])
def test_errors(fn):
    vol = _volume(15, shape=(10, 17, 19))
    with pytest.raises(ValueError, match="too short in time"):
        fn(vol[:2], radii=(1, 1, 1))
    with pytest.raises(ValueError, match="too short in time"):
        fn(vol[:6], radii=(1, 1, 3))
    with pytest.raises(ValueError, match="height"):
        fn(vol[:, :4], radii=(1, 2, 1))
    with pytest.raises(ValueError, match="width"):
        fn(vol[:, :, :6], radii=(3, 1, 1))
    with pytest.raises(ValueError, match="3-D"):
        fn(vol[0])
    with pytest.raises(ValueError, match="3-D"):
        fn(vol[None])
    with pytest.raises(ValueError, match="no valid centre"):
        fn(vol, radii=(1, 1, 3), time_parts=3)  # first slab [0, 3) < ceil(Rt)
    with pytest.raises(ValueError, match="no valid centre"):
        fn(vol, grid=(17, 2))  # one-pixel block rows; row 0 is border
    with pytest.raises(ValueError, match="no valid centre"):
        fn(vol, grid=(2, 19), normalise=False)
    for bad in (np.nan, np.inf, -np.inf):
        fvol = vol.astype(np.float64)
        fvol[5, 8, 9] = bad
        with pytest.raises(ValueError, match="NaN or inf"):
            fn(fvol)
    for kwargs in (
        dict(mapping="uniform"),
        dict(P=1),
        dict(P=(8, 8)),
        dict(radii=(0.5, 1, 1)),
        dict(radii=(1, 1)),
        dict(overlap=1.0),
        dict(overlap=-0.1),
        dict(grid=(0, 3)),
        dict(time_parts=0),
    ):
        with pytest.raises(ValueError):
            fn(vol, **kwargs)


def test_lbp_image_and_codes_errors():
    with pytest.raises(ValueError, match="2-D"):
        lbp_image(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="too small"):
        lbp_image(np.zeros((4, 8)), R=2)
    with pytest.raises(ValueError, match="NaN or inf"):
        lbp_image(np.full((8, 8), np.nan))
    with pytest.raises(ValueError, match="too short in time"):
        lbp_top_codes(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="3-D"):
        lbp_top_codes(np.zeros((8, 8)))


# --------------------------------------------------------------------------- #
# The scikit-image baseline of benchmarks/bench_lbptop.py
# --------------------------------------------------------------------------- #
def _skimage_baseline():
    """benchmarks/lbptop_skimage.py, loaded by path (benchmarks/ is not a package)."""
    pytest.importorskip("skimage.feature")
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "lbptop_skimage.py"
    spec = importlib.util.spec_from_file_location("lbptop_skimage", path)
    baseline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(baseline)
    return baseline


@pytest.mark.parametrize("cfg", [dict(P=8, radii=(3, 3, 3), grid=(8, 8), overlap=0.7),
                                 dict(P=8, radii=(1, 1, 1), grid=(5, 5), overlap=0.0),
                                 dict(P=4, radii=(2, 2, 2), grid=(3, 2), overlap=0.4)],
                         ids=["issue", "r1-5x5", "p4-r2"])
def test_skimage_baseline_of_the_benchmark_equals_lbp_top(cfg):
    """benchmarks/lbptop_skimage.py (scikit-image's LBP per XY/XT/YT plane, its own u2 table and
    block layout) gives lbp_top's vector exactly on a random 8-bit clip, counts and normalised."""
    baseline = _skimage_baseline()
    vol = np.random.default_rng(7).integers(0, 256, (10, 40, 47), dtype=np.uint8)
    for normalise in (False, True):
        assert np.array_equal(baseline.lbp_top_skimage(vol, normalise=normalise, **cfg),
                              lbp_top(vol, normalise=normalise, mapping="u2", **cfg))
    with pytest.raises(ValueError, match="one radius"):
        baseline.lbp_top_skimage(vol, radii=(1, 1, 2))


def test_skimage_baseline_differs_only_on_exact_ties(monkeypatch):
    """On a linear ramp many neighbours interpolate exactly to the centre (at 45 degrees with R = 3
    the fractional weights sum to 1), and float rounding decides those bits differently in
    scikit-image and here; tie_report finds them all to be exact ties, and flags a flipped bit
    that is not one."""
    baseline = _skimage_baseline()
    t, y, x = np.mgrid[0:9, 0:30, 0:33]
    ramp = (x + y + t).astype(np.uint8)
    report = baseline.tie_report(ramp, 8, 3.0)
    assert report["codes"] > 0 and report["all_ties"] and report["ties"] == report["bits"]
    noise = np.random.default_rng(1).integers(0, 256, (9, 20, 21), dtype=np.uint8)
    assert baseline.tie_report(noise, 8, 3.0)["codes"] == 0
    plane_codes = baseline.plane_codes

    def flipped(volume, P, R):
        xy, xt, yt = plane_codes(volume, P, R)
        xy = xy.copy()
        xy[0, 0, 0] ^= 1
        return xy, xt, yt

    monkeypatch.setattr(baseline, "plane_codes", flipped)
    report = baseline.tie_report(noise, 8, 3.0)
    assert report["per_plane"]["XY"] == {"codes": 1, "bits": 1, "ties": 0} and not report["all_ties"]
