"""Atomic writers and readers for the cached formats (NPZ arrays, Parquet tables).

Every writer writes to a temporary file in the destination folder and renames it into place,
so an interrupted job never leaves a half-written output that looks complete. tempfile creates
that file with mode 0600 (a folder 0700) whatever the umask; `honour_umask` gives it the mode an
ordinary open() / mkdir would (0666 / 0777 less the umask) before the rename, so outputs stay
readable by the group where the umask says so.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd


def current_umask() -> int:
    """The process umask, read without changing it where Linux says it (/proc/self/status; no
    window in which another thread would create files with umask 0), else by os.umask."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def honour_umask(path, directory: bool = False) -> None:
    """chmod a tempfile-made file (0600) or folder (0700) to 0666 / 0777 less the umask."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


@contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path next to `path`; rename it onto `path` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        honour_umask(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_npz_atomic(path, compressed: bool = True, **arrays) -> None:
    """Write arrays to an NPZ file atomically. Object arrays are refused (no pickles)."""
    for key, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise TypeError(f"array {key!r} has dtype object; NPZ outputs must not need pickle")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            (np.savez_compressed if compressed else np.savez)(fh, **arrays)


def write_parquet_atomic(df: pd.DataFrame, path) -> None:
    """Write a DataFrame to Parquet atomically (index dropped)."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_text_atomic(text: str, path) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


# ----------------------------------------------------------------------------- frames

JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"


class BadFrameError(ValueError):
    """A corpus frame that cannot be used as it is: missing, empty, truncated, undecodable, or of
    another size or channel count than its clip's reference frame. `path` names the file,
    `problem` says what is wrong."""

    def __init__(self, path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


def frame_channels(img: np.ndarray) -> int:
    return 1 if img.ndim == 2 else int(img.shape[2])


def read_frame(path) -> np.ndarray:
    """Decode one frame file strictly, as stored: (H, W) uint8 for grayscale, (H, W, 3) BGR for
    colour (alpha dropped, 16-bit depth reduced to 8 bits, as OpenCV does).

    BadFrameError naming the file when it is missing, empty, a JPEG without its end-of-image
    marker (truncated: OpenCV would fill the missing part grey and only warn on stderr), or
    anything the decoder refuses (truncated PNG/BMP included).
    """
    import cv2

    path = Path(path)
    if not path.exists():
        raise BadFrameError(path, "missing")
    if not path.is_file():
        raise BadFrameError(path, "not a regular file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BadFrameError(path, f"unreadable ({err.strerror or err})") from err
    if not data:
        raise BadFrameError(path, "empty file")
    if data[:2] == JPEG_SOI and not data.rstrip(b"\x00").endswith(JPEG_EOI):
        raise BadFrameError(path, "truncated JPEG (no end-of-image marker)")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_ANYCOLOR)
    if img is None or img.size == 0:
        raise BadFrameError(path, "cannot decode (not an image OpenCV reads, or damaged)")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    return img
