"""Bad checkpoints are refused with one clear error naming the file (mexflow.checkpoints).

Each bad file is built here with torch.save / pickle / raw bytes, independently of the loader.
"""
from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from mexflow.checkpoints import CheckpointError, load_weights_only
from mexflow.magnify.generator import load_checkpoint_meta, load_generator


class Plain:
    """An arbitrary class: weights_only=True must not instantiate it."""


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def _good(path):
    torch.save({"w": torch.arange(4000, dtype=torch.float32)}, path)
    return path


def _bad_files(tmp_path):
    """name -> (path, words the refusal must contain)."""
    files = {}
    p = tmp_path / "custom.pt"
    torch.save({"w": torch.zeros(3), "obj": Plain()}, p)
    files["custom class"] = (p, ["contains a pickled object of type", "Plain",
                                 "outside weights_only's allowed types"])
    p = tmp_path / "reduce.pt"
    torch.save({"w": torch.zeros(3), "obj": Evil()}, p)
    files["callable via __reduce__"] = (p, ["contains a pickled object of type print"])
    p = tmp_path / "raw_pickle.pkl"
    p.write_bytes(pickle.dumps({"obj": Plain()}, protocol=2))
    files["raw pickle of a class"] = (p, ["Plain", "outside weights_only's allowed types"])
    data = _good(tmp_path / "good.pt").read_bytes()
    p = tmp_path / "truncated.pt"
    p.write_bytes(data[: len(data) // 2])
    files["truncated zip"] = (p, ["truncated or not a torch file"])
    torch.save({"w": torch.zeros(4000)}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    legacy = (tmp_path / "legacy.pt").read_bytes()
    p = tmp_path / "legacy_truncated.pt"
    p.write_bytes(legacy[: len(legacy) // 2])
    files["truncated legacy"] = (p, ["truncated or not a torch file"])
    p = tmp_path / "notes.pt"
    p.write_text("these are not weights\n")
    files["text file"] = (p, ["not a torch file"])
    p = tmp_path / "empty.pt"
    p.write_bytes(b"")
    files["empty file"] = (p, ["empty file"])
    return files


def _assert_clear(err: BaseException, path, words):
    msg = str(err)
    assert isinstance(err, CheckpointError) and isinstance(err, ValueError)
    assert msg.startswith(f"not a checkpoint mexflow can read safely: {path}: ")
    for w in words:
        assert w in msg
    # None of torch's advice to load the file unsafely, and a single line.
    for bad in ("weights_only=False", "weights_only` set to `False", "add_safe_globals", "\n"):
        assert bad not in msg


def test_good_file_loads(tmp_path):
    state = load_weights_only(_good(tmp_path / "ok.pt"))
    assert torch.equal(state["w"], torch.arange(4000, dtype=torch.float32))


def test_every_bad_file_gets_one_clear_refusal(tmp_path, capsys):
    for name, (path, words) in _bad_files(tmp_path).items():
        with pytest.raises(CheckpointError) as exc:
            load_weights_only(path)
        _assert_clear(exc.value, path, words)
        assert exc.value.path == str(path)
        if name != "empty file":
            assert exc.value.__cause__ is not None   # raised from torch's own error
    assert "this must never run" not in capsys.readouterr().out


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_weights_only(tmp_path / "missing.pt")


@pytest.mark.parametrize("loader", [load_generator, load_checkpoint_meta])
def test_generator_loaders_refuse_clearly(tmp_path, loader):
    for path, words in _bad_files(tmp_path).values():
        with pytest.raises(CheckpointError) as exc:
            loader(path)
        _assert_clear(exc.value, path, words)


def test_mtcnn_weights_refused_clearly(tmp_path):
    from mexflow.align.mtcnn import _load_state_dict

    for path, words in _bad_files(tmp_path).values():
        with pytest.raises(CheckpointError) as exc:
            _load_state_dict(nn.Linear(2, 2), path)
        _assert_clear(exc.value, path, words)


def test_cli_names_the_file_and_the_problem(tmp_path):
    from mexflow.cli import load_checked_generator

    path, _ = _bad_files(tmp_path)["custom class"]
    with pytest.raises(ValueError) as exc:
        load_checked_generator(path, "cpu")
    msg = str(exc.value)
    assert msg.startswith(f"{path}: not a FlowMag generator checkpoint (contains a pickled object of type")
    assert "weights_only=False" not in msg and "add_safe_globals" not in msg


def test_raft_weights_refused_clearly(tmp_path):
    pytest.importorskip("torchvision")
    from mexflow.magnify.supervisors import RaftFlow

    for path, words in _bad_files(tmp_path).values():
        with pytest.raises(CheckpointError) as exc:
            RaftFlow(path, small=True)
        _assert_clear(exc.value, path, words)
