"""Per-clip ground-truth archive of the synthetic corpus (one NPZ per clip).

The per-frame displacement field is stored factorised, exactly: every AU of a clip follows the
same temporal profile, so the field at frame f is `amplitude[f] * apex_field` (see
`ClipTruth.displacement`). Coordinates are the subject's neutral canvas (before head jitter).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mexflow.align.geometry import apply_affine, compose_affine, crop_affine
from mexflow.io import save_npz_atomic


@dataclass(frozen=True)
class ClipTruth:
    frames: np.ndarray          # (N,) int frame numbers as written on disk
    amplitude: np.ndarray       # (N,) float32 expression amplitude in [0, 1] (1 at apex)
    apex_field: np.ndarray      # (H, W, 2) float32 forward displacement at apex, pixels
    jitter: np.ndarray          # (N, 3) float32 head pose: tx px, ty px, theta degrees
    jitter_centre: np.ndarray   # (2,) float64 rotation centre (x, y), canvas pixels
    gain: np.ndarray            # (N,) float32 global illumination gain
    landmarks: np.ndarray       # (478, 2) float64 neutral landmarks, canvas pixels
    iod: float                  # inter-ocular distance, pixels
    aus: str                    # AU string as annotated, e.g. "6+12" or "R12"
    emotion: str                # raw label (CASME II vocabulary)
    onset: int
    apex: int
    offset: int
    peak_px: float              # max |apex_field|, pixels
    fps: float
    noise_sigma: float

    def index_of(self, frame: int) -> int:
        hits = np.flatnonzero(self.frames == frame)
        if hits.size == 0:
            raise KeyError(f"frame {frame} is not in this clip ({self.frames[0]}..{self.frames[-1]})")
        return int(hits[0])

    def displacement(self, frame: int) -> np.ndarray:
        """(H, W, 2) float32 forward displacement of frame `frame` from the neutral face."""
        return self.apex_field * np.float32(self.amplitude[self.index_of(frame)])


def save_clip_truth(path, truth: ClipTruth) -> None:
    fields = {k: np.asarray(v) for k, v in truth.__dict__.items()}
    save_npz_atomic(path, compressed=True, **fields)


def load_clip_truth(path) -> ClipTruth:
    with np.load(path, allow_pickle=False) as z:
        kw = {k: z[k] for k in z.files}
    for key in ("aus", "emotion"):
        kw[key] = str(kw[key])
    for key in ("onset", "apex", "offset"):
        kw[key] = int(kw[key])
    for key in ("iod", "peak_px", "fps", "noise_sigma"):
        kw[key] = float(kw[key])
    return ClipTruth(**kw)


def head_pose(truth: ClipTruth, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """(R (2, 2), t (2,)) of the rigid head motion at `frame`: z = R (y - c) + c + t."""
    tx, ty, th = (float(v) for v in truth.jitter[truth.index_of(frame)])
    th = np.deg2rad(th)
    return np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]), np.array([tx, ty])


def apply_head_pose(truth: ClipTruth, points, frame: int) -> np.ndarray:
    """Neutral-face points (P, 2) moved by the rigid head pose of `frame`: z = R (y - c) + c + t.
    Returns (P, 2) float64 camera pixels."""
    r, t = head_pose(truth, frame)
    c = np.asarray(truth.jitter_centre, np.float64)
    return (np.asarray(points, np.float64) - c) @ r.T + c + t


def track_head_points(truth: ClipTruth, points, ref_frame: int, frame: int) -> np.ndarray:
    """Where the head points seen at `points` (P, 2) in `ref_frame` are in `frame` (rigid motion
    only). Returns (P, 2) float64 pixels."""
    c = np.asarray(truth.jitter_centre, np.float64)
    r0, t0 = head_pose(truth, ref_frame)
    neutral = (np.asarray(points, np.float64) - c - t0) @ r0 + c  # rows: r0^T (p - c - t0) + c
    return apply_head_pose(truth, neutral, frame)


def displacement_in_crop(truth: ClipTruth, box, crop_size: int, ref_frame: int, frame: int) -> np.ndarray:
    """Ground-truth expression motion from `ref_frame` to `frame` seen in an aligned crop.

    box: (cx, cy, size) square crop of the reference frame (as stored by alignment). Each crop
    pixel is traced back to the neutral face (undoing the reference frame's head pose); the
    displacement difference between the two frames is rotated into the camera and scaled to
    crop pixels. Returns (crop_size, crop_size, 2) float32 (dx, dy) in crop pixels.
    """
    import cv2

    cx, cy, size = (float(v) for v in box)
    k = crop_size / size
    u = (np.arange(crop_size) + 0.5) / k - 0.5
    zx, zy = np.meshgrid(cx - size / 2 + u, cy - size / 2 + u)
    c = truth.jitter_centre
    r0, t0 = head_pose(truth, ref_frame)
    dx, dy = zx - c[0] - t0[0], zy - c[1] - t0[1]
    nx = (r0[0, 0] * dx + r0[1, 0] * dy + c[0]).astype(np.float32)
    ny = (r0[0, 1] * dx + r0[1, 1] * dy + c[1]).astype(np.float32)
    delta = truth.amplitude[truth.index_of(frame)] - truth.amplitude[truth.index_of(ref_frame)]
    d = cv2.remap(truth.apex_field, nx, ny, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) * np.float32(delta)
    r1, _ = head_pose(truth, frame)
    return (np.einsum("ij,hwj->hwi", r1, d) * k).astype(np.float32)


def landmarks_at(truth: ClipTruth, frame: int) -> np.ndarray:
    """The generator's 478 landmarks in camera (canvas) pixels at `frame`: each neutral landmark
    x moved by the expression, y = x + a(frame) * D(x) (D bilinearly sampled at x), then by the
    head pose, z = R (y - c) + c + t. Returns (478, 2) float64."""
    import cv2

    neutral = np.asarray(truth.landmarks, np.float64)
    mx = neutral[:, 0].astype(np.float32).reshape(1, -1)
    my = neutral[:, 1].astype(np.float32).reshape(1, -1)
    # BORDER_CONSTANT 0 as in the renderer: no expression motion outside the canvas.
    d = cv2.remap(truth.apex_field, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    moved = neutral + float(truth.amplitude[truth.index_of(frame)]) * d.reshape(-1, 2).astype(np.float64)
    return apply_head_pose(truth, moved, frame)


def landmarks_in_crop(truth: ClipTruth, box, crop_size: int, frame: int, transform=None) -> np.ndarray:
    """The generator's landmarks at `frame` (see `landmarks_at`) in aligned-crop pixels.

    box: (cx, cy, size) crop box of the reference frame as stored by alignment; transform: the
    (2, 3) frame -> reference-frame affine alignment stored for `frame` (AlignedClip.transforms;
    a translation by the shift (dx, dy) is [[1, 0, -dx], [0, 1, -dy]]); None means the identity,
    as on the reference frame. Pixel centres sit at integer coordinates in every image, exactly
    as in `displacement_in_crop` and the aligner's crop: reference point q lands at crop pixel
    u = (q - (c - size / 2) + 0.5) * k - 0.5 with k = crop_size / size.
    Returns (478, 2) float64 (x, y) crop pixels.
    """
    b = np.asarray(box, np.float64).reshape(-1)
    if b.shape != (3,) or not np.isfinite(b).all() or not b[2] > 0:
        raise ValueError(f"box must be (cx, cy, size > 0), got {box!r}")
    if isinstance(crop_size, bool) or not isinstance(crop_size, (int, np.integer)) or crop_size <= 0:
        raise ValueError(f"crop_size must be a positive integer, got {crop_size!r}")
    m = np.eye(2, 3) if transform is None else np.asarray(transform, np.float64)
    if m.shape != (2, 3) or not np.isfinite(m).all():
        raise ValueError(f"transform must be a finite (2, 3) affine, got shape {m.shape}")
    to_crop = compose_affine(crop_affine(b[0], b[1], b[2], crop_size), m)
    return apply_affine(to_crop, landmarks_at(truth, frame))
