"""Side-by-side figures of one clip magnified by several methods."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mexflow.features.flow import farneback, to_gray
from mexflow.io import atomic_path
from mexflow.magnify.generator import as_rgb


def peak_motion_frame(frames: np.ndarray) -> int:
    """Index of the frame with the largest mean Farnebäck motion from frame 0 (>= 1), e.g. the
    apex of an onset..offset clip (T, H, W[, 3]) uint8."""
    if len(frames) < 2:
        raise ValueError("a clip needs at least 2 frames")
    g = to_gray(frames)
    mags = [float(np.hypot(*farneback(g[0], g[i]).transpose(2, 0, 1)).mean()) for i in range(1, len(g))]
    return 1 + int(np.argmax(mags))


def comparison_panels(clips: dict[str, np.ndarray], frame: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """For each clip (same shape (T, H, W[, 3]) uint8): its frame `frame` as RGB and the Farnebäck
    flow magnitude (H, W) float32 px from frame 0 to that frame."""
    images, mags = [], []
    for name, c in clips.items():
        if c.shape != next(iter(clips.values())).shape:
            raise ValueError(f"clip {name!r} has shape {c.shape}; all clips must share one shape")
        img = as_rgb(c[frame:frame + 1])[0]
        g = to_gray(c[[0, frame]])
        images.append(img)
        mags.append(np.hypot(*farneback(g[0], g[1]).transpose(2, 0, 1)).astype(np.float32))
    return images, mags


def save_comparison_figure(clips: dict[str, np.ndarray], path, frame: int | None = None,
                           title: str = "", labels: dict[str, str] | None = None) -> int:
    """PNG: top row the frame `frame` (default: the peak-motion frame of the first clip, the
    original) of every clip, bottom row its motion from frame 0 (Farnebäck magnitude, one colour
    scale for all, px). Written atomically. Returns the frame shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = peak_motion_frame(next(iter(clips.values()))) if frame is None else int(frame)
    images, mags = comparison_panels(clips, frame)
    vmax = max(float(np.percentile(m, 99.5)) for m in mags) or 1.0
    n = len(clips)
    titles = [(labels or {}).get(name, name) for name in clips]
    # each panel as wide as its longest title line (8 pt: about 0.075 inch a character), so
    # neighbouring titles never run into each other
    longest = max(len(line) for t in titles for line in str(t).splitlines())
    fig, axes = plt.subplots(2, n, figsize=(max(2.1, 0.075 * longest + 0.3) * n, 4.6), squeeze=False)
    for k, name in enumerate(clips):
        axes[0, k].imshow(images[k])
        axes[0, k].set_title(titles[k], fontsize=8)
        im = axes[1, k].imshow(mags[k], cmap="magma", vmin=0, vmax=vmax)
        for ax in axes[:, k]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[1, 0].set_ylabel(f"|flow| frame 0 -> {frame}", fontsize=8)
    fig.colorbar(im, ax=axes[1, :].tolist(), fraction=0.02, pad=0.01, label="px")
    if title:
        fig.suptitle(title, fontsize=9)
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return frame
