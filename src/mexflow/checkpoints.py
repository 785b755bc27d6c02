"""Loading PyTorch checkpoints safely: weights_only=True onto the CPU, and one clear refusal.

torch.load's own errors for a bad file are long and misleading: an unsafe pickle comes back with
advice to retry with weights_only=False (arbitrary code execution for an untrusted file, and
useless for a corrupt one), a text file as a bare KeyError. `load_weights_only` turns every
failure other than a missing file into a `CheckpointError` that names the file and says what is
wrong with it.
"""
from __future__ import annotations

import re
from pathlib import Path

SAFE_TYPES = "tensors, numbers, strings and containers of them"


class CheckpointError(ValueError):
    """A checkpoint file mexflow refuses to load: `path` and `problem` (what is wrong)."""

    def __init__(self, path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"not a checkpoint mexflow can read safely: {path}: {problem}")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def describe_load_error(path, exc: BaseException) -> str:
    """What is wrong with the file `path` that torch.load(weights_only=True) failed on with
    `exc`, in one line, without torch's advice to load it unsafely."""
    text = str(exc)
    found = re.search(r"Unsupported global: GLOBAL (\S+) was not an allowed global", text)
    if found:
        return (f"contains a pickled object of type {found.group(1)} outside weights_only's allowed "
                f"types (mexflow reads {SAFE_TYPES} only)")
    if "WeightsUnpickler error:" in text:
        reason = _one_line(text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation")[0])
        return f"the weights-only unpickler refuses it ({reason or 'unreadable'}); mexflow reads {SAFE_TYPES} only"
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        head = b""
    if not head.startswith(b"PK") and not head.startswith(b"\x80"):
        return "not a torch file (neither a zip archive nor a pickle)"
    gist = _one_line(text.split(". ")[0]) if text else ""
    return f"truncated or not a torch file ({type(exc).__name__}{': ' + gist if gist else ''})"


def load_weights_only(path):
    """torch.load(path, map_location='cpu', weights_only=True).

    FileNotFoundError (an OSError) for a missing file; CheckpointError naming the file for an
    empty, truncated or non-torch file, or one holding pickled objects beyond SAFE_TYPES.
    """
    import torch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    if path.is_file() and path.stat().st_size == 0:
        raise CheckpointError(path, "empty file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise                 # the file cannot be opened: not a statement about its contents
    except Exception as exc:  # UnpicklingError, RuntimeError / OSError(EINVAL) of a broken archive, KeyError, ...
        raise CheckpointError(path, describe_load_error(path, exc)) from exc
