"""Atomic outputs honour the umask like ordinary files (tempfile alone would make them 0600)."""
from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pytest
import torch

from mexflow.io import atomic_path, current_umask, save_npz_atomic, write_parquet_atomic, write_text_atomic


@pytest.fixture
def umask():
    """Set the process umask for one test, then restore it."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda m: os.umask(m)
    os.umask(saved)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _write_all(folder):
    """Every atomic writer once; the paths written."""
    from mexflow.magnify.generator import FlowMagGenerator, save_checkpoint
    from mexflow.magnify.video import write_frames, write_video

    folder.mkdir()
    out = {"npz": folder / "a.npz", "parquet": folder / "a.parquet", "text": folder / "a.txt",
           "raw": folder / "raw.bin", "video": folder / "a.mp4", "checkpoint": folder / "g.pt"}
    save_npz_atomic(out["npz"], x=np.zeros(3))
    write_parquet_atomic(pd.DataFrame({"a": [1]}), out["parquet"])
    write_text_atomic("hi", out["text"])
    with atomic_path(out["raw"]) as tmp:
        tmp.write_bytes(b"x")
    frames = np.zeros((2, 16, 16, 3), np.uint8)
    write_video(out["video"], frames, 10)
    torch.manual_seed(0)
    save_checkpoint(out["checkpoint"], FlowMagGenerator(width=4, depth=2), {})
    write_frames(folder / "frames", frames)
    return out, folder / "frames"


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                        (0o002, 0o664, 0o775)])
def test_atomic_outputs_follow_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    assert current_umask() == mask
    files, frames_dir = _write_all(tmp_path / "out")
    for name, path in files.items():
        assert _mode(path) == file_mode, name
    assert _mode(frames_dir) == dir_mode
    assert all(_mode(p) == file_mode for p in frames_dir.iterdir())
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]   # no temp left
    assert current_umask() == mask   # reading it left it as it was


def test_synthetic_corpus_root_follows_umask(tmp_path, umask):
    from mexflow.synthetic.corpus import SyntheticConfig, write_synthetic_corpus

    umask(0o022)
    root = tmp_path / "corpus"
    write_synthetic_corpus(root, SyntheticConfig(seed=1, subjects=1, clips_per_subject=1,
                                                 rise_frames=(2, 2), fall_frames=(2, 2),
                                                 pad_frames=(1, 1)))
    assert _mode(root) == 0o755   # tempfile.mkdtemp alone would leave it 0700
    assert _mode(root / "ground_truth" / "clips.parquet") == 0o644
