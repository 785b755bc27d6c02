"""`mexflow magnify` on a frame folder and on a video file."""
import cv2
import numpy as np
import pytest
import torch

from mexflow.cli import main
from mexflow.magnify.generator import FlowMagGenerator, save_checkpoint
from mexflow.magnify.pairs import smooth_random_flow, warp_forward
from mexflow.magnify.video import read_frames, write_video


def _clip(t=6, size=72, seed=0):
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.uniform(0, 255, (size // 6, size // 6, 3)).astype(np.float32), (size, size),
                      interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)
    flow = smooth_random_flow(rng, size, 0.6)
    return np.stack([warp_forward(base, flow * np.sin(np.pi * i / (t - 1))) for i in range(t)])


def test_magnify_a_frame_folder_with_every_method(tmp_path):
    frames = _clip()
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"img{i:03d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(ckpt, FlowMagGenerator(width=4, depth=3, output="residual"), {"mode": "test"})
    out = tmp_path / "out"
    assert main(["magnify", str(folder), "-m", "evm", "-m", f"learned={ckpt}", "-m", f"tta={ckpt}",
                 "-m", "lagrangian", "--tta-steps", "1", "--fps", "30", "--alpha", "8", "-o", str(out)]) == 0
    for name in ("evm", "learned_tiny", "tta_tiny", "lagrangian"):
        video, fps = read_frames(out / f"{name}.mp4")
        assert video.shape == frames.shape and fps == pytest.approx(30.0)
    comparison = cv2.imread(str(out / "comparison.png"))
    assert comparison is not None and comparison.shape[1] > comparison.shape[0]
    # EVM really changed the clip (an untrained residual generator is the identity).
    evm, _ = read_frames(out / "evm.mp4")
    assert np.abs(evm[3].astype(int) - frames[3]).mean() > np.abs(evm[0].astype(int) - frames[0]).mean()


def test_magnify_reads_a_video_and_reports_bad_input(tmp_path, capsys):
    frames = _clip()
    write_video(tmp_path / "in.mp4", frames, 25.0)
    assert main(["magnify", str(tmp_path / "in.mp4"), "-m", "evm", "-o", str(tmp_path / "o")]) == 0
    assert read_frames(tmp_path / "o" / "evm.mp4")[0].shape == frames.shape
    capsys.readouterr()
    assert main(["magnify", str(tmp_path / "missing.mp4"), "-m", "evm"]) == 2
    assert _error_line(capsys) == f"mexflow: error: {tmp_path / 'missing.mp4'}: no such video file or frame folder"
    with pytest.raises(SystemExit):
        main(["magnify", str(tmp_path / "in.mp4"), "-m", "learned"])       # learned needs =CHECKPOINT
    empty = tmp_path / "empty"
    empty.mkdir()
    capsys.readouterr()
    assert main(["magnify", str(empty), "-m", "evm", "--fps", "30"]) == 2
    assert "no image files" in _error_line(capsys)
    with pytest.raises(FileNotFoundError, match="no such video"):            # --debug: the exception itself
        main(["magnify", "--debug", str(tmp_path / "missing.mp4"), "-m", "evm"])


def _error_line(capsys) -> str:
    """The one `mexflow: error:` line on stderr (log lines aside); no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("mexflow: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_magnify_with_a_checkpoint_in_the_flowmag_release_structure(tmp_path):
    """`-m learned=PATH` reads a file laid out as FlowMag's train.py saves it: the generator under
    module.generator.* beside the loss's RAFT, the optimiser state and the epoch."""
    frames = _clip(t=4, size=40)
    write_video(tmp_path / "in.mp4", frames, 25.0)
    torch.manual_seed(0)
    state = {"module.generator." + k: v for k, v in FlowMagGenerator(width=4, depth=3).state_dict().items()}
    state["module.mm_loss_fn.flow_net.fnet.conv1.weight"] = torch.zeros(64, 3, 7, 7)
    ckpt = tmp_path / "chkpt_00003.pth"
    torch.save({"state_dict": state, "epoch": 3,
                "optimizer_state_dict": {"state": {}, "param_groups": [{"lr": 3e-4, "params": [0]}]}},
               ckpt)
    assert main(["magnify", str(tmp_path / "in.mp4"), "-m", f"learned={ckpt}", "--alpha", "20",
                 "--device", "cpu", "-o", str(tmp_path / "o")]) == 0
    video, _ = read_frames(tmp_path / "o" / "learned_chkpt_00003.mp4")
    assert video.shape == frames.shape
