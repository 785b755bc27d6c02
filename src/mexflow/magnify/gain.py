"""Gain ratio of a magnifier against known motion: how close to alpha times the true motion the
magnified clip really moves.

A clip whose motion is known (a synthetic clip with its ground-truth displacement, or a real
face photo moved by a known smooth field, `moving_photo_clip`) is magnified; the magnified
motion (Farnebäck, frame 0 -> frame i, full resolution) is projected on the true displacement
(the least-squares gain over the moving pixels, as `truth_errors`' effective alpha). The flow measurement has its own
bias, which grows with the size of the motion (Farnebäck under-reads a 10 px displacement more
than a 1 px one), so the gain is divided by the gain measured the same way on a perfectly
magnified rendering (`perfect_magnification`: frame 0 moved by exactly alpha times the true
displacement):

    gain_ratio = gain(magnified) / gain(perfect),  1 = exactly alpha times the true motion.

Arrays: clips (T, H, W, 3) uint8 RGB, frame 0 the reference; displacements (T-1, H, W, 2)
float32 px, forward (frame 0 -> frame i); masks (R, H, W) bool with region names.
"""
from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from mexflow.magnify.metrics import gain_along, mask_shares, part_union, reference_flows
from mexflow.magnify.pairs import smooth_random_flow, warp_forward

__all__ = ["perfect_magnification", "perfect_gains", "gain_ratios", "moving_photo_clip", "PHOTO_FIELDS",
           "GAIN_PARTS"]

#: Where gains are measured: every moving pixel, those inside / outside the face-part union.
GAIN_PARTS = ("moving", "inmask", "outmask")

#: (seed, peak px) of the smooth fields of the real-photo test: sub-pixel to 1 px, like MEs.
PHOTO_FIELDS = ((0, 0.3), (1, 0.6), (2, 1.0))


def perfect_magnification(clip: np.ndarray, disp: np.ndarray, alpha: float) -> np.ndarray:
    """The clip a perfect magnifier would produce: frame 0 and, for i >= 1, frame 0 moved by
    alpha x disp[i-1] (forward warp, bilinear). (T, H, W, 3) uint8."""
    clip = np.asarray(clip)
    a = np.float32(alpha)
    return np.stack([clip[0]] + [warp_forward(clip[0], np.asarray(d, np.float32) * a) for d in disp])


def _where(disp: np.ndarray, masks, region_names, min_px: float) -> tuple[dict, np.ndarray | None]:
    """{part: (T-1, H, W) bool} of GAIN_PARTS (only "moving" without masks) and the part union."""
    moving = np.hypot(disp[..., 0], disp[..., 1]) >= min_px
    if masks is None:
        return {"moving": moving}, None
    masks = np.asarray(masks, bool)
    names = list(region_names or [])
    if len(names) != len(masks):
        raise ValueError(f"{len(masks)} masks but {len(names)} region names")
    union = part_union(masks, names)
    return {"moving": moving, "inmask": moving & union[None], "outmask": moving & ~union[None]}, union


def perfect_gains(original: np.ndarray, disp: np.ndarray, alpha: float, masks: np.ndarray | None = None,
                  region_names: Sequence[str] | None = None, min_px: float = 0.1) -> dict:
    """Gains along the true displacement of a perfect magnification of `original` by alpha
    (`perfect_magnification`, measured with full-resolution Farnebäck as in `gain_ratios`):
    {part: gain} over GAIN_PARTS ("moving" only without masks). They depend on the original
    clip, the truth and alpha, not on the magnifier: pass them to `gain_ratios` to score several
    magnifiers of one clip at one alpha."""
    disp = np.asarray(disp, np.float64)
    where, _ = _where(disp, masks, region_names, min_px)
    f_perfect = reference_flows(perfect_magnification(original, disp, alpha)).astype(np.float64)
    return {part: gain_along(f_perfect, disp, w) for part, w in where.items()}


def gain_ratios(original: np.ndarray, magnified: np.ndarray, alpha: float, disp: np.ndarray,
                masks: np.ndarray | None = None, region_names: Sequence[str] | None = None,
                min_px: float = 0.1, flows: dict | None = None, perfect: dict | None = None) -> dict:
    """Gain of `magnified` along the true displacement, relative to a perfect magnification.

    F_mag, F_orig, F_perfect: full-resolution Farnebäck flows frame 0 -> frame i of the magnified,
    original and perfectly magnified clips; gains are least-squares gains along the truth over
    the moving pixels (|disp| >= min_px), as `truth_errors`' effective alpha.
    Returns {"gain_ratio", "effective_alpha" (the raw gain of F_mag), "perfect_effective_alpha"}
    and, with masks (R, H, W) bool named by region_names, "inmask_gain_ratio" / "outmask_gain_ratio"
    (the same inside / outside the union of the face-part masks, every mask but "face"),
    "added_share_in_masks" (share of the added motion |F_mag - F_orig|, summed over pixels and
    pairs, inside that union) and "mask_area_share" (the union's share of the image). Floats; NaN
    when undefined. flows: optional {"original": F_orig, "magnified": F_mag} already computed
    with `reference_flows`, as `truth_errors` takes them. perfect: the perfect magnification's
    gains, `perfect_gains(original, disp, alpha, masks, region_names, min_px)`, when already
    computed."""
    original, magnified = np.asarray(original), np.asarray(magnified)
    disp = np.asarray(disp, np.float64)
    if original.shape != magnified.shape or disp.shape != (len(original) - 1, *original.shape[1:3], 2):
        raise ValueError(f"clips {original.shape} / {magnified.shape} and displacement {disp.shape} "
                         "do not match")
    flows = flows or {}
    f_mag = (flows["magnified"] if "magnified" in flows else reference_flows(magnified)).astype(np.float64)
    where, union = _where(disp, masks, region_names, min_px)
    if perfect is None:
        perfect = perfect_gains(original, disp, alpha, masks, region_names, min_px)
    elif set(perfect) != set(where):
        raise ValueError(f"perfect gains for {sorted(perfect)}, expected {sorted(where)}")

    def ratio(part) -> float:
        p = perfect[part]
        return gain_along(f_mag, disp, where[part]) / p if p and math.isfinite(p) else math.nan

    out = {"gain_ratio": ratio("moving"), "effective_alpha": gain_along(f_mag, disp, where["moving"]),
           "perfect_effective_alpha": float(perfect["moving"])}
    if masks is None:
        return out
    f_orig = (flows["original"] if "original" in flows else reference_flows(original)).astype(np.float64)
    out.update(inmask_gain_ratio=ratio("inmask"), outmask_gain_ratio=ratio("outmask"),
               **mask_shares(f_mag, f_orig, union))
    return out


def moving_photo_clip(seed: int = 0, peak_px: float = 0.5, frames: int = 5, size: int = 224):
    """A real face photograph moved by a known smooth sub-pixel field.

    The face of scikit-image's `astronaut` photo (public domain; the synthetic corpus is built
    from the same photo, so this tests a new motion, not a new face), area-resized to size x size;
    frame i (i = 0..frames-1) is that image moved forward by (i / (frames-1)) x F, F a smooth
    random field (`smooth_random_flow`, seeded) whose largest vector is peak_px.
    Returns (clip (frames, size, size, 3) uint8, disp (frames-1, size, size, 2) float32)."""
    import skimage.data

    face = cv2.resize(skimage.data.astronaut()[20:260, 130:370], (size, size),
                      interpolation=cv2.INTER_AREA)
    field = smooth_random_flow(np.random.default_rng(seed), size, peak_px)
    steps = np.linspace(0.0, 1.0, frames)[1:].astype(np.float32)
    disp = np.stack([field * s for s in steps]).astype(np.float32)
    clip = np.stack([face] + [warp_forward(face, d) for d in disp])
    return clip, disp
