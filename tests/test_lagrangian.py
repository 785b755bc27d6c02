"""The Lagrangian reference magnifier against a known motion, and the wiring of targeted
(alpha-map) magnification: masks from the geometry shard, uniform fallback recorded."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from mexflow.clip_shards import magnify_clip_shard
from mexflow.features.flow import compute_flow, to_gray
from mexflow.magnify.conditions import (check_condition, lagrangian_magnifier, lagrangian_magnify,
                                        learned_magnifier, parse_condition, targeted_masks)
from mexflow.magnify.pairs import smooth_random_flow, warp_forward
from mexflow.shards import ShardWriter, iter_clips

SIZE, MARGIN = 96, 12


def _texture(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.uniform(0, 255, (SIZE, SIZE, 3)).astype(np.float32), (0, 0), 2.0)
    return np.clip((tex - tex.mean()) * 4 + 128, 0, 255).astype(np.uint8)


def _gain_along(flow: np.ndarray, truth: np.ndarray) -> float:
    """Least-squares gain of a flow along the true field, away from the borders."""
    inner = (slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    return float((flow[inner] * truth[inner]).sum() / (truth[inner] ** 2).sum())


@pytest.mark.parametrize("backend", ["dis", "farneback"])
def test_lagrangian_magnifies_a_known_subpixel_field_by_alpha(backend):
    """A texture moved by a smooth field peaking at 0.3 px (frame 1) and 0.15 px (frame 2),
    magnified at alpha 5: the motion of the output, measured by Farnebäck from frame 0 (a
    different estimator than the default DIS), is alpha x the field within 10 % (measured:
    DIS 4.89 and 4.76, Farnebäck 4.74 and 4.65 for the 0.3 / 0.15 px frames; TV-L1 3.4 fails; the estimator's own
    gain on the unmagnified pair is ~0.97)."""
    alpha = 5.0
    x0 = _texture()
    field = smooth_random_flow(np.random.default_rng(1), SIZE, 0.3)
    clip = np.stack([x0, warp_forward(x0, field), warp_forward(x0, 0.5 * field)])
    out = lagrangian_magnify(clip, alpha, backend)
    assert out.shape == clip.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], clip[0])
    for i, scale in ((1, 1.0), (2, 0.5)):
        measured = compute_flow(to_gray(out[0]), to_gray(out[i]), "farneback")
        gain = _gain_along(measured, scale * field)
        assert abs(gain / alpha - 1) < 0.10, (backend, i, gain)


def test_lagrangian_magnifier_treats_gray_clips_and_key_frames_like_learned_ones():
    x0 = to_gray(_texture(3))
    field = smooth_random_flow(np.random.default_rng(4), SIZE, 0.3)
    moved = warp_forward(x0, field)  # gray (H, W) in, gray out
    clip, keys = np.stack([x0, moved, moved]), np.stack([x0, moved])
    spec = parse_condition("lagrangian", {"method": "lagrangian", "alpha": 4})
    assert spec.backend == "dis" and spec.flow == {}
    out, out_keys = lagrangian_magnifier(spec)("c", clip, keys)
    np.testing.assert_array_equal(out[0], x0)
    np.testing.assert_array_equal(out_keys[0], x0)
    np.testing.assert_array_equal(out[1], out_keys[1])  # the same pair gives the same frame
    gain = _gain_along(compute_flow(x0, out_keys[1], "farneback"), field)
    assert 3.4 < gain < 4.4


@pytest.mark.parametrize("spec, message", [
    ({"method": "lagrangian", "alpha": 2, "backend": "nope"}, "backend must be one of"),
    ({"method": "lagrangian", "alpha": 2, "flow": {"winsize": 3}}, "unknown dis flow parameter"),
    ({"method": "lagrangian", "alpha": 2, "model": "x"}, "unknown lagrangian setting"),
    ({"method": "lagrangian", "alpha": 2, "targeted": "face_parts"}, "targeted applies to learned"),
    ({"method": "learned", "model": "m", "alpha": 2, "targeted": "eyes"}, "targeted must be one of"),
    ({"method": "evm", "alpha": 2, "preset": "fast"}, "unknown EVM preset"),
    ({"method": "evm", "alpha": 2, "preset": "me", "r2": 0.2}, "sets the temporal band"),
])
def test_condition_errors_name_the_condition(spec, message):
    with pytest.raises(ValueError, match=message) as err:
        check_condition("cond", spec)
    assert "'cond'" in str(err.value)


def test_check_condition_accepts_the_new_conditions():
    check_condition("a", {"method": "lagrangian", "alpha": 10, "backend": "farneback",
                          "flow": {"preset": "samm28"}})
    check_condition("b", {"method": "learned", "model": "pretrained", "alpha": 10, "targeted": "face_parts"})
    check_condition("c", {"method": "evm", "alpha": 10, "preset": "me", "levels": 5})
    check_condition("d", {"method": "evm", "alpha": 10, "preset": "me", "temporal": "ideal"})
    with pytest.raises(ValueError, match="needs the dataset's index"):
        parse_condition("c", {"method": "evm", "alpha": 10, "preset": "me"})


# ---------------------------------------------------------------------------------------------
# targeted magnification: the mask wiring (the alpha map itself is magnify_clip's, tested there)

REGIONS = ["right_brow", "left_brow", "right_eye", "left_eye", "nose", "mouth", "face"]


def _shards(tmp_path, size=16):
    """A normalised-clip shard of clips a, b, c and a geometry shard holding a and b only."""
    rng = np.random.default_rng(0)
    clips = ShardWriter(tmp_path / "clips" / "shard0.npz")
    geo = ShardWriter(tmp_path / "geometry" / "shard0.npz")
    (tmp_path / "clips").mkdir()
    (tmp_path / "geometry").mkdir()
    for k, cid in enumerate(["a", "b", "c"]):
        clips.add(cid, frames=rng.integers(0, 255, (3, size, size, 3), dtype=np.uint8),
                  key_frames=rng.integers(0, 255, (2, size, size, 3), dtype=np.uint8),
                  source_frames=np.arange(3.0))
        if cid != "c":
            masks = np.zeros((7, size, size), bool)
            masks[4, k:k + 3, 2:5] = True        # nose
            masks[5, 10:12, 4 + k:8] = True      # mouth
            masks[6] = True                      # face: not part of the alpha map
            geo.add(cid, meta={"regions": ",".join(REGIONS)}, masks=masks)
    return clips.write(), geo.write()


def test_targeted_condition_passes_each_clips_part_mask_and_records_the_fallback(tmp_path, monkeypatch):
    import mexflow.magnify.generator as generator_module

    clip_manifest, geo_manifest = _shards(tmp_path)
    masks = targeted_masks([(tmp_path / "geometry", geo_manifest)])
    assert sorted(masks) == ["a", "b"]
    with np.load(tmp_path / "geometry" / "shard0.npz") as z:
        expected_a = z["c00000.masks"][:6].any(axis=0)
    np.testing.assert_array_equal(masks["a"], expected_a)
    assert masks["a"].dtype == bool and 0 < masks["a"].mean() < 0.2  # the face hull is left out

    calls = []

    def fake_magnify_clip(g, frames, alpha, batch_size=8, device=None, alpha_mask=None):
        calls.append((frames.shape[0], alpha, None if alpha_mask is None else alpha_mask.copy()))
        return frames
    monkeypatch.setattr(generator_module, "magnify_clip", fake_magnify_clip)
    spec = parse_condition("flowmag_targeted", {"method": "learned", "model": "pretrained", "alpha": 10,
                                                "targeted": "face_parts"})
    magnify = learned_magnifier(spec, generator=None, batch_size=2, device="cpu", masks=masks)

    def meta(cid):
        return {"targeted": cid in masks, "alpha_mask": spec.targeted if cid in masks else "none: no geometry"}
    out = magnify_clip_shard(tmp_path / "clips", clip_manifest, tmp_path / "out.npz", magnify, clip_meta=meta)

    assert out["targeted"].tolist() == [True, True, False]
    assert out["alpha_mask"].tolist() == ["face_parts", "face_parts", "none: no geometry"]
    assert [c[:2] for c in calls] == [(3, 10.0), (2, 10.0)] * 3  # frames, then key frames, per clip
    for (_, _, got), cid in zip(calls, ["a", "a", "b", "b", "c", "c"]):
        if cid == "c":
            assert got is None       # no geometry: uniform alpha, not dropped
        else:
            np.testing.assert_array_equal(got, masks[cid])
    assert [row["clip_id"] for row, _ in iter_clips(tmp_path, out)] == ["a", "b", "c"]


def test_targeted_condition_without_masks_is_refused():
    spec = parse_condition("t", {"method": "learned", "model": "pretrained", "alpha": 10, "targeted": "face_parts"})
    with pytest.raises(ValueError, match="needs the clips' masks"):
        learned_magnifier(spec, generator=None, batch_size=2, device="cpu")
    assert parse_condition("u", {"method": "learned", "model": "m", "alpha": 2}).targeted is None
