"""Composite sets: member indexes combined, member banks reused, namespacing enforced."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mexflow.bank import load_bank, load_vectors, merge_manifests
from mexflow.datasets.composite import build_composite_index, merge_member_banks
from mexflow.io import write_parquet_atomic
from mexflow.shards import ShardWriter


def _index(name: str, subjects: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"dataset": name, "subject": [f"{name}/{s}" for s in subjects],
                         "clip_id": [f"{name}/{s}/c{i}" for i, s in enumerate(subjects)],
                         "class3": "positive", "shard": 0})


def test_composite_index_concatenates_members_in_clip_order():
    index, rejected = build_composite_index(
        "megc", {"samm": _index("samm", ["006", "007"]), "casme2": _index("casme2", ["sub01"])},
        {"samm": pd.DataFrame({"dataset": ["samm"], "clip_id": ["samm/008/x"], "file": ["f"],
                               "reason": ["r"]}),
         "casme2": pd.DataFrame()})
    assert index["clip_id"].tolist() == ["casme2/sub01/c0", "samm/006/c0", "samm/007/c1"]
    assert set(index["dataset"]) == {"samm", "casme2"}
    assert rejected["clip_id"].tolist() == ["samm/008/x"]


def test_composite_index_refuses_unnamespaced_or_single_member():
    bad = _index("samm", ["006"]).assign(subject="006")
    with pytest.raises(ValueError, match="outside its namespace"):
        build_composite_index("megc", {"samm": bad, "casme2": _index("casme2", ["sub01"])}, {})
    with pytest.raises(ValueError, match="at least 2 members"):
        build_composite_index("megc", {"samm": _index("samm", ["006"])}, {})
    with pytest.raises(ValueError, match="no clip"):
        build_composite_index("megc", {"samm": _index("samm", []), "casme2": _index("casme2", ["s"])}, {})


def _member_bank(root, name: str, clips: list[str], spec: dict) -> str:
    folder = root / name / "features" / "original" / "fs"
    w = ShardWriter(folder / "shard0.npz")
    for k, c in enumerate(clips):
        w.add(c, vector=np.full(3, len(name) + k, np.float32), data=np.full((2, 2), k, np.float16))
    shard_manifest = w.write()
    write_parquet_atomic(shard_manifest, folder / "shard0.parquet")
    merged = merge_manifests([shard_manifest], [str(folder / "shard0.parquet")], "original", "fs", spec)
    write_parquet_atomic(merged, folder / "manifest.parquet")
    return str(folder / "manifest.parquet")


def test_composite_bank_reads_member_files_in_place(tmp_path):
    spec = {"kind": "fft3d", "block": 8}
    paths = [_member_bank(tmp_path, "samm", ["samm/006/a", "samm/007/b"], spec),
             _member_bank(tmp_path, "smic", ["smic/s1/c"], spec)]
    out = tmp_path / "megc" / "features" / "original" / "fs" / "manifest.parquet"
    merged = merge_member_banks([pd.read_parquet(p) for p in paths], paths, out)
    write_parquet_atomic(merged, out)
    assert not any((tmp_path / "megc").rglob("*.npz")), "members' NPZ files are reused, not copied"
    X, missing = load_vectors(out, ["smic/s1/c", "samm/007/b", "casme2/x/y"])
    assert missing == ["casme2/x/y"]
    np.testing.assert_array_equal(X, [[4, 4, 4], [5, 5, 5]])
    data, _ = load_bank(out, ["samm/006/a", "samm/007/b"], "data")
    assert data.shape == (2, 2, 2) and data.dtype == np.float16 and data[1].max() == 1


def test_composite_bank_refuses_members_with_different_parameters(tmp_path):
    paths = [_member_bank(tmp_path, "samm", ["samm/006/a"], {"kind": "fft3d", "block": 8}),
             _member_bank(tmp_path, "smic", ["smic/s1/c"], {"kind": "fft3d", "block": 4})]
    with pytest.raises(ValueError, match="different parameters"):
        merge_member_banks([pd.read_parquet(p) for p in paths], paths, tmp_path / "m.parquet")
