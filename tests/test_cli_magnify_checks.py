"""`mexflow magnify`: frame order, checkpoints checked first, one pass per frame, --frames-out,
one-line errors."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import mexflow.cli as cli
import mexflow.magnify.evm as evm_module
import mexflow.magnify.generator as generator_module
from mexflow.cli import main
from mexflow.magnify.generator import FlowMagGenerator, save_checkpoint
from mexflow.magnify.video import frame_files, natural_key, read_frames, write_frames

from test_cli_magnify import _clip, _error_line

SRC = Path(cli.__file__).resolve().parents[1]


def _write_folder(folder, frames, name=lambda i: f"img{i:03d}.png"):
    folder.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / name(i)), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return folder


def _checkpoint(path):
    torch.manual_seed(0)
    save_checkpoint(path, FlowMagGenerator(width=4, depth=3, output="residual"), {"mode": "test"})
    return path


def test_natural_key_compares_digits_as_numbers():
    names = ["img10.jpg", "img2.jpg", "img1.jpg", "006_00010.jpg", "006_00002.jpg", "img02.jpg", "a.jpg"]
    assert sorted(names, key=natural_key) == ["006_00002.jpg", "006_00010.jpg", "a.jpg", "img1.jpg",
                                              "img02.jpg", "img2.jpg", "img10.jpg"]


def test_frame_folder_is_read_in_natural_order(tmp_path):
    # CASME II style names 1.jpg ... 12.jpg (lexical order: 1, 10, 11, 12, 2, ...); frame i is all i*20.
    frames = np.stack([np.full((8, 10, 3), 20 * i, np.uint8) for i in range(12)])
    folder = _write_folder(tmp_path / "casme", frames, name=lambda i: f"reg_img{i + 1}.png")
    (folder / "notes.txt").write_text("not a frame")
    assert [p.name for p in sorted(folder.iterdir())][:3] == ["notes.txt", "reg_img1.png", "reg_img10.png"]
    assert [p.name for p in frame_files(folder)][:3] == ["reg_img1.png", "reg_img2.png", "reg_img3.png"]
    video, fps = read_frames(folder)
    assert fps is None and video[:, 0, 0, 0].tolist() == [20 * i for i in range(12)]
    assert read_frames(folder, max_frames=3)[0][:, 0, 0, 0].tolist() == [0, 20, 40]


@pytest.mark.parametrize("bad", ["corrupt", "missing", "not_a_generator"])
def test_every_checkpoint_is_checked_before_any_work(tmp_path, capsys, monkeypatch, bad):
    folder = _write_folder(tmp_path / "frames", _clip(t=4, size=48))
    good = _checkpoint(tmp_path / "good.pt")
    second = tmp_path / f"{bad}.pt"
    if bad == "corrupt":
        second.write_bytes(b"\x00not a checkpoint" * 10)
    elif bad == "not_a_generator":
        torch.save({"weight": torch.zeros(3)}, second)
    read = []
    monkeypatch.setattr("mexflow.magnify.video.read_frames", lambda *a, **k: read.append(a) or 1 / 0)
    out = tmp_path / "out"
    assert main(["magnify", str(folder), "-m", f"learned={good}", "-m", f"tta={second}", "--fps", "30",
                 "-o", str(out), "--frames-out", str(tmp_path / "png")]) == 2
    line = _error_line(capsys)
    assert line.startswith(f"mexflow: error: {second}: ")
    assert ("no such checkpoint file" if bad == "missing" else "not a FlowMag generator checkpoint") in line
    assert read == [] and not out.exists() and not (tmp_path / "png").exists()


def test_each_frame_pair_goes_through_the_generator_once(tmp_path, monkeypatch):
    t = 5
    frames = _clip(t=t, size=72)
    folder = _write_folder(tmp_path / "frames", frames)
    ckpt = _checkpoint(tmp_path / "tiny.pt")
    calls = {"clip": [], "pairs": 0, "evm": 0, "inside": False}
    forward, magnify_clip, magnify_evm = FlowMagGenerator.forward, generator_module.magnify_clip, evm_module.magnify_evm

    def counting_forward(self, x0, x1, alpha):
        calls["pairs"] += len(x1) if calls["inside"] else 0      # training steps of tta= aside
        return forward(self, x0, x1, alpha)

    def counting_clip(generator, clip, *a, **k):
        calls["clip"].append(len(clip))
        calls["inside"] = True
        try:
            return magnify_clip(generator, clip, *a, **k)
        finally:
            calls["inside"] = False

    def counting_evm(*a, **k):
        calls["evm"] += 1
        return magnify_evm(*a, **k)

    monkeypatch.setattr(FlowMagGenerator, "forward", counting_forward)
    monkeypatch.setattr(generator_module, "magnify_clip", counting_clip)
    monkeypatch.setattr(evm_module, "magnify_evm", counting_evm)
    assert main(["magnify", str(folder), "-m", "evm", "-m", f"learned={ckpt}", "-m", f"tta={ckpt}",
                 "--tta-steps", "1", "--fps", "30", "--batch-size", "2", "-o", str(tmp_path / "out")]) == 0
    assert calls["clip"] == [t, t]                   # learned, tta: the whole clip once, no key frames
    assert calls["pairs"] == 2 * (t - 1)             # pairs (frame 0, frame i), i >= 1, once per method
    assert calls["evm"] == 1


def test_frames_out_writes_exactly_the_magnified_frames(tmp_path, monkeypatch):
    frames = _clip(t=5, size=72)
    folder = _write_folder(tmp_path / "frames", frames)
    ckpt = _checkpoint(tmp_path / "tiny.pt")
    made = {}
    magnify_clip, magnify_evm = generator_module.magnify_clip, evm_module.magnify_evm
    monkeypatch.setattr(generator_module, "magnify_clip",
                        lambda *a, **k: made.setdefault("learned_tiny", magnify_clip(*a, **k)))
    monkeypatch.setattr(evm_module, "magnify_evm", lambda *a, **k: made.setdefault("evm", magnify_evm(*a, **k)))
    png = tmp_path / "png"
    (png / "evm").mkdir(parents=True)
    (png / "evm" / "00099.png").write_bytes(b"stale")            # a previous run's: replaced
    assert main(["magnify", str(folder), "-m", "evm", "-m", f"learned={ckpt}", "--fps", "30", "--alpha", "20",
                 "-o", str(tmp_path / "out"), "--frames-out", str(png)]) == 0
    made["original"] = frames
    assert sorted(p.name for p in png.iterdir()) == ["evm", "learned_tiny", "original"]
    for label, expected in made.items():
        files = sorted((png / label).iterdir())
        assert [p.name for p in files] == [f"{i:05d}.png" for i in range(len(frames))]
        back = np.stack([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in files])
        np.testing.assert_array_equal(back, expected)
    assert not np.array_equal(made["evm"], frames)
    assert not [p for p in png.iterdir() if p.name.startswith(".")]         # no temporary folders left


def test_write_frames_refuses_non_rgb(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_frames(tmp_path / "x", np.zeros((2, 4, 4), np.uint8))
    assert not (tmp_path / "x").exists()


def test_errors_are_one_line_on_stderr(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    env.pop("MEXFLOW_DEBUG", None)
    missing = tmp_path / "no_such_folder"
    proc = subprocess.run([sys.executable, "-m", "mexflow.cli", "magnify", str(missing), "-m", "evm", "--fps", "30"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == f"mexflow: error: {missing}: no such video file or frame folder\n"
    proc = subprocess.run([sys.executable, "-m", "mexflow.cli", "magnify", str(missing), "-m", "bogus"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and "usage: mexflow magnify" in proc.stderr and "Traceback" not in proc.stderr


def test_an_unexpected_bug_shows_its_traceback_only_with_debug(tmp_path, capsys, monkeypatch):
    folder = _write_folder(tmp_path / "frames", _clip(t=3, size=24))

    def broken(*a, **k):
        raise KeyError("oops")

    monkeypatch.setattr(evm_module, "magnify_evm", broken)
    argv = ["magnify", str(folder), "-m", "evm", "--fps", "30", "-o", str(tmp_path / "out")]
    assert main(argv) == 1
    assert "KeyError" in _error_line(capsys)
    monkeypatch.setenv("MEXFLOW_DEBUG", "1")
    with pytest.raises(KeyError):
        main(argv)


def test_method_table(monkeypatch, tmp_path, capsys):
    parse = cli._parse_method
    assert parse("evm") == cli.Method("evm", "evm", None)
    assert parse("tta=ckpts/generic.pt") == cli.Method("tta_generic", "tta", "ckpts/generic.pt")
    assert parse("lagrangian") == cli.Method("lagrangian", "lagrangian", None)
    for bad in ("evm=x", "learned", "learned=", "lagrangian=x", "EVM"):
        with pytest.raises(Exception, match="use evm, learned=CHECKPOINT, tta=CHECKPOINT, lagrangian"):
            parse(bad)
    # a new kind is one table entry
    monkeypatch.setitem(cli.METHOD_KINDS, "copy", cli.MethodKind(None, lambda m, ctx: None,
                                                                 lambda m, p, frames, ctx: frames.copy(), "no-op"))
    assert parse("copy") == cli.Method("copy", "copy", None)
    folder = _write_folder(tmp_path / "frames", _clip(t=3, size=24))
    assert main(["magnify", str(folder), "-m", "copy", "-o", str(tmp_path / "out")]) == 0
    assert read_frames(tmp_path / "out" / "copy.mp4")[0].shape == (3, 24, 24, 3)
    # two methods with one label would overwrite each other's output
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    capsys.readouterr()
    assert main(["magnify", str(folder), "-m", f"learned={a / 'g.pt'}", "-m", f"learned={b / 'g.pt'}"]) == 2
    assert "learned_g" in _error_line(capsys)
