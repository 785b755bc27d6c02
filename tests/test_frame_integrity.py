"""Strict frame reading: damaged corpus frames are refused by name, and alignment rejects the
clip (or stops, naming corpus, clip and file) instead of aligning grey-filled garbage.

Every damaged file is built here from raw bytes, independently of the reader under test.
"""
from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pandas as pd
import pytest

from mexflow.align.clip import ClipFrameReader, read_frame_bgr
from mexflow.align.pipeline import align_shard
from mexflow.datasets.errors import CorpusError
from mexflow.io import BadFrameError, read_frame

H, W = 96, 128


def _texture(seed: int = 0, shape=(H, W, 3)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (shape[0] // 8, shape[1] // 8) + shape[2:], dtype=np.uint8)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _jpeg_bytes(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buf.tobytes()


def _png_bytes(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


# ------------------------------------------------------------------ read_frame


def test_good_jpeg_png_and_zero_padding_read(tmp_path):
    img = _texture()
    (tmp_path / "a.jpg").write_bytes(_jpeg_bytes(img))
    (tmp_path / "pad.jpg").write_bytes(_jpeg_bytes(img) + b"\x00" * 37)
    (tmp_path / "g.png").write_bytes(_png_bytes(img[:, :, 0]))
    assert read_frame(tmp_path / "a.jpg").shape == (H, W, 3)
    assert read_frame(tmp_path / "pad.jpg").shape == (H, W, 3)
    assert read_frame(tmp_path / "g.png").shape == (H, W)
    assert read_frame_bgr(tmp_path / "g.png").shape == (H, W, 3)


def test_truncated_jpeg_is_refused_though_opencv_decodes_something(tmp_path):
    data = _jpeg_bytes(_texture())
    assert data[-2:] == b"\xff\xd9"
    path = tmp_path / "img7.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadFrameError) as exc:
        read_frame(path)
    assert str(path) in str(exc.value) and "truncated JPEG (no end-of-image marker)" in str(exc.value)
    # The marker only, cut a few bytes short of it, is caught as well.
    path.write_bytes(data[:-1])
    with pytest.raises(BadFrameError, match="truncated JPEG"):
        read_frame_bgr(path)


@pytest.mark.parametrize("content, problem", [
    (None, "missing"),
    (b"", "empty file"),
    (b"this is not an image\n", "cannot decode"),
    ("half_png", "cannot decode"),
])
def test_missing_empty_undecodable(tmp_path, content, problem):
    path = tmp_path / "img3.png"
    if content == "half_png":
        data = _png_bytes(_texture())
        content = data[: len(data) // 2]
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BadFrameError) as exc:
        read_frame(path)
    assert exc.value.path == str(path) and problem in exc.value.problem and str(path) in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_clip_reader_checks_size_and_channels_against_reference(tmp_path):
    (tmp_path / "img1.png").write_bytes(_png_bytes(_texture(1)))
    (tmp_path / "img2.png").write_bytes(_png_bytes(_texture(2, (H // 2, W // 2, 3))))
    (tmp_path / "img3.png").write_bytes(_png_bytes(_texture(3, (H, W))))
    (tmp_path / "img4.png").write_bytes(_png_bytes(_texture(4)))
    read = ClipFrameReader(tmp_path, "img{}.png")
    assert read(1).shape == (H, W, 3)
    with pytest.raises(BadFrameError, match=rf"size {W // 2}x{H // 2} differs from the clip's {W}x{H}"):
        read(2)
    with pytest.raises(BadFrameError, match="1 channel\\(s\\) where the clip has 3"):
        read(3)
    assert read(4).shape == (H, W, 3)


# ------------------------------------------------------------------ alignment


class BoxDetector:
    """Stands in for MTCNN: always 'finds' the same central face box."""

    def detect_largest(self, image):
        h, w = image.shape[:2]
        return SimpleNamespace(box=(w * 0.3, h * 0.25, w * 0.7, h * 0.75), score=0.99,
                               eye_centres=((w * 0.42, h * 0.4), (w * 0.58, h * 0.4)))


ALIGNMENT = {"crop_size": 32, "search_px": 4, "detect_downscale": 1.0, "reference": "onset",
             "on_no_face": "reject"}


def _clip(root, name, damage=None):
    """A 5-frame clip of JPEGs, frame 3 damaged as `damage` says; its index row."""
    folder = root / name
    folder.mkdir()
    base = _texture(7)
    for n in range(1, 6):
        img = np.roll(base, n - 1, axis=1)
        data = _jpeg_bytes(img)
        if n == 3 and damage == "truncated":
            data = data[: len(data) // 2]
        elif n == 3 and damage == "empty":
            data = b""
        elif n == 3 and damage == "size":
            data = _jpeg_bytes(cv2.resize(img, (W // 2, H // 2)))
        elif n == 3 and damage == "gray":
            data = _jpeg_bytes(img[:, :, 1])
        if not (n == 3 and damage == "missing"):
            (folder / f"img{n}.jpg").write_bytes(data)
    return {"dataset": "casme2", "clip_id": f"casme2/sub01/{name}", "frame_dir": str(folder),
            "frame_pattern": "img{}.jpg", "frames": list(range(1, 6)), "onset": 1, "apex": 3,
            "offset": 5}


DAMAGES = [("truncated", "truncated JPEG (no end-of-image marker)"), ("empty", "empty file"),
           ("missing", "missing"), ("size", f"size {W // 2}x{H // 2} differs from the clip's {W}x{H}"),
           ("gray", "1 channel(s) where the clip has 3")]


@pytest.mark.parametrize("damage, problem", DAMAGES)
def test_align_shard_rejects_clip_with_bad_frame(tmp_path, damage, problem):
    rows = pd.DataFrame([_clip(tmp_path, "good1"), _clip(tmp_path, "bad", damage), _clip(tmp_path, "good2")])
    manifest, rejected = align_shard(rows, ALIGNMENT, ["onset", "offset"], tmp_path / "s.npz",
                                     detector=BoxDetector(), on_bad_frame="reject")
    assert manifest["clip_id"].tolist() == ["casme2/sub01/good1", "casme2/sub01/good2"]
    assert rejected["clip_id"].tolist() == ["casme2/sub01/bad"]
    r = rejected.iloc[0]
    assert r["dataset"] == "casme2" and r["file"] == str(tmp_path / "bad" / "img3.jpg")
    assert problem in r["reason"] and r["reason"].startswith("bad frame")


@pytest.mark.parametrize("damage, problem", DAMAGES[:3])
def test_align_shard_error_mode_names_corpus_clip_file(tmp_path, damage, problem):
    rows = pd.DataFrame([_clip(tmp_path, "good1"), _clip(tmp_path, "bad", damage)])
    with pytest.raises(CorpusError) as exc:
        align_shard(rows, ALIGNMENT, ["onset", "offset"], tmp_path / "s.npz",
                    detector=BoxDetector(), on_bad_frame="error")
    msg = str(exc.value)
    assert "corpus 'casme2'" in msg and "clip 'casme2/sub01/bad'" in msg
    assert str(tmp_path / "bad" / "img3.jpg") in msg and problem in msg
    assert not (tmp_path / "s.npz").exists()


def test_bad_reference_frame_is_rejected_too(tmp_path):
    row = _clip(tmp_path, "bad")
    (tmp_path / "bad" / "img1.jpg").write_bytes(b"")
    manifest, rejected = align_shard(pd.DataFrame([row]), ALIGNMENT, ["onset", "offset"], tmp_path / "s.npz",
                                     detector=BoxDetector(), on_bad_frame="reject")
    assert manifest.empty and rejected["file"].tolist() == [str(tmp_path / "bad" / "img1.jpg")]
    assert "empty file" in rejected["reason"].iloc[0]


def test_magnify_frame_folder_refuses_truncated_jpeg(tmp_path):
    from mexflow.magnify.video import read_frames

    for n in range(3):
        (tmp_path / f"img{n}.jpg").write_bytes(_jpeg_bytes(_texture(n)))
    assert read_frames(tmp_path)[0].shape == (3, H, W, 3)
    data = (tmp_path / "img1.jpg").read_bytes()
    (tmp_path / "img1.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadFrameError, match=r"img1\.jpg: truncated JPEG"):
        read_frames(tmp_path)


def test_index_paths_are_relative_so_a_moved_corpus_still_aligns(tmp_path):
    """build_index stores frame_dir relative to the corpus root; align_shard finds the frames
    under whatever root the config gives at run time, e.g. after the corpus was moved."""
    import shutil

    from mexflow.datasets.index import relative_frame_dirs

    old = tmp_path / "old"
    old.mkdir()
    row = _clip(old, "clip1")
    rel = relative_frame_dirs([row["frame_dir"]], old)
    assert rel == ["clip1"]
    shutil.move(str(old), str(tmp_path / "new"))
    moved = pd.DataFrame([{**row, "frame_dir": rel[0]}])
    manifest, rejected = align_shard(moved, ALIGNMENT, ["onset", "offset"], tmp_path / "s.npz",
                                     detector=BoxDetector(), on_bad_frame="error",
                                     roots={"casme2": str(tmp_path / "new")})
    assert manifest["clip_id"].tolist() == ["casme2/sub01/clip1"] and rejected.empty
