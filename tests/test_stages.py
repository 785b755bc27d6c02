"""Temporal normalisation, shard storage, feature banks and feature-set errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mexflow.bank import load_vectors, merge_manifests, param_hash
from mexflow.features.flow import block_means, flow_strain_sequence
from mexflow.features.registry import compute_features
from mexflow.io import save_npz_atomic, write_parquet_atomic
from mexflow.shards import ShardWriter, iter_clips, read_clip
from mexflow.temporal import sample_uniform, uniform_indices, window_frames


def test_uniform_indices_emotion_engine_convention():
    assert uniform_indices(30, 8).tolist() == [0, 4, 8, 12, 16, 20, 24, 29]
    assert uniform_indices(5, 8).tolist() == [0, 0, 1, 1, 2, 2, 3, 4]  # short clips repeat frames
    clip = np.arange(30)[:, None]
    out, idx = sample_uniform(clip, 8)
    assert out[:, 0].tolist() == idx.tolist()
    with pytest.raises(ValueError):
        uniform_indices(0, 8)


def test_window_frames():
    frames = list(range(10, 31))
    assert window_frames(frames, 12, 18, 25) == list(range(12, 26))
    assert window_frames(frames, 12, 18, 25, ("onset", "apex")) == list(range(12, 19))
    assert window_frames(frames, 12, 18, 25, ("first", "last")) == frames
    with pytest.raises(ValueError, match="window points"):
        window_frames(frames, 12, 18, 25, ("start", "offset"))
    with pytest.raises(ValueError, match="empty"):
        window_frames(frames, 12, 18, 25, ("offset", "onset"))


def test_shard_round_trip(tmp_path):
    w = ShardWriter(tmp_path / "shard0.npz")
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    w.add("ds/sub01/c1", meta={"n": 2}, frames=a, vector=np.ones(3, np.float32))
    w.add("ds/sub01/c2", frames=a + 1, vector=np.zeros(3, np.float32))
    manifest = w.write()
    assert manifest["clip_id"].tolist() == ["ds/sub01/c1", "ds/sub01/c2"]
    got = read_clip(tmp_path, manifest.iloc[1], ["frames"])
    assert list(got) == ["frames"] and np.array_equal(got["frames"], a + 1)
    seen = {row["clip_id"]: arr["vector"] for row, arr in iter_clips(tmp_path, manifest)}
    assert np.array_equal(seen["ds/sub01/c1"], np.ones(3))
    assert not list(tmp_path.glob("*.tmp"))


def test_bank_merge_and_aligned_loading(tmp_path):
    manifests, paths = [], []
    for k, clips in enumerate([["a", "c"], ["b"]]):
        w = ShardWriter(tmp_path / f"shard{k}.npz")
        for c in clips:
            w.add(c, vector=np.full(4, ord(c), np.float32))
        manifests.append(w.write())
        paths.append(str(tmp_path / f"shard{k}.parquet"))
    spec = {"kind": "lbptop", "P": 8}
    merged = merge_manifests(manifests, paths, "original", "lbptop", spec)
    assert merged["param_hash"].nunique() == 1 and merged["param_hash"].iloc[0] == param_hash(spec)
    write_parquet_atomic(merged, tmp_path / "manifest.parquet")
    X, missing = load_vectors(tmp_path / "manifest.parquet", ["b", "x", "a", "c"])
    assert missing == ["x"] and X[:, 0].tolist() == [ord("b"), ord("a"), ord("c")]
    with pytest.raises(ValueError, match="several shards"):
        merge_manifests(manifests + manifests[:1], paths + paths[:1], "original", "lbptop", spec)


def test_param_hash_ignores_key_order():
    assert param_hash({"a": 1, "b": [1, 2]}) == param_hash({"b": [1, 2], "a": 1})
    assert param_hash({"a": 1}) != param_hash({"a": 2})


def test_feature_sets_shapes_and_bad_input():
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 255, (6, 32, 32, 3), dtype=np.uint8)
    fs = compute_features({"frames": clip}, {"kind": "flow_strain", "vector_grid": [4, 4]})
    assert fs["data"].shape == (5, 32, 32, 3) and fs["data"].dtype == np.float16
    assert fs["vector"].shape == (5 * 4 * 4 * 3,)
    lt = compute_features({"frames": clip}, {"kind": "lbptop", "P": 8, "radii": [1, 1, 1], "grid": [2, 2]})
    assert lt["vector"].shape == (2 * 2 * 3 * 59,)
    with pytest.raises(ValueError, match="uint8"):
        compute_features({"frames": clip.astype(np.float32)}, {"kind": "lbptop"})
    with pytest.raises(ValueError, match="unknown feature kind"):
        compute_features({"frames": clip}, {"kind": "sift"})
    with pytest.raises(ValueError, match="too short|T <|frames"):
        compute_features({"frames": clip[:2]}, {"kind": "lbptop", "radii": [1, 1, 1]})
    # constant frames: zero flow and strain (documented behaviour, not garbage)
    const = np.full((4, 32, 32, 3), 90, np.uint8)
    fc = compute_features({"frames": const}, {"kind": "flow_strain"})
    assert np.abs(fc["vector"]).max() == 0


def test_block_means_layout():
    vol = np.zeros((2, 4, 6, 3), np.float32)
    vol[1, :2, 3:, 2] = 1.0  # time 1, top-right block, channel 2
    out = block_means(vol, (2, 2)).reshape(2, 2, 2, 3)
    assert out[1, 0, 1, 2] == 1.0 and out.sum() == 1.0


def test_flow_needs_two_frames():
    with pytest.raises(ValueError, match="two"):
        flow_strain_sequence(np.zeros((1, 8, 8), np.uint8))


def test_npz_writer_refuses_pickles(tmp_path):
    with pytest.raises(TypeError, match="pickle"):
        save_npz_atomic(tmp_path / "x.npz", bad=np.array([{"a": 1}], dtype=object))
    assert not list(tmp_path.iterdir())
