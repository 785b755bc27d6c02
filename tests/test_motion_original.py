"""Rule original_motion's shard: what the motion metrics need of the original clips, computed once
per shard. The motion table computed from it is number for number the table computed from scratch
(the way every condition's motion job computed it before the shard existed), and its arrays are
what the metrics compute themselves."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from mexflow.magnify.gain import gain_ratios, perfect_gains
from mexflow.magnify.metrics import (displacement_between, motion_magnification_ratio, original_motion_mean,
                                     reference_flows, supervisor_errors, supervisor_source_flows,
                                     truth_errors)
from mexflow.magnify.motion import motion_rows, original_motion, write_original_motion
from mexflow.magnify.supervisors import make_supervisor
from mexflow.shards import ShardWriter, iter_clips
from mexflow.synthetic.corpus import truth_path
from mexflow.synthetic.ground_truth import ClipTruth, load_clip_truth, save_clip_truth

CANVAS, CROP = 96, 48
PARAMS = {"mmr_size": 32, "min_px": 0.1}
SOURCE_FRAMES = np.array([10.0, 12.0, 13.5, 15.0, 17.0])  # a TIM-like fractional frame among them
# (clip_id, apex peak px, has geometry, static clip)
CLIPS = [("toy/s01/c1", 0.8, True, False), ("toy/s01/c2", 0.5, False, False),
         ("toy/s02/c1", 0.6, True, False), ("toy/s02/c2", 0.7, True, True)]
CONDITIONS = {"up": ("learned", 3.0), "down": ("learned", 0.5), "other": ("evm", 7.0)}
CACHED_ALPHAS = [0.5, 3.0]  # "other" (alpha 7) is not in the shard: computed on the fly


def _texture(rng) -> np.ndarray:
    noise = cv2.GaussianBlur(rng.normal(size=(CROP, CROP, 3)).astype(np.float32), (0, 0), 1.2)
    return np.clip(128 + noise / noise.std() * 45, 0, 255).astype(np.uint8)


def _moved(image: np.ndarray, d: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[0:CROP, 0:CROP].astype(np.float32)
    return cv2.remap(image, xx - d[..., 0], yy - d[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)


def _truth(peak: float) -> ClipTruth:
    frames = np.arange(8, 21)
    yy, xx = np.mgrid[0:CANVAS, 0:CANVAS].astype(np.float32)
    field = np.stack([np.sin(2 * np.pi * yy / CANVAS), 0.6 * np.cos(2 * np.pi * xx / CANVAS)], -1) * peak
    amp = np.clip(1 - np.abs(frames - 15) / 5, 0, 1).astype(np.float32)
    jitter = np.column_stack([0.2 * np.sin(frames), 0.1 * np.cos(frames), 0.05 * np.sin(frames / 3)])
    return ClipTruth(frames=frames, amplitude=amp, apex_field=field.astype(np.float32),
                     jitter=jitter.astype(np.float32), jitter_centre=np.array([48.0, 48.0]),
                     gain=np.ones(len(frames), np.float32), landmarks=np.zeros((478, 2)), iod=30.0,
                     aus="12", emotion="happiness", onset=10, apex=15, offset=20, peak_px=peak,
                     fps=200.0, noise_sigma=1.0)


def _masks() -> np.ndarray:
    mouth = np.zeros((CROP, CROP), np.uint8)
    cv2.circle(mouth, (24, 32), 9, 1, -1)
    brows = np.zeros((CROP, CROP), bool)
    brows[5:13, 10:38] = True
    return np.stack([np.ones((CROP, CROP), bool), mouth > 0, brows])


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """A one-shard dataset: truth archives, aligned boxes, geometry (not for every clip), the
    original clips and each condition's magnified clips (each frame moved by alpha x the truth)."""
    root = tmp_path_factory.mktemp("motion_original")
    corpus = root / "corpus"
    rng = np.random.default_rng(3)
    box = np.array([48.0, 50.0, 64.0])
    writers = {name: ShardWriter(root / name / "shard0.npz", compressed=False)
               for name in ("original", "aligned", "geometry", *CONDITIONS)}
    for cid, peak, with_geometry, static in CLIPS:
        _, subject, clip = cid.split("/")
        gt = _truth(peak)
        save_clip_truth(truth_path(corpus, subject, clip), gt)
        disp = [displacement_between(gt, box, CROP, SOURCE_FRAMES[0], f) for f in SOURCE_FRAMES[1:]]
        tex = _texture(rng)
        frames = np.stack([tex] * len(SOURCE_FRAMES)) if static else \
            np.stack([tex] + [_moved(tex, d) for d in disp])
        writers["original"].add(cid, frames=frames, source_frames=SOURCE_FRAMES)
        writers["aligned"].add(cid, box=box)
        if with_geometry:
            writers["geometry"].add(cid, meta={"regions": "face,mouth,brows"}, masks=_masks())
        for name, (_, alpha) in CONDITIONS.items():
            writers[name].add(cid, frames=np.stack([tex] + [_moved(tex, alpha * d) for d in disp]))
    out = {name: (root / name, w.write()) for name, w in writers.items()}
    out["corpus"] = corpus
    return out


@pytest.fixture(scope="module")
def supervisor():
    return make_supervisor({"kind": "lk"})


@pytest.fixture(scope="module")
def reference(shards, supervisor, tmp_path_factory):
    path = tmp_path_factory.mktemp("reference") / "shard0.npz"
    refs = original_motion(shards["original"], supervisor=supervisor, aligned=shards["aligned"],
                           geometry=shards["geometry"], truth_root=shards["corpus"], alphas=CACHED_ALPHAS,
                           params=PARAMS)
    return path.parent, write_original_motion(path, refs)


def _rows_before_the_cache(condition, method, alpha, shards, supervisor) -> pd.DataFrame:
    """The motion table as each condition's job computed it before rule original_motion: every
    quantity of the original clip computed again, from the metrics' primitives."""
    orig = {r["clip_id"]: a for r, a in iter_clips(*shards["original"])}
    boxes = {r["clip_id"]: a["box"] for r, a in iter_clips(*shards["aligned"])}
    regions = {r["clip_id"]: (a["masks"], r["regions"].split(",")) for r, a in iter_clips(*shards["geometry"])}
    rows = []
    for mrow, m in iter_clips(*shards[condition]):
        cid, x, mag = mrow["clip_id"], orig[mrow["clip_id"]]["frames"], m["frames"]
        row = {"clip_id": cid, "condition": condition, "method": method, "alpha": float(alpha),
               "mmr": motion_magnification_ratio(x, mag, size=PARAMS["mmr_size"])}
        row.update(supervisor_errors(x, mag, alpha, supervisor, min_px=PARAMS["min_px"]))
        _, subject, clip = cid.split("/")
        gt = load_clip_truth(truth_path(shards["corpus"], subject, clip))
        src = orig[cid]["source_frames"]
        disp = np.stack([displacement_between(gt, boxes[cid], x.shape[1], float(src[0]), float(f))
                         for f in src[1:]])
        masks, names = regions.get(cid, (None, None))
        flows = {"original": reference_flows(x), "magnified": reference_flows(mag)}
        out = truth_errors(x, mag, alpha, disp, masks=masks, region_names=names, min_px=PARAMS["min_px"],
                           flows=flows)
        ratios = gain_ratios(x, mag, alpha, disp, masks=masks, region_names=names, min_px=PARAMS["min_px"],
                             flows=flows)
        out.update({k: v for k, v in ratios.items()
                    if k.endswith("gain_ratio") or k == "perfect_effective_alpha"})
        row.update({f"truth_{k}" if not k.startswith("truth_") else k: v for k, v in out.items()})
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("condition", list(CONDITIONS))
def test_motion_rows_from_the_original_shard_equal_the_rows_computed_from_scratch(
        shards, supervisor, reference, condition):
    method, alpha = CONDITIONS[condition]
    before = _rows_before_the_cache(condition, method, alpha, shards, supervisor)
    cached = motion_rows(condition, method, alpha, shards["original"], shards[condition], supervisor=supervisor,
                         geometry=shards["geometry"], reference=reference, params=PARAMS)
    scratch = motion_rows(condition, method, alpha, shards["original"], shards[condition], supervisor=supervisor,
                          aligned=shards["aligned"], geometry=shards["geometry"], truth_root=shards["corpus"],
                          params=PARAMS)
    pd.testing.assert_frame_equal(cached, before, check_exact=True)
    pd.testing.assert_frame_equal(scratch, before, check_exact=True)
    # the fixture exercises what it should: region metrics where there is geometry, a static clip
    assert cached["truth_inmask_gain_ratio"].notna().sum() == 3
    assert math.isnan(cached.loc[cached["clip_id"] == "toy/s02/c2", "mmr"].iloc[0])
    assert cached["mmr"].notna().sum() == 3 and cached["truth_gain_ratio"].notna().all()


def test_original_shard_arrays_equal_fresh_computations(shards, supervisor, reference):
    folder, manifest = reference
    assert set(manifest["clip_id"]) == {c[0] for c in CLIPS} and manifest["truth"].all()
    orig = {r["clip_id"]: a for r, a in iter_clips(*shards["original"])}
    regions = {r["clip_id"]: a["masks"] for r, a in iter_clips(*shards["geometry"])}
    names = ["face", "mouth", "brows"]
    for row, a in iter_clips(folder, manifest):
        x = orig[row["clip_id"]]["frames"]
        assert a["supervisor_flows"].dtype == np.float32 and a["flows"].dtype == np.float32
        np.testing.assert_array_equal(a["flows"], reference_flows(x))
        np.testing.assert_array_equal(a["supervisor_flows"], supervisor_source_flows(x, supervisor))
        with torch.no_grad():  # the supervisor's own flows, pair by pair in one batch
            x0 = torch.from_numpy(x[:1]).float().div(255).permute(0, 3, 1, 2).expand(len(x) - 1, -1, -1, -1)
            xi = torch.from_numpy(x[1:]).float().div(255).permute(0, 3, 1, 2)
            np.testing.assert_allclose(a["supervisor_flows"], supervisor(x0.contiguous(), xi).numpy(), atol=1e-5)
        mean = original_motion_mean(x, PARAMS["mmr_size"])
        assert (math.isnan(mean) and math.isnan(a["mmr_original"])) or a["mmr_original"] == mean
        np.testing.assert_array_equal(a["alphas"], CACHED_ALPHAS)
        masks = regions.get(row["clip_id"])
        for k, alpha in enumerate(CACHED_ALPHAS):
            g = perfect_gains(x, a["disp"], alpha, masks, None if masks is None else names, PARAMS["min_px"])
            expected = [g["moving"], g.get("inmask", math.nan), g.get("outmask", math.nan)]
            np.testing.assert_array_equal(a["perfect_gains"][k], expected)


def test_original_shard_without_truth_or_supervisor(shards, tmp_path):
    """A real corpus (no truth root) and no supervisor: only the MMR denominator is kept, and the
    motion rows have no truth or supervisor columns, as before."""
    path = tmp_path / "shard0.npz"
    manifest = write_original_motion(path, original_motion(shards["original"], params=PARAMS))
    assert not manifest["truth"].any()
    for _, a in iter_clips(tmp_path, manifest):
        assert set(a) == {"mmr_original"}
    rows = motion_rows("up", "learned", 3.0, shards["original"], shards["up"], reference=(tmp_path, manifest),
                       params=PARAMS)
    scratch = motion_rows("up", "learned", 3.0, shards["original"], shards["up"], params=PARAMS)
    pd.testing.assert_frame_equal(rows, scratch, check_exact=True)
    assert list(rows.columns) == ["clip_id", "condition", "method", "alpha", "mmr"]


def test_clip_missing_from_the_original_shard_is_named(shards, supervisor, reference):
    folder, manifest = reference
    with pytest.raises(ValueError, match="toy/s01/c2"):
        motion_rows("up", "learned", 3.0, shards["original"], shards["up"], supervisor=supervisor,
                    reference=(folder, manifest[manifest["clip_id"] != "toy/s01/c2"]), params=PARAMS)
