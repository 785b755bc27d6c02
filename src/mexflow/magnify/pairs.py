"""Training pairs for the learned magnifiers.

Three sources:
- generic motion (`generic_pair_pool`): textures and synthetic faces moved by random smooth flows
  that this project generates, kept by FlowMag's pair filter (`keep_pair`); FlowMag's own
  objective, for pretraining through the flow losses;
- generated motion (`generated_batch`, objective `generated`): any frame (a texture or face view
  from `GenericViews`, a frame of a micro-expression training clip from `ClipViews`) moved by a
  known smooth random field F, so the truly magnified frame (moved by alpha F) is known without
  labels or a flow network: the target of pretraining, fine-tuning and test-time adaptation;
- micro-expression pairs (`MEPairSampler`): two different frames of the same temporally
  normalised training clip (onset..offset), with the clip's face-region masks (FlowMag losses).

Arrays are numpy: frames (H, W, 3) uint8 RGB, flows (H, W, 2) float32 px in the forward
convention of `mexflow.magnify` (x1(x + F(x)) = x0(x)).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SKIMAGE_TEXTURES = ("astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png",
                    "grass.png", "gravel.png", "hubble_deep_field.jpg", "motorcycle_left.png",
                    "rocket.jpg", "coins.png", "moon.png")


@dataclass(frozen=True)
class PairFilter:
    """FlowMag's pair filter (REFERENCES §1.2): keep a pair when the image MSE (0..255 scale)
    exceeds `min_mse` and the flow magnitude's 99.9th percentile is at most `max_p999_px` and its
    80th percentile at most `max_p80_px`."""

    min_mse: float = 10.0
    max_p999_px: float = 20.0
    max_p80_px: float = 2.0


def keep_pair(x0: np.ndarray, x1: np.ndarray, flow: np.ndarray, rule: PairFilter = PairFilter()) -> bool:
    """Apply the pair filter to frames (H, W[, 3]) uint8 and their flow (H, W, 2) px."""
    mse = float(np.mean((x0.astype(np.float32) - x1.astype(np.float32)) ** 2))
    mag = np.hypot(flow[..., 0], flow[..., 1])
    p80, p999 = np.percentile(mag, [80.0, 99.9])
    return mse > rule.min_mse and p999 <= rule.max_p999_px and p80 <= rule.max_p80_px


def texture_sources(min_side: int = 128) -> list[np.ndarray]:
    """The natural images bundled in scikit-image's wheel, as (H, W, 3) uint8 RGB (offline)."""
    from pathlib import Path

    import skimage

    folder = Path(skimage.__file__).parent / "data"
    out = []
    for name in SKIMAGE_TEXTURES:
        path = folder / name
        if not path.exists():
            continue
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None or min(img.shape[:2]) < min_side:
            continue
        out.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    if not out:
        raise RuntimeError(f"no texture images found in {folder}; scikit-image's bundled data is missing")
    return out


def face_sources(n: int, seed: int) -> list[np.ndarray]:
    """`n` neutral synthetic faces (distinct identities, seeded), (480, 640, 3) uint8 RGB, cropped
    to the head region so random crops mostly see skin, eyes and mouth."""
    from mexflow.synthetic.faces import render_scene, sample_identity

    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        scene = render_scene(sample_identity(rng, 1000 + k))
        rgb = scene.face * scene.alpha[..., None] + scene.background * (1 - scene.alpha[..., None])
        x0, y0, x1, y1 = scene.roi
        out.append(np.clip(rgb[y0:y1, x0:x1], 0, 255).astype(np.uint8))
    return out


def smooth_random_flow(rng: np.random.Generator, size: int, max_px: float, grid: int = 4) -> np.ndarray:
    """A smooth random displacement field (size, size, 2) float32 px: Gaussian noise on a
    grid x grid lattice, bicubically upsampled, plus a random global translation, scaled so its
    largest vector is `max_px`."""
    coarse = rng.normal(size=(grid, grid, 2)).astype(np.float32)
    field = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    field += rng.normal(scale=0.5, size=2).astype(np.float32)
    peak = float(np.hypot(field[..., 0], field[..., 1]).max())
    return field * np.float32(max_px / max(peak, 1e-6))


def warp_forward(img: np.ndarray, flow: np.ndarray, iterations: int = 4) -> np.ndarray:
    """The frame x1 with x1(x + F(x)) = x0(x) for a smooth forward flow F (H, W, 2): for every
    output pixel y the source x solves x + F(x) = y by fixed-point iteration (converges when
    |grad F| << 1). img (H, W, C) uint8 -> same shape and dtype (bilinear, reflected borders)."""
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    sx, sy = xs.copy(), ys.copy()
    for _ in range(iterations):
        f = cv2.remap(flow, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        sx, sy = xs - f[..., 0], ys - f[..., 1]
    return cv2.remap(img, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _random_view(rng: np.random.Generator, src: np.ndarray, size: int, max_rotation_deg: float) -> np.ndarray:
    """A random crop (scale 0.5..1.5 of `size`), rotation, flip and colour jitter of `src`,
    (size, size, 3) uint8."""
    h, w = src.shape[:2]
    side = int(min(h, w, size * rng.uniform(0.5, 1.5)))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    view = cv2.resize(src[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA)
    m = cv2.getRotationMatrix2D((size / 2, size / 2), float(rng.uniform(-max_rotation_deg, max_rotation_deg)), 1.0)
    view = cv2.warpAffine(view, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if rng.random() < 0.5:
        view = view[:, ::-1]
    gain = rng.uniform(0.8, 1.2, size=3) * rng.uniform(0.8, 1.2)
    return np.clip(view.astype(np.float32) * gain.astype(np.float32), 0, 255).astype(np.uint8)


def generic_pair_pool(n: int, size: int, seed: int, max_px: tuple[float, float] = (0.1, 1.5),
                      rule: PairFilter = PairFilter(), faces: int = 6,
                      max_tries: int | None = None) -> dict[str, np.ndarray]:
    """`n` filtered generic-motion pairs at size x size.

    Each pair is a random view of a texture or a synthetic face (x0) and the same view moved by a
    smooth random flow whose peak is log-uniform in `max_px` (x1); pairs failing `rule` are
    redrawn. Returns {"x0": (n, S, S, 3) uint8, "x1": (n, S, S, 3) uint8, "flow": (n, S, S, 2)
    float32, "tries": () int}. Raises RuntimeError when fewer than n pairs pass in `max_tries`
    draws (default 20 n), naming the filter.
    """
    rng = np.random.default_rng(seed)
    sources = texture_sources() + (face_sources(faces, seed) if faces else [])
    x0s, x1s, flows = [], [], []
    tries, limit = 0, max_tries or 20 * n
    lo, hi = np.log(max_px[0]), np.log(max_px[1])
    while len(x0s) < n:
        if tries >= limit:
            raise RuntimeError(f"only {len(x0s)} of {n} generic pairs passed the pair filter {rule} "
                               f"in {tries} draws")
        tries += 1
        src = sources[int(rng.integers(len(sources)))]
        x0 = _random_view(rng, src, size, 15.0)
        flow = smooth_random_flow(rng, size, float(np.exp(rng.uniform(lo, hi))))
        x1 = warp_forward(x0, flow)
        if keep_pair(x0, x1, flow, rule):
            x0s.append(x0)
            x1s.append(x1)
            flows.append(flow)
    return {"x0": np.stack(x0s), "x1": np.stack(x1s), "flow": np.stack(flows), "tries": np.int64(tries)}


class MEPairSampler:
    """Pairs of two different frames of the same micro-expression clip, with the clip's masks.

    clips: list of (T, H, W, 3) uint8 temporally normalised clips (onset..offset, T >= 2);
    masks: None or a list of (H, W) float32 weight maps (e.g. the union of the face-part masks),
    one per clip. `sample(rng, n, crop)` returns x0, x1 (n, crop, crop, 3) uint8 and
    weights (n, crop, crop) float32 (ones without masks): a random clip, a random ordered pair of
    distinct frame indices (never the same frame twice: the public face-aware code trained on
    identical pairs and learned the identity), a random crop shared by both frames and the mask,
    and a random horizontal flip.
    """

    def __init__(self, clips: list[np.ndarray], masks: list[np.ndarray] | None = None):
        if not clips:
            raise ValueError("no training clips for micro-expression fine-tuning")
        short = [i for i, c in enumerate(clips) if len(c) < 2]
        if short:
            raise ValueError(f"clips {short} have fewer than 2 frames; a pair needs two different frames")
        if masks is not None and len(masks) != len(clips):
            raise ValueError(f"{len(masks)} masks for {len(clips)} clips")
        self.clips, self.masks = clips, masks

    def sample(self, rng: np.random.Generator, n: int, crop: int):
        x0 = np.empty((n, crop, crop, 3), np.uint8)
        x1 = np.empty_like(x0)
        weights = np.ones((n, crop, crop), np.float32)
        for k in range(n):
            c = int(rng.integers(len(self.clips)))
            clip = self.clips[c]
            t, h, w = clip.shape[:3]
            if min(h, w) < crop:
                raise ValueError(f"crop {crop} px is larger than the clips' frames ({h}x{w})")
            i, j = rng.choice(t, size=2, replace=False)
            y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
            flip = rng.random() < 0.5
            sl = (slice(y, y + crop), slice(x, x + crop))
            a, b = clip[i][sl], clip[j][sl]
            m = self.masks[c][sl] if self.masks is not None else weights[k]
            if flip:
                a, b, m = a[:, ::-1], b[:, ::-1], m[:, ::-1]
            x0[k], x1[k], weights[k] = a, b, m
        return x0, x1, weights


# ----------------------------------------------------------------------------- generated motion
@dataclass(frozen=True)
class MotionSpec:
    """Generated motion of the `generated` objective.

    peak_px: (lo, hi) the field's largest displacement, log-uniform, px; max_magnified_px: alpha x
    peak is capped at this (the peak is drawn in [lo, min(hi, cap / alpha)]), as FlowMag's pair
    filter caps the motion a pair may show; grid: (lo, hi) lattice sizes of the smooth field
    (2 = nearly global, 4 = a few local lobes); local_share: share of fields confined to one
    Gaussian blob (micro-expressions move a brow or a mouth corner, not the whole face);
    noise: sensor noise sigma, uniform in [0, noise] grey levels, drawn independently for x0 and
    x1 (the target is noise-free: magnifying noise is not motion)."""

    peak_px: tuple[float, float] = (0.05, 3.0)
    max_magnified_px: float = 24.0
    grid: tuple[int, int] = (2, 4)
    local_share: float = 0.5
    noise: float = 2.0

    @classmethod
    def from_dict(cls, d: dict | None) -> "MotionSpec":
        d = dict(d or {})
        unknown = set(d) - {"peak_px", "max_magnified_px", "grid", "local_share", "noise"}
        if unknown:
            raise ValueError(f"unknown motion settings {sorted(unknown)}")
        kw = {}
        if "peak_px" in d:
            lo, hi = (float(v) for v in d["peak_px"])
            if not 0 < lo <= hi:
                raise ValueError(f"motion.peak_px must satisfy 0 < lo <= hi, got {d['peak_px']}")
            kw["peak_px"] = (lo, hi)
        if "grid" in d:
            lo, hi = (int(v) for v in d["grid"])
            if not 2 <= lo <= hi:
                raise ValueError(f"motion.grid must satisfy 2 <= lo <= hi, got {d['grid']}")
            kw["grid"] = (lo, hi)
        for key in ("max_magnified_px", "local_share", "noise"):
            if key in d:
                kw[key] = float(d[key])
        if kw.get("max_magnified_px", 1.0) <= 0 or not 0 <= kw.get("local_share", 0.0) <= 1 \
                or kw.get("noise", 0.0) < 0:
            raise ValueError(f"motion settings out of range: {d}")
        return cls(**kw)


def random_motion(rng: np.random.Generator, size: int, alpha: float, spec: MotionSpec = MotionSpec()) -> np.ndarray:
    """One generated displacement field (size, size, 2) float32 px for a pair to be magnified by
    alpha: a smooth random field (`smooth_random_flow`), confined to a Gaussian blob with
    probability spec.local_share, whose peak is log-uniform in spec.peak_px capped by
    spec.max_magnified_px / alpha."""
    lo, hi = spec.peak_px
    hi = min(hi, spec.max_magnified_px / max(float(alpha), 1.0))
    hi = max(hi, lo)
    peak = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    field = smooth_random_flow(rng, size, 1.0, grid=int(rng.integers(spec.grid[0], spec.grid[1] + 1)))
    if rng.random() < spec.local_share:
        cy, cx = rng.uniform(0.15, 0.85, size=2) * size
        sigma = rng.uniform(0.08, 0.3) * size
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        field = field * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2))[..., None]
    top = float(np.hypot(field[..., 0], field[..., 1]).max())
    return (field * np.float32(peak / max(top, 1e-6))).astype(np.float32)


def generated_batch(rng: np.random.Generator, views: np.ndarray, alpha: np.ndarray,
                    spec: MotionSpec = MotionSpec(), mask_weights: np.ndarray | None = None,
                    return_flows: bool = False):
    """Pairs with known motion and their truly magnified frames.

    views: (n, S, S, 3) uint8 clean frames x0; alpha: (n,) factors; mask_weights: None (uniform
    magnification) or (n, S, S) float32 in [0, 1], the face-region weights W of targeted
    magnification: the target moves by A(x) F(x) with A = 1 + (alpha - 1) W (alpha inside the
    masks, 1 = unchanged outside). Returns x0, x1 (n, S, S, 3) uint8 (x1 = x0 moved by F, both
    with independent sensor noise) and target (n, S, S, 3) float32 on the 0..255 scale (x0 moved
    by alpha F, or A F; no noise); with return_flows, also the fields F (n, S, S, 2) float32."""
    n, size = len(views), views.shape[1]
    flows = np.empty((n, size, size, 2), np.float32)
    x0 = np.empty_like(views)
    x1 = np.empty_like(views)
    target = np.empty(views.shape, np.float32)
    for k in range(n):
        a = float(alpha[k])
        flow = random_motion(rng, size, a, spec)
        flows[k] = flow
        clean = views[k].astype(np.float32)
        moved = warp_forward(clean, flow)
        gain = a if mask_weights is None else 1.0 + (a - 1.0) * mask_weights[k][..., None]
        target[k] = warp_forward(clean, flow * np.float32(gain) if np.ndim(gain) == 0
                                 else (flow * gain).astype(np.float32))
        sigma = rng.uniform(0.0, spec.noise) if spec.noise > 0 else 0.0
        for out, img in ((x0, clean), (x1, moved)):
            noisy = img + rng.normal(0.0, sigma, img.shape).astype(np.float32) if sigma else img
            out[k] = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    return (x0, x1, target, flows) if return_flows else (x0, x1, target)


class GenericViews:
    """Random views of the generic sources: scikit-image's natural textures and `faces` synthetic
    faces (`face_sources`); a view is a face with probability face_share. sample(rng, n, size) ->
    (views (n, size, size, 3) uint8, None)."""

    def __init__(self, faces: int = 6, face_share: float = 0.5, seed: int = 0):
        self.textures = texture_sources()
        self.faces = face_sources(faces, seed) if faces else []
        self.face_share = float(face_share) if self.faces else 0.0

    def sample(self, rng: np.random.Generator, n: int, size: int):
        views = np.empty((n, size, size, 3), np.uint8)
        for k in range(n):
            pool = self.faces if rng.random() < self.face_share else self.textures
            views[k] = _random_view(rng, pool[int(rng.integers(len(pool)))], size, 15.0)
        return views, None


class ClipViews:
    """Random frames of (micro-expression) clips, for the generated objective.

    clips: list of (T, H, W, 3) uint8; masks: None or one (H, W) float32 weight map per clip.
    sample(rng, n, crop) -> (views (n, c, c, 3) uint8, weights (n, c, c) float32 or None) with
    c = min(crop, H, W): a random clip, a random frame of it, a random crop (the whole frame when
    crop covers it, so a face-aware model sees the face's layout) and a random horizontal flip."""

    def __init__(self, clips: list[np.ndarray], masks: list[np.ndarray] | None = None):
        if not clips:
            raise ValueError("no clips to draw training frames from")
        if masks is not None and len(masks) != len(clips):
            raise ValueError(f"{len(masks)} masks for {len(clips)} clips")
        self.clips, self.masks = clips, masks

    def sample(self, rng: np.random.Generator, n: int, crop: int):
        side = min([crop] + [min(c.shape[1:3]) for c in self.clips])
        views = np.empty((n, side, side, 3), np.uint8)
        weights = None if self.masks is None else np.empty((n, side, side), np.float32)
        for k in range(n):
            c = int(rng.integers(len(self.clips)))
            clip = self.clips[c]
            t, h, w = clip.shape[:3]
            i = int(rng.integers(t))
            y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            sl = (slice(y, y + side), slice(x, x + side))
            v = clip[i][sl]
            m = None if self.masks is None else self.masks[c][sl]
            if rng.random() < 0.5:
                v = v[:, ::-1]
                m = None if m is None else m[:, ::-1]
            views[k] = v
            if weights is not None:
                weights[k] = m
        return views, weights
