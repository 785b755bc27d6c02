"""Validators shared by the parsers of config entries (feature kinds, deep models, protocols):
each returns the value normalised or raises ValueError naming the key."""
from __future__ import annotations

import numbers

__all__ = ["is_real", "positive_int", "nonnegative_number"]


def is_real(value) -> bool:
    """A real number (Python or NumPy, NaN included); bools are not numbers here."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(value, name: str) -> int:
    """An int >= 1 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def nonnegative_number(value, name: str) -> float:
    """A real number >= 0 (bools and NaN refused), as float."""
    if not is_real(value) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)
