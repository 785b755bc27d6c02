"""Reading and writing videos and frame folders for the `mexflow magnify` command."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from mexflow.io import honour_umask, read_frame

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
_DIGITS = re.compile(r"([0-9]+)")


def natural_key(name: str) -> tuple:
    """Sort key comparing runs of digits as numbers: img2 < img10, 006_00002 < 006_00010; names
    equal as numbers (img2, img02) are ordered by the full name."""
    parts = _DIGITS.split(name)      # text, number, text, number, ..., text
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), name


def frame_files(folder) -> list[Path]:
    """The image files of a frame folder in natural numeric order (`natural_key`)."""
    folder = Path(folder)
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: natural_key(p.name))


def read_frames(path, size: int | None = None, max_frames: int | None = None) -> tuple[np.ndarray, float | None]:
    """A video file or a folder of images (natural numeric order: img2 before img10) as (T, H, W, 3) uint8 RGB, and the
    video's frame rate (None for a folder). size: resize the shorter side to `size` px.
    Errors name the path."""
    path = Path(path)
    frames, fps = [], None
    if path.is_dir():
        files = frame_files(path)
        if not files:
            raise ValueError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)})")
        for f in files[:max_frames]:
            img = read_frame(f)   # BadFrameError (a ValueError) naming a truncated/empty/bad file
            frames.append(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img)
    elif path.is_file():
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise ValueError(f"{path}: OpenCV cannot open this video")
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or None
        while max_frames is None or len(frames) < max_frames:
            ok, img = cap.read()
            if not ok:
                break
            frames.append(img)
        cap.release()
        if not frames:
            raise ValueError(f"{path}: no frame could be decoded")
    else:
        raise FileNotFoundError(f"{path}: no such video file or frame folder")
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise ValueError(f"{path}: frames differ in size {sorted(shapes)}")
    out = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames])
    if size:
        h, w = out.shape[1:3]
        k = size / min(h, w)
        dsize = (max(1, round(w * k)), max(1, round(h * k)))
        out = np.stack([cv2.resize(f, dsize, interpolation=cv2.INTER_AREA) for f in out])
    return out, fps


def write_video(path, frames: np.ndarray, fps: float) -> None:
    """(T, H, W, 3) uint8 RGB -> an MP4 (mp4v) written atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix or ".mp4", dir=path.parent)
    os.close(fd)
    try:
        h, w = frames.shape[1:3]
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
        if not writer.isOpened():
            raise RuntimeError(f"{path}: OpenCV cannot write this video")
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
        honour_umask(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_frames(folder, frames: np.ndarray) -> None:
    """(T, H, W, 3) uint8 RGB -> lossless PNGs folder/00000.png, 00001.png, ... (BGR on disk, as
    OpenCV reads them). Atomic per folder: written into a temporary folder next to it, which then
    replaces `folder` (and whatever it held)."""
    folder = Path(folder)
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{folder}: frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    old = None
    try:
        for i, f in enumerate(frames):
            name = tmp / f"{i:05d}.png"
            if not cv2.imwrite(str(name), cv2.cvtColor(f, cv2.COLOR_RGB2BGR)):
                raise RuntimeError(f"{folder}: OpenCV cannot write {name.name}")
        honour_umask(tmp, directory=True)
        if folder.is_dir() and not folder.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
            os.replace(folder, old / folder.name)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and (old / folder.name).exists() and not folder.exists():
            os.replace(old / folder.name, folder)        # put the previous frames back
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
