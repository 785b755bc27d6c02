"""Frame files of a clip folder: discovering their naming and checking onset..offset is on disk."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from mexflow.datasets.errors import BadClip

_FRAME_FILE = re.compile(r"^(?P<prefix>.*?)(?P<num>\d+)\.(?P<ext>jpg|jpeg|png|bmp)$", re.IGNORECASE)


@dataclass(frozen=True)
class FrameNaming:
    """How a clip folder names its frames: pattern.format(n) is the file name of frame n.

    pattern: str with one positional field, e.g. 'img{}.jpg' or '006_{:05d}.jpg';
    frames: frame numbers present, sorted ascending.
    """

    pattern: str
    frames: tuple[int, ...]

    def file_name(self, n: int) -> str:
        return self.pattern.format(n)


def discover_frame_naming(clip_dir: Path) -> FrameNaming:
    """Read the frame naming of `clip_dir` from the image files it holds (one os.scandir).

    Files '<prefix><digits>.<jpg|jpeg|png|bmp>' (any case) are frames; other files and
    sub-folders are ignored. All frames must share prefix and extension. The number is
    zero-padded ('{:0Nd}') when every number string has the same width N and one has a leading
    zero, else plain ('{}'); the pattern must reproduce every file name. Raises BadClip: folder
    missing, no frame file, mixed names, names the pattern does not reproduce.
    """
    clip_dir = Path(clip_dir)
    if not clip_dir.is_dir():
        raise BadClip(str(clip_dir), "clip folder not found")
    with os.scandir(clip_dir) as entries:
        matches = [m for e in entries if (m := _FRAME_FILE.match(e.name)) and e.is_file()]
    if not matches:
        raise BadClip(str(clip_dir), "no frame image files (jpg, jpeg, png, bmp) in clip folder")
    kinds = {}
    for m in matches:
        kinds.setdefault((m["prefix"], m["ext"]), m.string)
    if len(kinds) > 1:
        examples = sorted(kinds.values())[:3]
        raise BadClip(str(clip_dir), f"mixed frame file names in clip folder, e.g. {examples}")
    (prefix, ext), = kinds
    digits = [m["num"] for m in matches]
    widths = {len(d) for d in digits}
    padded = len(widths) == 1 and any(len(d) > 1 and d[0] == "0" for d in digits)
    stem = prefix.replace("{", "{{").replace("}", "}}")
    field = f"{{:0{widths.pop()}d}}" if padded else "{}"
    pattern = f"{stem}{field}.{ext}"
    odd = sorted(m.string for m in matches if pattern.format(int(m["num"])) != m.string)
    if odd:
        raise BadClip(str(clip_dir / odd[0]),
                      f"frame file names do not follow one pattern {pattern!r}: {odd[:3]}")
    return FrameNaming(pattern, tuple(sorted(int(d) for d in digits)))


def count_dropped_frames(naming: FrameNaming, clip_dir: Path, onset: int, apex: int, offset: int,
                         max_dropped: int = 0) -> int:
    """Number of frames of onset..offset absent from disk, when tolerated.

    The onset, apex and offset frames must exist; up to `max_dropped` frames strictly between
    onset and offset may be missing. Raises BadClip naming the missing file otherwise.
    """
    have = set(naming.frames)
    missing = [n for n in range(onset, offset + 1) if n not in have]
    if not missing:
        return 0
    for role, n in (("onset", onset), ("apex", apex), ("offset", offset)):
        if n not in have:
            name = naming.file_name(n)
            raise BadClip(str(Path(clip_dir) / name),
                          f"{role} frame {name} missing on disk "
                          f"({len(missing)} frame(s) of onset..offset missing)")
    if len(missing) > max_dropped:
        first = naming.file_name(missing[0])
        reason = f"{len(missing)} frame(s) of onset..offset missing on disk, first {first}"
        if max_dropped:
            reason += f" (at most {max_dropped} tolerated)"
        raise BadClip(str(Path(clip_dir) / first), reason)
    return len(missing)
