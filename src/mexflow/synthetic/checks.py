"""Stage outputs compared with the synthetic ground truth (used by tests and benchmarks)."""
from __future__ import annotations

import numpy as np

from mexflow.align.geometry import apply_affine
from mexflow.features.flow import farneback, to_gray
from mexflow.synthetic.ground_truth import (ClipTruth, apply_head_pose, displacement_in_crop,
                                            track_head_points)


def jitter_residuals(truth: ClipTruth, frame_numbers, shifts: np.ndarray, box,
                     reference: int) -> tuple[np.ndarray, np.ndarray]:
    """Alignment error per frame: |estimated shift - true rigid motion of the crop centre|.

    frame_numbers: (N,); shifts: (N, 2) px as stored by alignment; box: (cx, cy, size).
    Returns (residuals (N,) px, true motion magnitudes (N,) px).
    """
    centre = np.asarray(box[:2], float)[None]
    true = np.array([track_head_points(truth, centre, reference, int(f))[0] - centre[0]
                     for f in frame_numbers])
    return np.linalg.norm(shifts - true, axis=1), np.linalg.norm(true, axis=1)


def face_points(truth: ClipTruth, reference: int) -> np.ndarray:
    """The face's 478 landmarks where the rigid head pose of frame `reference` puts them
    (expression ignored), (478, 2) float64 pixels of that frame."""
    return apply_head_pose(truth, truth.landmarks, reference)


def alignment_residuals(truth: ClipTruth, frame_numbers, transforms: np.ndarray, reference: int,
                        points: np.ndarray | None = None) -> np.ndarray:
    """Residual rigid head motion left by an alignment, per frame.

    Each head point p (default: `face_points`, the face's landmarks on the reference frame) is
    carried by the true head motion to frame f (`track_head_points`), mapped back through that frame's alignment
    transform (N, 2, 3) frame -> reference affine, as stored by alignment; for shards with only
    shifts use mexflow.align.geometry.translation_affines) and compared with p. Any alignment
    that crops the reference box leaves the same error scaled by crop_size / box side in crop
    pixels. Returns (N,) float64 mean distance over the points, in reference-frame (source)
    pixels.
    """
    transforms = np.asarray(transforms, np.float64)
    frame_numbers = np.asarray(frame_numbers)
    if transforms.shape != (len(frame_numbers), 2, 3):
        raise ValueError(f"transforms must be ({len(frame_numbers)}, 2, 3), got {transforms.shape}")
    pts = face_points(truth, reference) if points is None else np.asarray(points, np.float64)
    out = np.empty(len(frame_numbers))
    for i, f in enumerate(frame_numbers):
        back = apply_affine(transforms[i], track_head_points(truth, pts, reference, int(f)))
        out[i] = np.linalg.norm(back - pts, axis=1).mean()
    return out


def apex_flow_error(truth: ClipTruth, frames: np.ndarray, frame_numbers, box,
                    min_px: float = 0.25) -> tuple[float, float, int]:
    """Farnebäck onset->apex flow on aligned RGB crops (N, S, S, 3) vs the true displacement,
    where the truth exceeds `min_px` crop pixels.

    Returns (mean end-point error, mean error of predicting zero motion, pixels compared);
    the errors are NaN when no pixel moves that much.
    """
    frame_numbers = np.asarray(frame_numbers)
    i0, i1 = (int(np.flatnonzero(frame_numbers == f)[0]) for f in (truth.onset, truth.apex))
    g = to_gray(frames[[i0, i1]])
    flow = farneback(g[0], g[1])
    disp = displacement_in_crop(truth, box, frames.shape[1], truth.onset, truth.apex)
    mag = np.hypot(disp[..., 0], disp[..., 1])
    moving = mag > min_px
    if not moving.any():
        return float("nan"), float("nan"), 0
    return float(np.hypot(*(flow - disp)[moving].T).mean()), float(mag[moving].mean()), int(moving.sum())


def aligned_truth_clips(root, truth, detector, params=None) -> list:
    """Align every clip of a generated corpus like the workflow (onset..offset, reference =
    onset). root: the corpus folder; truth: the table `write_synthetic_corpus` returns.
    Returns [(ClipTruth, AlignedClip)] in the table's order."""
    from mexflow.align.clip import AlignParams, align_frames, read_frame_bgr
    from mexflow.synthetic.corpus import truth_path
    from mexflow.synthetic.ground_truth import load_clip_truth
    from mexflow.synthetic.layouts import get_layout

    params = params or AlignParams(crop_size=224)
    out = []
    for _, r in truth.iterrows():
        gt = load_clip_truth(truth_path(root, r["subject"], r["clip"]))
        layout = get_layout(r["layout"])

        def read(n, subject=r["subject"], clip=r["clip"]):
            return read_frame_bgr(layout.frame_path(root, subject, clip, n))

        out.append((gt, align_frames(read, list(range(gt.onset, gt.offset + 1)), gt.onset, detector, params)))
    return out
