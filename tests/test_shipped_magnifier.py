"""The generic magnifier shipped under resources/magnifiers: its hash is checked, it was trained
with config.yaml's recipe, it reaches alpha on a real photo moved by a known field, and the
recipe (`make pretrain`) still runs."""
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from mexflow.magnify.gain import PHOTO_FIELDS, gain_ratios, moving_photo_clip
from mexflow.magnify.generator import load_checkpoint_meta, load_generator, magnify_clip
from mexflow.magnify.runs import pretrain
from mexflow.magnify.shipped import resolve_pretrained, shipped_generic_path, shipped_paths, verify_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_shipped_checkpoint_is_the_default_and_matches_its_hash():
    cfg = _config()
    assert cfg["magnify"]["pretrained"] == "shipped"
    path = Path(resolve_pretrained("shipped"))
    assert path == shipped_paths()[0] and path.is_file()
    meta = verify_checkpoint(path)
    assert meta["sha256"] and meta["bytes"] == path.stat().st_size
    assert meta["reproduce"] == "make pretrain"
    # The shipped weights were trained with the recipe config.yaml states (so `make pretrain`
    # reproduces them): every recipe key of magnify.models.generic is in the checkpoint's metadata.
    recipe = cfg["magnify"]["models"]["generic"]
    trained = load_checkpoint_meta(path)
    for key in ("steps", "batch_size", "lr", "crop", "alpha_range", "objective", "schedule",
                "target_scales", "blind_share", "embedding_rate"):
        assert trained[key] == pytest.approx(recipe[key]), key
    for key, value in recipe["motion"].items():
        assert trained["motion"][key] == pytest.approx(value), key
    assert trained["architecture"]["width"] == cfg["magnify"]["architecture"]["width"]
    assert resolve_pretrained(None) is None and resolve_pretrained("x/y.pth") == "x/y.pth"


def test_a_damaged_shipped_checkpoint_is_refused_by_name(tmp_path):
    src, meta = shipped_paths()
    copy, copy_meta = tmp_path / "generic.pt", tmp_path / "generic.json"
    shutil.copyfile(src, copy)
    shutil.copyfile(meta, copy_meta)
    verify_checkpoint(copy)                                   # intact copy: fine
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"generic\.pt: sha256 .* does not match"):
        verify_checkpoint(copy)
    copy_meta.write_text(json.dumps({"name": "generic"}))
    with pytest.raises(ValueError, match="no sha256"):
        verify_checkpoint(copy)
    with pytest.raises(FileNotFoundError, match="not found"):
        verify_checkpoint(tmp_path / "missing.pt")


def test_shipped_generic_reaches_alpha_on_a_real_photo_moved_by_a_known_field():
    """Gain ratio (magnified motion along the truth / that of a perfect magnification) within
    1 +- 0.2 at alpha 5 on the astronaut's face moved by a smooth 0.6 px field."""
    torch.set_num_threads(2)
    g = load_generator(shipped_generic_path())
    seed, peak = PHOTO_FIELDS[1]
    clip, disp = moving_photo_clip(seed, peak, frames=3)
    ratio = gain_ratios(clip, magnify_clip(g, clip, 5.0), 5.0, disp)["gain_ratio"]
    assert abs(ratio - 1.0) <= 0.2, ratio


def test_the_pretraining_recipe_still_runs(tmp_path):
    """config.yaml's generic recipe, a few steps at a small size: it trains and saves a checkpoint
    that loads (the full recipe is `make pretrain`)."""
    torch.set_num_threads(1)
    cfg = _config()
    spec = dict(cfg["magnify"]["models"]["generic"], steps=3, crop=32, batch_size=2, bn_batches=2,
                faces=1)
    common = {"architecture": dict(cfg["magnify"]["architecture"], width=4)}
    generator, meta = pretrain(spec, common, int(cfg["seed"]), "cpu", logging.getLogger("test"))
    assert meta["mode"] == "generic" and meta["steps"] == 3 and meta["objective"] == "generated"
    assert np.isfinite([h["total"] for h in meta["history"]]).all()
    from mexflow.magnify.generator import save_checkpoint

    save_checkpoint(tmp_path / "g.pt", generator, meta)
    assert load_generator(tmp_path / "g.pt").output == cfg["magnify"]["architecture"]["output"]


def test_make_pretrain_plans_only_the_generic_training(tmp_path):
    """The Makefile's `pretrain` Snakemake command, dry-run from the repository root as the README
    writes it, plans the generic pretraining alone (an option that swallowed the target once
    planned the whole default matrix instead)."""
    import subprocess
    import sys

    from mexflow.workflow_support import planned_job_counts

    lines = (ROOT / "Makefile").read_text().split("\npretrain:", 1)[1].splitlines()
    command = next(line.strip() for line in lines if "snakemake" in line)
    args = command.replace("$(BIN)/snakemake", "").replace("$(CORES)", "1").split()
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    res = subprocess.run([snakemake, *args, "-n"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert planned_job_counts(res.stdout + res.stderr) == {"pretrain_magnifier": 1}
