"""Training pairs, fine-tuning data and condition specs of the learned magnifiers."""
import numpy as np
import pandas as pd
import pytest

from mexflow.magnify.conditions import parse_condition
from mexflow.magnify.data import part_mask_weights, reserved_clip_ids, reserved_subjects
from mexflow.magnify.pairs import (MEPairSampler, PairFilter, generic_pair_pool, keep_pair,
                                   smooth_random_flow, warp_forward)


def _texture(size=64, seed=0):
    rng = np.random.default_rng(seed)
    import cv2

    noise = rng.normal(128, 60, size=(size // 4, size // 4, 3)).astype(np.float32)
    return np.clip(cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def test_warp_forward_follows_the_forward_convention():
    # x1(x + F(x)) = x0(x): sampling x1 at x + F(x) must give back x0 (away from borders).
    import cv2

    x0 = _texture(96)
    flow = smooth_random_flow(np.random.default_rng(1), 96, max_px=2.0)
    x1 = warp_forward(x0, flow)
    ys, xs = np.mgrid[0:96, 0:96].astype(np.float32)
    inner = (slice(8, -8), slice(8, -8))

    def error(sign):
        back = cv2.remap(x1.astype(np.float32), xs + sign * flow[..., 0], ys + sign * flow[..., 1],
                         cv2.INTER_LINEAR)
        return np.abs(back[inner] - x0[inner].astype(np.float32)).mean()

    # What is left is the blur of resampling twice (2.7 grey levels measured), far below the
    # error of the opposite convention (20.4) or of no motion at all (10.7).
    moved = np.abs(x1[inner].astype(np.float32) - x0[inner].astype(np.float32)).mean()
    assert error(+1) < 0.3 * moved and error(+1) < 0.2 * error(-1), (error(+1), error(-1), moved)
    assert np.hypot(flow[..., 0], flow[..., 1]).max() == pytest.approx(2.0, rel=1e-5)


def test_pair_filter_thresholds():
    x0 = _texture(64)
    still = np.zeros((64, 64, 2), np.float32)
    assert not keep_pair(x0, x0, still)                      # MSE 0: no motion
    big = np.full((64, 64, 2), 3.0, np.float32)              # p80 of 4.2 px > 2 px
    assert not keep_pair(x0, warp_forward(x0, big), big)
    small = np.full((64, 64, 2), 1.0, np.float32)
    assert keep_pair(x0, warp_forward(x0, small), small)
    assert not keep_pair(x0, warp_forward(x0, small), small, PairFilter(min_mse=1e6))


def test_generic_pool_passes_its_filter():
    pool = generic_pair_pool(12, 48, seed=3, faces=1)
    assert pool["x0"].shape == pool["x1"].shape == (12, 48, 48, 3)
    assert pool["flow"].shape == (12, 48, 48, 2)
    assert int(pool["tries"]) >= 12
    for a, b, f in zip(pool["x0"], pool["x1"], pool["flow"]):
        assert keep_pair(a, b, f)
    again = generic_pair_pool(12, 48, seed=3, faces=1)
    assert np.array_equal(pool["x1"], again["x1"])          # seeded


def test_generic_pool_reports_an_impossible_filter():
    with pytest.raises(RuntimeError, match="pair filter"):
        generic_pair_pool(2, 32, seed=0, faces=0, rule=PairFilter(min_mse=1e9), max_tries=5)


def test_me_pairs_never_repeat_a_frame():
    # Frame i of each clip is filled with the value 10 * i, so equal values mean the same frame.
    clips = [np.stack([np.full((40, 40, 3), 10 * i, np.uint8) for i in range(t)]) for t in (2, 5)]
    masks = [np.ones((40, 40), np.float32), np.zeros((40, 40), np.float32)]
    x0, x1, w = MEPairSampler(clips, masks).sample(np.random.default_rng(0), 200, 32)
    assert x0.shape == (200, 32, 32, 3) and w.shape == (200, 32, 32)
    assert (x0[:, 0, 0, 0] != x1[:, 0, 0, 0]).all()
    assert set(np.unique(w)) == {0.0, 1.0}
    with pytest.raises(ValueError, match="fewer than 2 frames"):
        MEPairSampler([clips[0][:1]])
    with pytest.raises(ValueError, match="larger than"):
        MEPairSampler(clips).sample(np.random.default_rng(0), 1, 64)


def test_reserved_subjects_are_deterministic_and_per_corpus():
    subjects = [f"s/{k:02d}" for k in range(10)]
    a = reserved_subjects(subjects, 3, seed=2)
    assert a == reserved_subjects(list(reversed(subjects)), 3, seed=2) and len(a) == 3
    with pytest.raises(ValueError, match="at least 2"):
        reserved_subjects(subjects[:3], 2, seed=0)
    index = pd.DataFrame({"dataset": ["a"] * 4 + ["b"] * 4,
                          "subject": ["a/1", "a/2", "a/3", "a/4", "b/1", "b/2", "b/3", "b/4"]})
    index["clip_id"] = index["subject"] + "/c"
    ids = reserved_clip_ids(index, 1, seed=5)
    assert len(ids) == 2 and {i[0] for i in ids} == {"a", "b"}


def test_part_mask_weights_leave_out_the_face_mask():
    masks = np.zeros((3, 4, 4), bool)
    masks[0, 0, 0] = masks[1, 1, 1] = True
    masks[2] = True
    w = part_mask_weights(masks, ["mouth", "nose", "face"])
    assert w.dtype == np.float32 and w.sum() == 2
    with pytest.raises(ValueError):
        part_mask_weights(masks[2:], ["face"])


def test_condition_specs_are_validated():
    spec = parse_condition("evm", {"method": "evm", "alpha": 15, "levels": 4})
    assert spec.evm.alpha == 15 and spec.evm.levels == 4
    learned = parse_condition("m", {"method": "learned", "model": "magplus", "alpha": 0.5})
    assert learned.alpha == 0.5 and learned.tta is None
    with pytest.raises(ValueError, match="'x'.*method"):
        parse_condition("x", {"method": "nope"})
    with pytest.raises(ValueError, match="needs `model`"):
        parse_condition("y", {"method": "learned", "alpha": 2})
