"""Plan and write the synthetic corpus in the CASME II on-disk layout.

Layout written under `root` (the same a real CASME II copy has, so the real adapter reads it):

    root/CASME2-coding-synthetic.xlsx           coding sheet with CASME II's column names
    root/CASME2_RAW_selected/sub{NN}/{clip}/img{N}.jpg   640x480 RGB JPEG frames, 200 fps
    root/ground_truth/sub{NN}/{clip}.npz        per-clip ground truth (see ground_truth.py)
    root/ground_truth/clips.parquet             one row per clip: labels, AUs, timing, amplitude

Everything is a deterministic function of the config (seed included): each subject and each clip
draws from its own RNG seeded by (seed, subject[, clip]), so parallel generation gives the same
bytes as serial generation.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from mexflow.io import write_parquet_atomic
from mexflow.resources import load_resource
from mexflow.synthetic.action_units import AUCode, expression_field
from mexflow.synthetic.faces import CANVAS_HW, render_scene, sample_identity
from mexflow.synthetic.ground_truth import ClipTruth, save_clip_truth
from mexflow.synthetic.render import render_frame

CODING_FILE = "CASME2-coding-synthetic.xlsx"
FRAMES_SUBDIR = "CASME2_RAW_selected"
GT_SUBDIR = "ground_truth"
CASME2_COLUMNS = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "",
                  "Action Units", "Estimated Emotion"]
QUIRKS = ("apex_slash", "missing_frame", "unknown_label", "onset_after_offset", "missing_clip_dir")


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of a synthetic corpus (the `synthetic:` block of a dataset in config.yaml)."""

    seed: int = 2
    subjects: int = 8
    clips_per_subject: int = 5
    fps: float = 200.0
    emotion_sampling: str = "balanced"   # balanced | weighted
    emotion_weights: dict = field(default_factory=lambda: {
        "happiness": 32, "surprise": 25, "disgust": 63, "repression": 27, "others": 99})
    peak_px: tuple[float, float] = (0.35, 1.3)   # apex displacement before subject intensity
    rise_frames: tuple[int, int] = (8, 20)
    fall_frames: tuple[int, int] = (10, 28)
    pad_frames: tuple[int, int] = (2, 8)
    max_translation_px: float = 3.0
    max_rotation_deg: float = 0.3
    jpeg_quality: int = 95
    quirks: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: dict) -> "SyntheticConfig":
        d = dict(d or {})
        for key in ("peak_px", "rise_frames", "fall_frames", "pad_frames", "quirks"):
            if key in d:
                d[key] = tuple(d[key])
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown synthetic corpus options: {sorted(unknown)}")
        cfg = cls(**d)
        if not 0 <= cfg.max_translation_px <= 10:
            raise ValueError("max_translation_px must be in [0, 10] (the renderer's head margin)")
        bad = set(cfg.quirks) - set(QUIRKS)
        if bad:
            raise ValueError(f"unknown synthetic quirks {sorted(bad)}; known: {QUIRKS}")
        return cfg


@dataclass(frozen=True)
class ClipPlan:
    subject: int
    clip: str
    emotion: str
    codes: tuple[AUCode, ...]
    weights: tuple[float, ...]
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
    if cfg.emotion_sampling == "weighted":
        w = np.array([cfg.emotion_weights.get(n, 0.0) for n in names], float)
        return [str(e) for e in rng.choice(names, size=cfg.clips_per_subject, p=w / w.sum())]
    raise ValueError(f"emotion_sampling must be 'balanced' or 'weighted', got {cfg.emotion_sampling!r}")


def plan_subject(cfg: SyntheticConfig, subject: int) -> list[ClipPlan]:
    """The clips of one subject: emotion, AUs, amplitude and timing (frame numbers)."""
    srng = np.random.default_rng([cfg.seed, subject])
    identity = sample_identity(np.random.default_rng([cfg.seed, subject, 0]), subject)
    emotions = _choose_emotions(srng, cfg)
    protos = load_resource("synthetic_emotions.yaml")
    plans = []
    for k, emotion in enumerate(emotions, start=1):
        crng = np.random.default_rng([cfg.seed, subject, k])
        spec = protos[emotion]
        p = np.array([x["p"] for x in spec["prototypes"]], float)
        aus = spec["prototypes"][crng.choice(len(p), p=p / p.sum())]["aus"]
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
        plans.append(ClipPlan(subject, f"EP{k:02d}_{subject:02d}", emotion, codes, weights, peak,
                              first, onset, onset + rise, onset + rise + fall,
                              onset + rise + fall + post, (cfg.seed, subject, k)))
    return plans


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


def sample_jitter(rng: np.random.Generator, n: int, max_t: float, max_r: float) -> np.ndarray:
    """Head pose per frame, (n, 3) float32: tx, ty (px, random walk plus slow sway, a few px) and
    theta (degrees, small random walk). Values are clipped to +-max_t and +-max_r."""
    t = rng.uniform(-0.5, 0.5, 2) * max_t + np.cumsum(rng.normal(0, 0.12, (n, 2)), axis=0)
    phase = rng.uniform(0, 2 * np.pi, 2)
    sway = rng.uniform(0, 0.8, 2)
    i = np.arange(n)[:, None]
    t = t + sway * np.sin(2 * np.pi * i / max(n, 1) + phase)
    theta = rng.uniform(-0.1, 0.1) + np.cumsum(rng.normal(0, 0.01, n))
    return np.column_stack([np.clip(t, -max_t, max_t), np.clip(theta, -max_r, max_r)]).astype(np.float32)


def _render_subject(args) -> list[dict]:
    cfg, subject, root = args
    root = Path(root)
    identity = sample_identity(np.random.default_rng([cfg.seed, subject, 0]), subject)
    scene = render_scene(identity)
    rows = []
    for plan in plan_subject(cfg, subject):
        rng = np.random.default_rng(list(plan.seed) + [1])
        frames = np.arange(plan.first_frame, plan.last_frame + 1)
        amp = temporal_profile(frames, plan.onset, plan.apex, plan.offset)
        fieldd = expression_field(list(plan.codes), list(plan.weights), scene.landmarks, scene.iod,
                                  CANVAS_HW, plan.peak_px)
        jitter = sample_jitter(rng, len(frames), cfg.max_translation_px, cfg.max_rotation_deg)
        drift = rng.uniform(-0.03, 0.03)
        gain = (1 + drift * np.linspace(0, 1, len(frames))
                + 0.005 * np.sin(np.linspace(0, 2 * np.pi, len(frames)) + rng.uniform(0, 6))).astype(np.float32)
        centre = tuple(float(v) for v in scene.landmarks[[33, 133, 362, 263, 1]].mean(0))
        clip_dir = root / FRAMES_SUBDIR / f"sub{subject:02d}" / plan.clip
        clip_dir.mkdir(parents=True, exist_ok=True)
        for i, fno in enumerate(frames):
            img = render_frame(scene, fieldd, float(amp[i]), jitter[i], centre, float(gain[i]),
                               identity.noise_sigma, rng)
            ok = cv2.imwrite(str(clip_dir / f"img{fno}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                             [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
            if not ok:
                raise OSError(f"could not write frame {clip_dir / f'img{fno}.jpg'}")
        truth = ClipTruth(frames=frames, amplitude=amp, apex_field=fieldd, jitter=jitter,
                          jitter_centre=np.asarray(centre), gain=gain, landmarks=scene.landmarks,
                          iod=scene.iod, aus=plan.au_string, emotion=plan.emotion,
                          onset=plan.onset, apex=plan.apex, offset=plan.offset,
                          peak_px=plan.peak_px, fps=cfg.fps, noise_sigma=identity.noise_sigma)
        save_clip_truth(root / GT_SUBDIR / f"sub{subject:02d}" / f"{plan.clip}.npz", truth)
        rows.append({"subject": f"sub{subject:02d}", "clip": plan.clip, "emotion": plan.emotion,
                     "aus": plan.au_string, "onset": plan.onset, "apex": plan.apex,
                     "offset": plan.offset, "first_frame": plan.first_frame,
                     "last_frame": plan.last_frame, "peak_px": plan.peak_px, "fps": cfg.fps,
                     "quirk": ""})
    return rows


def _coding_sheet(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame({
        "Subject": [int(r["subject"][3:]) for r in rows],
        "Filename": [r["clip"] for r in rows],
        "OnsetFrame": [r["onset"] for r in rows],
        "ApexFrame": [r["apex"] for r in rows],
        "OffsetFrame": [r["offset"] for r in rows],
        "": ["" for _ in rows],
        "Action Units": [r["aus"] for r in rows],
        "Estimated Emotion": [r["emotion"] for r in rows],
    }, columns=CASME2_COLUMNS)


def _apply_quirks(root: Path, rows: list[dict], sheet: pd.DataFrame, quirks) -> None:
    """Inject annotation/disk defects of real corpora, one clip each, recorded in `quirk`."""
    for i, quirk in enumerate(quirks):
        if i >= len(rows):
            raise ValueError(f"too few clips ({len(rows)}) to inject {len(quirks)} quirks")
        r = rows[i]
        r["quirk"] = quirk
        if quirk == "apex_slash":
            sheet.loc[i, "ApexFrame"] = "/"
        elif quirk == "missing_frame":
            (root / FRAMES_SUBDIR / r["subject"] / r["clip"] / f"img{r['apex']}.jpg").unlink()
        elif quirk == "unknown_label":
            sheet.loc[i, "Estimated Emotion"] = "bewilderment"
        elif quirk == "onset_after_offset":
            sheet.loc[i, "OnsetFrame"], sheet.loc[i, "OffsetFrame"] = r["offset"], r["onset"]
        elif quirk == "missing_clip_dir":
            shutil.rmtree(root / FRAMES_SUBDIR / r["subject"] / r["clip"])
    sheet["ApexFrame"] = sheet["ApexFrame"].astype(object)


def write_casme2_corpus(root, cfg: SyntheticConfig, workers: int = 1) -> pd.DataFrame:
    """Generate the corpus into `root` (must not exist) atomically; returns the truth table."""
    root = Path(root)
    if root.exists():
        raise FileExistsError(f"synthetic corpus root {root} already exists; remove it first")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        jobs = [(cfg, s, str(tmp)) for s in range(1, cfg.subjects + 1)]
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                per_subject = list(pool.map(_render_subject, jobs))
        else:
            per_subject = [_render_subject(j) for j in jobs]
        rows = [r for rs in per_subject for r in rs]
        sheet = _coding_sheet(rows)
        _apply_quirks(tmp, rows, sheet, cfg.quirks)
        sheet.to_excel(tmp / CODING_FILE, index=False, sheet_name="Sheet1")
        truth = pd.DataFrame(rows)
        write_parquet_atomic(truth, tmp / GT_SUBDIR / "clips.parquet")
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return truth
