"""Subject identities built from a real offline face photograph.

The base face is scikit-image's bundled `astronaut` photo (512x512 RGB, public domain) with its
MediaPipe landmarks. A subject is that face placed into a 640x480 canvas with its own scale,
position, smooth geometric warp, skin tone, contrast, illumination ramp, background texture and
sensor noise level.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from mexflow.landmarks import face_mesh_landmarks, inter_ocular_distance

CANVAS_HW = (480, 640)
# FaceMesh face-oval contour (MediaPipe FACEMESH_FACE_OVAL vertices).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
_BACKGROUNDS = ("plain", "brick", "gravel", "grass")
_SKIN_TONES = np.array([[1.00, 1.00, 1.00], [1.04, 0.97, 0.92], [0.90, 0.80, 0.70],
                        [0.78, 0.64, 0.52], [0.66, 0.52, 0.42], [0.96, 0.90, 0.88]])


@dataclass(frozen=True)
class BaseFace:
    image: np.ndarray       # (512, 512, 3) uint8 RGB
    landmarks: np.ndarray   # (478, 2) float64 pixels


@functools.lru_cache(maxsize=1)
def load_base_face() -> BaseFace:
    """The astronaut photo and its FaceMesh landmarks (computed once per process)."""
    import skimage.data

    image = skimage.data.astronaut()
    return BaseFace(image=image, landmarks=face_mesh_landmarks(image))


@dataclass(frozen=True)
class Identity:
    """Per-subject appearance and behaviour parameters (all sampled from one RNG)."""

    subject: int
    scale: float               # base-photo pixels -> canvas pixels
    centre: tuple[float, float]  # canvas position (x, y) of the base face's eye midpoint
    warp: np.ndarray           # (4, 4, 2) coarse geometric warp, canvas pixels
    skin: np.ndarray           # (3,) RGB multipliers
    contrast: float
    ramp: tuple[float, float]  # illumination ramp (strength, angle in rad)
    background: str
    background_rgb: np.ndarray  # (3,) tint in [0, 255]
    noise_sigma: float         # sensor noise, 8-bit grey levels
    intensity: float           # ME amplitude factor
    speed: float               # ME timing factor (>1 = slower)


def sample_identity(rng: np.random.Generator, subject: int, warp_px: float = 6.0) -> Identity:
    """Draw a subject's identity parameters."""
    return Identity(
        subject=subject,
        scale=float(rng.uniform(2.0, 2.45)),
        centre=(float(320 + rng.uniform(-30, 30)), float(200 + rng.uniform(-20, 20))),
        warp=rng.normal(0.0, warp_px / 2.0, size=(4, 4, 2)).clip(-warp_px, warp_px),
        skin=_SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.95, 1.05, 3),
        contrast=float(rng.uniform(0.85, 1.15)),
        ramp=(float(rng.uniform(0.0, 0.25)), float(rng.uniform(0, 2 * np.pi))),
        background=_BACKGROUNDS[rng.integers(len(_BACKGROUNDS))],
        background_rgb=rng.uniform(60, 200, 3),
        noise_sigma=float(rng.uniform(1.0, 2.5)),
        intensity=float(rng.uniform(0.75, 1.25)),
        speed=float(rng.uniform(0.8, 1.25)),
    )


@dataclass(frozen=True)
class Scene:
    """A subject's neutral appearance in the canvas, before motion, lighting and noise."""

    face: np.ndarray        # (H, W, 3) float32 RGB in [0, 255], the head layer
    alpha: np.ndarray       # (H, W) float32 in [0, 1], head-layer opacity
    background: np.ndarray  # (H, W, 3) float32, static in camera space
    ramp: np.ndarray        # (H, W) float32 illumination gain, static in camera space
    landmarks: np.ndarray   # (478, 2) float64 canvas pixels of the neutral face
    iod: float              # inter-ocular distance, canvas pixels
    roi: tuple[int, int, int, int]  # x0, y0, x1, y1: where the head layer can appear (alpha > 0
                                    # plus a margin for head motion); outside it only background


def _warp_field(identity: Identity, hw: tuple[int, int]) -> np.ndarray:
    h, w = hw
    return cv2.resize(identity.warp.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def _sample(field: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bilinear sample of an (H, W, C) field at (N, 2) (x, y) points -> (N, C)."""
    mx = pts[:, 0].astype(np.float32).reshape(1, -1)
    my = pts[:, 1].astype(np.float32).reshape(1, -1)
    out = cv2.remap(field, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(pts.shape[0], -1).astype(np.float64)


def render_scene(identity: Identity, base: BaseFace | None = None,
                 hw: tuple[int, int] = CANVAS_HW) -> Scene:
    """Render a subject's neutral head layer, background and lighting in the canvas.

    Geometry: placement P(b) = scale * (b - c_base) + centre, then a smooth warp w: a base point b
    lands at y with y = P(b) + w(y). The image is drawn by the exact inverse map
    b = P^-1(y - w(y)); landmarks are carried forward by a fixed-point solve.
    """
    base = base or load_base_face()
    h, w = hw
    c_base = (base.landmarks[33] + base.landmarks[133] + base.landmarks[362] + base.landmarks[263]) / 4
    s, centre = identity.scale, np.asarray(identity.centre)
    warp = _warp_field(identity, hw)

    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x = (xs - warp[..., 0] - centre[0]) / s + c_base[0]
    map_y = (ys - warp[..., 1] - centre[1]) / s + c_base[1]
    face = cv2.remap(base.image.astype(np.float32), map_x, map_y, cv2.INTER_CUBIC,
                     borderMode=cv2.BORDER_REFLECT)
    face = (face - 128.0) * identity.contrast + 128.0
    face = np.clip(face * identity.skin.astype(np.float32), 0, 255).astype(np.float32)

    placed = s * (base.landmarks - c_base) + centre
    pts = placed.copy()
    for _ in range(8):
        pts = placed + _sample(warp, pts)

    oval = pts[list(FACE_OVAL)]
    oc = oval.mean(0)
    axes = (oval.max(0) - oval.min(0)) / 2 * np.array([1.22, 1.18])
    r = np.sqrt(((xs - oc[0]) / axes[0]) ** 2 + ((ys - (oc[1] - 0.12 * axes[1])) / axes[1]) ** 2)
    alpha = np.clip((1.0 - r) / 0.08, 0.0, 1.0).astype(np.float32)

    background = _background(identity, hw)
    strength, angle = identity.ramp
    proj = ((xs - w / 2) * np.cos(angle) + (ys - h / 2) * np.sin(angle)) / (0.5 * np.hypot(h, w))
    ramp = (1.0 + strength * proj).astype(np.float32)
    ys_in, xs_in = np.nonzero(alpha > 0)
    pad = 16
    roi = (max(0, int(xs_in.min()) - pad), max(0, int(ys_in.min()) - pad),
           min(w, int(xs_in.max()) + pad + 1), min(h, int(ys_in.max()) + pad + 1))
    return Scene(face=face, alpha=alpha, background=background, ramp=ramp, landmarks=pts,
                 iod=inter_ocular_distance(pts), roi=roi)


def _background(identity: Identity, hw: tuple[int, int]) -> np.ndarray:
    import skimage.data

    h, w = hw
    tint = identity.background_rgb.astype(np.float32)
    if identity.background == "plain":
        return np.broadcast_to(tint, (h, w, 3)).astype(np.float32).copy()
    tex = getattr(skimage.data, identity.background)().astype(np.float32)
    if tex.ndim == 3:
        tex = tex.mean(-1)
    tex = cv2.resize(tex, (w, h), interpolation=cv2.INTER_LINEAR)
    tex = cv2.GaussianBlur(tex, (0, 0), 1.5)
    tex = (tex - tex.mean()) / (tex.std() + 1e-6)
    return np.clip(tint[None, None, :] * (1.0 + 0.25 * tex[..., None]), 0, 255).astype(np.float32)
