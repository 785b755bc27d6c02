"""The torch device of a job from a config preference (learned magnifiers, deep recognisers)."""
from __future__ import annotations

import torch

__all__ = ["select_device"]


def select_device(prefer: str = "auto") -> torch.device:
    """"auto": cuda when available, else cpu; "cpu"; "cuda" or "cuda:N" (RuntimeError when CUDA
    is absent)."""
    if prefer == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if prefer == "cpu":
        return torch.device("cpu")
    if prefer.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' requested but CUDA is not available")
        return torch.device(prefer)
    raise ValueError(f"unknown device preference {prefer!r} (auto, cpu or cuda)")
