"""Configuration composition: config.yaml's defaults under an overlay (mexflow.config_compose),
and every shipped config planned from the repository root exactly as the README runs it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mexflow.config_compose import compose, merge

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
DEFAULTS = yaml.safe_load((REPO / "config.yaml").read_text())


def test_plain_mappings_merge_and_scalars_and_lists_are_replaced():
    out, notes = compose(DEFAULTS, {"alignment": {"crop_size": 96}, "seed": 7, "conditions": ["original"]})
    assert out["alignment"]["crop_size"] == 96
    assert out["alignment"]["detector"] == DEFAULTS["alignment"]["detector"]  # kept from the defaults
    assert out["seed"] == 7 and out["conditions"] == ["original"]
    assert out["datasets"] == DEFAULTS["datasets"]
    assert DEFAULTS["alignment"]["crop_size"] == 224  # the defaults are not modified


def test_a_named_collection_selects_and_inherits_same_named_entries():
    overlay = {"models": {"cnn3d": {"epochs": 3}, "mine": {"kind": "linear_svm", "C_grid": [1.0]}},
               "features": {"lbptop": {"kind": "lbp_images", "P": 8, "R": 1}}}
    out, _ = compose(DEFAULTS, overlay)
    assert sorted(out["models"]) == ["cnn3d", "mine"]
    assert out["models"]["cnn3d"] == {**DEFAULTS["models"]["cnn3d"], "epochs": 3}
    assert out["models"]["mine"] == {"kind": "linear_svm", "C_grid": [1.0]}
    # another kind under a default's name does not inherit that default's settings
    assert out["features"] == {"lbptop": {"kind": "lbp_images", "P": 8, "R": 1}}


def test_default_experiments_are_narrowed_with_notes():
    out, notes = compose(DEFAULTS, {"conditions": ["original"]})
    blocks = out["experiments"]
    assert blocks["two_stream"]["conditions"] == ["original"]
    assert blocks["holdout"]["conditions"] == ["original"]
    assert blocks["linear"]["conditions"] == "all"
    assert len(notes) == 1 and "two_stream without evm, magplus, demagplus" in notes[0]

    out, notes = compose(DEFAULTS, {"models": {"linear_svm": {}}, "protocols": {"loso": {}}})
    assert set(out["experiments"]) == {"linear"}  # contrast needs loo, the others other models
    assert out["experiments"]["linear"]["protocols"] == ["loso"]
    assert "rbf dropped (no models left)" in notes[0]


def test_overlay_experiments_replace_and_empty_means_every_combination():
    mine = {"only": {"conditions": ["original"], "feature_sets": ["lbptop"], "models": ["linear_svm"],
                     "protocols": ["loso"]}}
    out, notes = compose(DEFAULTS, {"experiments": mine})
    assert out["experiments"] == mine and notes == []
    out, notes = compose(DEFAULTS, {"features": {"lbptop": {}}, "models": {"two_stream": {}}})
    assert "experiments" not in out and "every compatible combination" in notes[-1]
    out, _ = compose(DEFAULTS, {"experiments": None})
    assert "experiments" not in out


def test_merge_is_recursive_and_copies():
    base = {"a": {"b": 1, "c": [1]}}
    out = merge(base, {"a": {"b": 2}})
    out["a"]["c"].append(2)
    assert out == {"a": {"b": 2, "c": [1, 2]}} and base == {"a": {"b": 1, "c": [1]}}


SHIPPED = sorted([*REPO.glob("configs/*.yaml"), *REPO.glob("tests/data/*.yaml")])


@pytest.mark.parametrize("config", [None, *SHIPPED], ids=lambda p: "config.yaml" if p is None else p.name)
def test_every_shipped_config_plans_from_the_repository_root(config):
    """`snakemake -n --configfile X` from the root, as the README writes it (the real corpora's
    roots do not exist here: their plans stop at the index, which needs the files)."""
    cmd = [SNAKEMAKE, "-n", "-q", "rules"]
    if config is not None:
        cmd += ["--configfile", str(config.relative_to(REPO))]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "total" in out  # a plan was printed
