"""Feature-bank dense arrays -> the (N, C, T, H, W) float32 input of the deep recognisers.

The bank layouts (``mexflow.features.kinds``) are converted as follows:

========  =====================  ==========================
layout    data shape             model input
========  =====================  ==========================
"TSSC"    (N, T, S, S, C)        (N, C, T, size, size)
"TSS"     (N, T, S, S)           (N, 1, T, size, size)
"SSC"     (N, S, S, C)           (N, C, 1, size, size)
========  =====================  ==========================

Spatial resizing is area averaging (``F.interpolate(mode="area")``, i.e. adaptive average
pooling: exact block means for integer down-scaling factors, pixel repetition for integer
up-scaling). ``uint8`` arrays are divided by 255; every other dtype is cast to float32 unchanged.
No other normalisation happens here: the trainer standardises each channel with statistics of
its training samples only (:func:`mexflow.models.deep.channel_stats`).

Note that area-averaging categorical arrays (LBP code images) mixes codes; resize those banks
at extraction time instead if that matters.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["LAYOUTS", "to_model_input"]

#: Layout -> ndim of one clip's array (without the leading N axis).
LAYOUTS = {"TSSC": 4, "TSS": 3, "SSC": 3}
#: Default size of one float32 chunk at the input resolution.
CHUNK_BYTES = 64 * 2**20


def _clip_to_ncthw(x: torch.Tensor, layout: str) -> torch.Tensor:
    """(n, *clip shape) float32 -> (n, C, T, H, W)."""
    if layout == "TSSC":
        return x.permute(0, 4, 1, 2, 3)
    if layout == "TSS":
        return x.unsqueeze(1)
    return x.permute(0, 3, 1, 2).unsqueeze(2)  # SSC


def to_model_input(data: np.ndarray | Sequence[np.ndarray], layout: str, size: int,
                   chunk_bytes: int = CHUNK_BYTES) -> np.ndarray:
    """Convert stacked bank arrays to a model input, resizing in chunks of clips.

    Parameters
    ----------
    data : np.ndarray, first axis = clips, or a sequence of per-clip arrays of one shape
        "TSSC" (N, T, S, S, C), "TSS" (N, T, S, S) or "SSC" (N, S, S, C); any real dtype
        (typically float16 flow / spectra or uint8 frames / codes). Non-square H x W is accepted.
    layout : "TSSC" | "TSS" | "SSC"
    size : int >= 1
        Output height and width.
    chunk_bytes : approximate bytes of one float32 chunk at the input resolution; peak extra
        memory is about one such chunk plus its resized copy (the output is allocated once).

    Returns
    -------
    np.ndarray, float32, shape (N, C, T, size, size)
        uint8 inputs scaled to [0, 1].

    Raises
    ------
    ValueError
        Unknown layout, wrong number of dimensions, bad size, or clips of differing shapes.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {sorted(LAYOUTS)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be an int >= 1, got {size!r}")
    size = int(size)
    clip_ndim = LAYOUTS[layout]

    if isinstance(data, np.ndarray):
        if data.ndim != clip_ndim + 1:
            raise ValueError(f"layout {layout} needs a {clip_ndim + 1}-D array (N, {', '.join(layout)}), "
                             f"got shape {data.shape}")
        n, clip_shape = data.shape[0], data.shape[1:]
        get = lambda a, b: data[a:b]  # noqa: E731
    else:
        clips = list(data)
        n = len(clips)
        clip_shape = np.shape(clips[0]) if n else ()
        for i, c in enumerate(clips):
            if np.ndim(c) != clip_ndim:
                raise ValueError(f"layout {layout} needs {clip_ndim}-D clips ({', '.join(layout)}), "
                                 f"clip {i} has shape {np.shape(c)}")
            if np.shape(c) != clip_shape:
                raise ValueError(f"clip {i} has shape {np.shape(c)}, clip 0 has {clip_shape}")
        get = lambda a, b: np.stack(clips[a:b])  # noqa: E731
        if n == 0:
            raise ValueError("no clips")

    if min(clip_shape) < 1:
        raise ValueError(f"empty clip shape {clip_shape}")
    if layout == "TSSC":
        T, H, W, C = clip_shape
    elif layout == "TSS":
        (T, H, W), C = clip_shape, 1
    else:
        (H, W, C), T = clip_shape, 1

    out = np.empty((n, C, T, size, size), dtype=np.float32)
    per_clip = 4 * int(np.prod(clip_shape))
    step = max(1, int(chunk_bytes) // max(per_clip, 1))
    for a in range(0, n, step):
        b = min(n, a + step)
        chunk = np.asarray(get(a, b))
        scale = np.float32(255) if chunk.dtype == np.uint8 else None
        x = torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32))
        if scale is not None:
            x = x / scale
        x = _clip_to_ncthw(x, layout)  # (m, C, T, H, W) view
        if (H, W) != (size, size):
            m = x.shape[0]
            x = F.interpolate(x.reshape(m, C * T, H, W), size=(size, size), mode="area")
            x = x.reshape(m, C, T, size, size)
        out[a:b] = x.numpy()
    return out
