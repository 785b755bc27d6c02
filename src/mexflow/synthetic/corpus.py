"""Plan and write the synthetic corpus in the CASME II, SAMM or 4DME on-disk layout.

Layout written under `root` (see layouts.py for the exact names of each layout):

    root/<annotation sheet>                       the layout's coding sheet (columns, vocabulary)
    root/<frames_subdir>/<subject>/<clip>/<frame>.jpg   640x480 JPEG frames (RGB for casme2,
                                                  single-channel grey for samm and 4dme)
    root/ground_truth/<subject>/<clip>.npz        per-clip ground truth (see ground_truth.py)
    root/ground_truth/clips.parquet               one row per clip: labels, AUs, timing, amplitude

Rendering (identities, AU fields, timing, jitter, illumination, noise, ground truth) does not
depend on the layout: a grey frame is the BT.601 luminance of the RGB frame the casme2 layout
writes for the same config. Everything is a deterministic function of the config (seed
included): each subject and each clip draws from its own RNG seeded by (seed, subject[, clip]), so
parallel generation gives the same frames, sheet and truth table bytes as serial generation.
"""
from __future__ import annotations

import os
import multiprocessing
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from mexflow.io import honour_umask, write_parquet_atomic
from mexflow.resources import load_resource
from mexflow.synthetic.action_units import AUCode, expression_field
from mexflow.synthetic.faces import CANVAS_HW, render_scene, sample_identity
from mexflow.synthetic.ground_truth import ClipTruth, save_clip_truth
from mexflow.synthetic.layouts import (CASME2_COLUMNS, CODING_FILE, FOURDME_COLUMNS, FRAMES_SUBDIR,
                                       LAYOUT_FILES, LAYOUTS, SAMM_COLUMNS, Layout, SheetEntry, get_layout)
from mexflow.synthetic.quirks import LAYOUT_QUIRKS, QUIRKS, apply_quirks, assign_quirks, validate_quirks
from mexflow.synthetic.render import render_frame
from mexflow.synthetic.xlsx import write_sheet

__all__ = ["CASME2_COLUMNS", "CODING_FILE", "FOURDME_COLUMNS", "FRAMES_SUBDIR", "GT_SUBDIR",
           "LAYOUTS", "LAYOUT_FILES", "LAYOUT_QUIRKS", "QUIRKS", "SAMM_COLUMNS", "TRUTH_COLUMNS",
           "ClipPlan", "SyntheticConfig", "plan_subject", "sample_jitter", "temporal_profile",
           "truth_path", "write_synthetic_corpus"]

GT_SUBDIR = "ground_truth"
TRUTH_COLUMNS = ["subject", "clip", "emotion", "aus", "onset", "apex", "offset", "first_frame",
                 "last_frame", "peak_px", "fps", "quirk", "layout", "raw_label", "objective"]


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of a synthetic corpus (the `synthetic:` block of a dataset in config.yaml).

    layout: casme2 | samm | 4dme (on-disk naming, sheet and frame colour; see layouts.py).
    fps: frame rate recorded in the truth (metadata only: motion timing is in frames); None means
    the layout's real corpus rate (casme2 200, samm 200, 4dme 60), resolved at construction, so
    dataclasses.replace(cfg, layout=...) needs fps=None to take the new layout's rate.
    Construction validates every field (ValueError naming the field).
    """

    seed: int = 2
    subjects: int = 8
    clips_per_subject: int = 5
    layout: str = "casme2"
    fps: float | None = None
    emotion_sampling: str = "balanced"   # balanced | weighted
    emotion_weights: dict = field(default_factory=lambda: {
        "happiness": 32, "surprise": 25, "disgust": 63, "repression": 27, "others": 99})
    peak_px: tuple[float, float] = (0.35, 1.3)   # apex displacement before subject intensity
    rise_frames: tuple[int, int] = (8, 20)
    fall_frames: tuple[int, int] = (10, 28)
    pad_frames: tuple[int, int] = (2, 8)
    max_translation_px: float = 3.0
    max_rotation_deg: float = 0.3
    rotation_sway_deg: float = 0.0   # head roll amplitude over each clip (clipped to max_rotation_deg)
    jpeg_quality: int = 95
    quirks: tuple[str, ...] = ()

    def __post_init__(self):
        layout = get_layout(self.layout)
        for key in ("peak_px", "rise_frames", "fall_frames", "pad_frames", "quirks"):
            object.__setattr__(self, key, tuple(getattr(self, key)))
        object.__setattr__(self, "fps", float(layout.fps if self.fps is None else self.fps))
        if not self.fps > 0:
            raise ValueError(f"synthetic fps must be > 0, got {self.fps}")
        if self.subjects < 1 or self.clips_per_subject < 1:
            raise ValueError("synthetic subjects and clips_per_subject must be >= 1")
        if self.emotion_sampling not in ("balanced", "weighted"):
            raise ValueError(f"emotion_sampling must be 'balanced' or 'weighted', got {self.emotion_sampling!r}")
        for key in ("peak_px", "rise_frames", "fall_frames", "pad_frames"):
            lo_hi = getattr(self, key)
            if len(lo_hi) != 2 or lo_hi[0] > lo_hi[1]:
                raise ValueError(f"synthetic {key} must be a [low, high] pair with low <= high, got {list(lo_hi)}")
        if not 0 <= self.max_translation_px <= 10:
            raise ValueError("max_translation_px must be in [0, 10] (the renderer's head margin)")
        if not 0 <= self.rotation_sway_deg <= self.max_rotation_deg:
            raise ValueError(f"rotation_sway_deg must be in [0, max_rotation_deg = {self.max_rotation_deg}], "
                             f"got {self.rotation_sway_deg}")
        validate_quirks(self.layout, self.quirks)

    @classmethod
    def from_dict(cls, d: dict) -> "SyntheticConfig":
        """Config from the `synthetic:` mapping; ValueError names unknown options, an unknown
        layout, unknown quirks and quirks the layout cannot show."""
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown synthetic corpus options: {sorted(unknown)}")
        return cls(**d)


@dataclass(frozen=True)
class ClipPlan:
    subject: int             # subject number, 1-based
    subject_id: str          # as named on disk, e.g. "sub03", "003", "S03"
    number: int              # clip number within the subject, 1-based
    clip: str                # as named on disk, e.g. "EP01_03", "003_1_1", "S03_01"
    emotion: str             # generator emotion (CASME II five classes)
    codes: tuple[AUCode, ...]
    weights: tuple[float, ...]
    objective: int           # SAMM objective class 1..7 of the AU prototype
    peak_px: float
    first_frame: int
    onset: int
    apex: int
    offset: int
    last_frame: int
    seed: tuple[int, ...]

    @property
    def au_string(self) -> str:
        return "+".join(str(c) for c in self.codes)


def _choose_emotions(rng: np.random.Generator, cfg: SyntheticConfig) -> list[str]:
    names = list(load_resource("synthetic_emotions.yaml"))
    if cfg.emotion_sampling == "balanced":
        reps = -(-cfg.clips_per_subject // len(names))
        pool = list(rng.permutation(names * reps))[: cfg.clips_per_subject]
        return [str(e) for e in pool]
    # weighted (the config validated the choice)
    w = np.array([cfg.emotion_weights.get(n, 0.0) for n in names], float)
    if not (np.all(w >= 0) and w.sum() > 0):
        raise ValueError(f"emotion_weights must be >= 0 with a positive sum over {names}, got {cfg.emotion_weights}")
    return [str(e) for e in rng.choice(names, size=cfg.clips_per_subject, p=w / w.sum())]


def plan_subject(cfg: SyntheticConfig, subject: int) -> list[ClipPlan]:
    """The clips of one subject: emotion, AUs, amplitude and timing (frame numbers).
    Only the names depend on cfg.layout."""
    layout = get_layout(cfg.layout)
    srng = np.random.default_rng([cfg.seed, subject])
    identity = sample_identity(np.random.default_rng([cfg.seed, subject, 0]), subject)
    emotions = _choose_emotions(srng, cfg)
    protos = load_resource("synthetic_emotions.yaml")
    plans = []
    for k, emotion in enumerate(emotions, start=1):
        crng = np.random.default_rng([cfg.seed, subject, k])
        spec = protos[emotion]
        p = np.array([x["p"] for x in spec["prototypes"]], float)
        proto = spec["prototypes"][crng.choice(len(p), p=p / p.sum())]
        aus = proto["aus"]
        side = ""
        if len(aus) == 1 and crng.random() < spec.get("lateral", 0.0):
            side = str(crng.choice(["L", "R"]))
        codes = tuple(AUCode(int(a), side) for a in aus)
        weights = tuple(float(w) for w in crng.uniform(0.6, 1.0, len(codes)))
        peak = float(np.clip(crng.uniform(*cfg.peak_px) * identity.intensity, 0.2, 1.5))
        rise = max(2, int(round(crng.integers(cfg.rise_frames[0], cfg.rise_frames[1] + 1) * identity.speed)))
        fall = max(2, int(round(crng.integers(cfg.fall_frames[0], cfg.fall_frames[1] + 1) * identity.speed)))
        pre = int(crng.integers(cfg.pad_frames[0], cfg.pad_frames[1] + 1))
        post = int(crng.integers(cfg.pad_frames[0], cfg.pad_frames[1] + 1))
        first = int(crng.integers(1, 300))
        onset = first + pre
        plans.append(ClipPlan(subject, layout.subject_id(subject), k, layout.clip_name(subject, k),
                              emotion, codes, weights, int(proto["objective"]), peak,
                              first, onset, onset + rise, onset + rise + fall,
                              onset + rise + fall + post, (cfg.seed, subject, k)))
    return plans


def truth_path(root, subject_id: str, clip: str) -> Path:
    """Ground-truth archive of a clip: root/ground_truth/{subject_id}/{clip}.npz, with the corpus'
    own subject id and clip name (e.g. "sub03"/"EP01_03", "003"/"003_1_1", "S03"/"S03_01")."""
    return Path(root) / GT_SUBDIR / subject_id / f"{clip}.npz"


def temporal_profile(frames: np.ndarray, onset: int, apex: int, offset: int) -> np.ndarray:
    """Expression amplitude per frame: 0 before onset, raised-cosine rise to 1 at apex,
    raised-cosine fall to 0 at offset, 0 after. Returns float32 like `frames`."""
    f = frames.astype(np.float64)
    a = np.zeros_like(f)
    rise = (f > onset) & (f <= apex)
    a[rise] = 0.5 * (1 - np.cos(np.pi * (f[rise] - onset) / (apex - onset)))
    fall = (f > apex) & (f < offset)
    a[fall] = 0.5 * (1 + np.cos(np.pi * (f[fall] - apex) / (offset - apex)))
    return a.astype(np.float32)


def sample_jitter(rng: np.random.Generator, n: int, max_t: float, max_r: float,
                  sway_deg: float = 0.0) -> np.ndarray:
    """Head pose per frame, (n, 3) float32: tx, ty (px, random walk plus slow sway, a few px) and
    theta (degrees, a small random walk plus a roll of sway_deg * sin(2 pi i / n) over the clip).
    Values are clipped to +-max_t and +-max_r. The roll draws no random numbers, so sway_deg = 0
    gives the same poses as before the option existed."""
    t = rng.uniform(-0.5, 0.5, 2) * max_t + np.cumsum(rng.normal(0, 0.12, (n, 2)), axis=0)
    phase = rng.uniform(0, 2 * np.pi, 2)
    sway = rng.uniform(0, 0.8, 2)
    i = np.arange(n)[:, None]
    t = t + sway * np.sin(2 * np.pi * i / max(n, 1) + phase)
    theta = rng.uniform(-0.1, 0.1) + np.cumsum(rng.normal(0, 0.01, n))
    theta = theta + sway_deg * np.sin(2 * np.pi * np.arange(n) / max(n, 1))
    return np.column_stack([np.clip(t, -max_t, max_t), np.clip(theta, -max_r, max_r)]).astype(np.float32)


def _camera_image(rgb: np.ndarray, layout: Layout) -> np.ndarray:
    """What cv2.imwrite gets: (H, W) uint8 BT.601 luminance for grey layouts, else (H, W, 3) BGR."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY if layout.grayscale else cv2.COLOR_RGB2BGR)


def _single_threaded() -> None:
    """Worker initializer: OpenCV's pool (by default as many threads as cores, and the renderer's
    remaps use it) to one thread; the output does not depend on it. The renderer does no BLAS or
    OpenMP work."""
    cv2.setNumThreads(1)


def _render_subject(args) -> None:
    """Write the frames and ground-truth archives of one subject's planned clips."""
    cfg, plans, root = args
    layout = get_layout(cfg.layout)
    subject = plans[0].subject
    identity = sample_identity(np.random.default_rng([cfg.seed, subject, 0]), subject)
    scene = render_scene(identity)
    for plan in plans:
        rng = np.random.default_rng(list(plan.seed) + [1])
        frames = np.arange(plan.first_frame, plan.last_frame + 1)
        amp = temporal_profile(frames, plan.onset, plan.apex, plan.offset)
        fieldd = expression_field(list(plan.codes), list(plan.weights), scene.landmarks, scene.iod,
                                  CANVAS_HW, plan.peak_px)
        jitter = sample_jitter(rng, len(frames), cfg.max_translation_px, cfg.max_rotation_deg,
                               cfg.rotation_sway_deg)
        drift = rng.uniform(-0.03, 0.03)
        gain = (1 + drift * np.linspace(0, 1, len(frames))
                + 0.005 * np.sin(np.linspace(0, 2 * np.pi, len(frames)) + rng.uniform(0, 6))).astype(np.float32)
        centre = tuple(float(v) for v in scene.landmarks[[33, 133, 362, 263, 1]].mean(0))
        layout.clip_dir(root, plan.subject_id, plan.clip).mkdir(parents=True, exist_ok=True)
        for i, fno in enumerate(frames):
            img = render_frame(scene, fieldd, float(amp[i]), jitter[i], centre, float(gain[i]),
                               identity.noise_sigma, rng)
            path = layout.frame_path(root, plan.subject_id, plan.clip, int(fno))
            if not cv2.imwrite(str(path), _camera_image(img, layout), [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality]):
                raise OSError(f"could not write frame {path}")
        truth = ClipTruth(frames=frames, amplitude=amp, apex_field=fieldd, jitter=jitter,
                          jitter_centre=np.asarray(centre), gain=gain, landmarks=scene.landmarks,
                          iod=scene.iod, aus=plan.au_string, emotion=plan.emotion,
                          onset=plan.onset, apex=plan.apex, offset=plan.offset,
                          peak_px=plan.peak_px, fps=cfg.fps, noise_sigma=identity.noise_sigma)
        save_clip_truth(truth_path(root, plan.subject_id, plan.clip), truth)


def _truth_row(plan: ClipPlan, cfg: SyntheticConfig, layout: Layout) -> dict:
    return {"subject": plan.subject_id, "clip": plan.clip, "emotion": plan.emotion,
            "aus": plan.au_string, "onset": plan.onset, "apex": plan.apex, "offset": plan.offset,
            "first_frame": plan.first_frame, "last_frame": plan.last_frame,
            "peak_px": plan.peak_px, "fps": cfg.fps, "quirk": "", "layout": layout.name,
            "raw_label": layout.label(plan.emotion), "objective": plan.objective}


def _sheet_entry(plan: ClipPlan, layout: Layout) -> SheetEntry:
    return SheetEntry(subject_number=plan.subject, clip_number=plan.number, subject_id=plan.subject_id,
                      clip=plan.clip, onset=plan.onset, apex=plan.apex, offset=plan.offset,
                      aus=plan.au_string, label=layout.label(plan.emotion), objective=plan.objective)


def write_synthetic_corpus(root, cfg: SyntheticConfig, workers: int = 1) -> pd.DataFrame:
    """Generate the corpus into `root` (must not exist) atomically, in the layout cfg.layout.

    workers: processes rendering subjects in parallel (the output does not depend on it).
    Returns the truth table (columns TRUTH_COLUMNS, one row per clip in subject, clip order),
    also written to root/ground_truth/clips.parquet. `raw_label` is the sheet's label cell after
    quirks; `emotion` is the generator's CASME II-class emotion.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    root = Path(root)
    if root.exists():
        raise FileExistsError(f"synthetic corpus root {root} already exists; remove it first")
    layout = get_layout(cfg.layout)
    per_subject = [plan_subject(cfg, s) for s in range(1, cfg.subjects + 1)]
    plans = [p for ps in per_subject for p in ps]
    assignments = assign_quirks([p.emotion for p in plans], cfg.quirks)   # fails before rendering
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        jobs = [(cfg, ps, str(tmp)) for ps in per_subject]
        workers = min(workers, len(jobs))  # one subject per task: more processes would idle
        if workers > 1:
            # forkserver, not fork: a caller that has loaded MediaPipe, torch or OpenCV threads
            # cannot be forked safely (the children crash in malloc). Each worker is one thread,
            # so `workers` processes use `workers` cores (OpenCV's pool would take every core).
            with ProcessPoolExecutor(max_workers=workers, initializer=_single_threaded,
                                     mp_context=multiprocessing.get_context("forkserver")) as pool:
                list(pool.map(_render_subject, jobs))
        else:
            for job in jobs:
                _render_subject(job)
        rows = [_truth_row(p, cfg, layout) for p in plans]
        sheet = layout.build_sheet([_sheet_entry(p, layout) for p in plans])
        apply_quirks(tmp, layout, rows, sheet, assignments)
        write_sheet(sheet, tmp / layout.annotation, layout.preamble)
        truth = pd.DataFrame(rows, columns=TRUTH_COLUMNS)
        write_parquet_atomic(truth, tmp / GT_SUBDIR / "clips.parquet")
        honour_umask(tmp, directory=True)
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return truth
