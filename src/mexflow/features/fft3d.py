"""Block 3D FFT (Emotion Engine, REFERENCES §1.4): local spatio-temporal spectra of a clip.

The clip (T, H, W) is cut into block x block spatial tiles spanning all T frames. Per tile:
S = log1p(|fftn(tile)|) over (t, y, x) (unshifted: DC at index (0, 0, 0) of the tile), then
min-max scaled to [0, 1]: (S - min S) / (max S - min S). The result is written back in place of
the tile, so the output has the clip's shape.

Degenerate tiles give zeros instead of the min-max:
- a constant tile (all T*block*block input values equal): it has no structure, and min-max would
  otherwise turn its lone DC coefficient into a 1 (a flat face region would look like a maximal
  spike);
- a tile whose spectrum is flat (max S == min S, e.g. a single impulse), where min-max would
  divide by zero.
A constant clip therefore gives all zeros.

H and W must be multiples of `block` (ValueError otherwise): tiles are never padded or cropped
silently.
"""
from __future__ import annotations

import numpy as np


def _check(gray: np.ndarray, block: int) -> tuple[int, int, int]:
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block must be an int >= 1, got {block!r}")
    if not isinstance(gray, np.ndarray) or gray.ndim != 3:
        raise ValueError(f"block_fft3d needs a (T, H, W) array, got {getattr(gray, 'shape', type(gray))}")
    if not (np.issubdtype(gray.dtype, np.integer) or np.issubdtype(gray.dtype, np.floating)):
        raise ValueError(f"block_fft3d needs real input, got dtype {gray.dtype}")
    T, H, W = gray.shape
    if T < 1 or H % block or W % block or H == 0 or W == 0:
        raise ValueError(f"clip of shape {gray.shape}: T must be >= 1 and H, W non-zero multiples of "
                         f"block={block} (tiles are not padded or cropped)")
    if np.issubdtype(gray.dtype, np.floating) and not np.isfinite(gray).all():
        raise ValueError("block_fft3d input contains NaN or inf")
    return T, H, W


def block_fft3d(gray: np.ndarray, block: int = 8) -> np.ndarray:
    """Per-tile normalised log-magnitude 3D spectrum (see module docstring).

    gray: (T, H, W) real, H and W multiples of `block`. Returns (T, H, W) float32 in [0, 1];
    output pixel (t, y, x) of a tile holds the spectrum at frequency index (t, y mod block,
    x mod block) of that tile.
    """
    T, H, W = _check(gray, block)
    nh, nw = H // block, W // block
    tiles = gray.reshape(T, nh, block, nw, block).transpose(1, 3, 0, 2, 4).astype(np.float64)
    spec = np.log1p(np.abs(np.fft.fftn(tiles, axes=(2, 3, 4))))
    lo = spec.min(axis=(2, 3, 4), keepdims=True)
    span = spec.max(axis=(2, 3, 4), keepdims=True) - lo
    constant = tiles.max(axis=(2, 3, 4), keepdims=True) == tiles.min(axis=(2, 3, 4), keepdims=True)
    degenerate = constant | (span == 0)
    out = np.where(degenerate, 0.0, (spec - lo) / np.where(degenerate, 1.0, span))
    return out.transpose(2, 0, 3, 1, 4).reshape(T, H, W).astype(np.float32)


def block_fft3d_reference(gray: np.ndarray, block: int = 8) -> np.ndarray:
    """Tile-by-tile loop with the same definition as `block_fft3d` (for tests)."""
    T, H, W = _check(gray, block)
    out = np.zeros((T, H, W), np.float32)
    for y in range(0, H, block):
        for x in range(0, W, block):
            tile = gray[:, y:y + block, x:x + block].astype(np.float64)
            if tile.max() == tile.min():
                continue
            s = np.log1p(np.abs(np.fft.fftn(tile)))
            if s.max() > s.min():
                out[:, y:y + block, x:x + block] = (s - s.min()) / (s.max() - s.min())
    return out
