"""Benchmark: the four alignment options (MTCNN | MediaPipe detector x translation | similarity
transform) against the synthetic ground truth.

    python benchmarks/bench_alignment.py --subjects 6 --clips 4 --out benchmarks/out/alignment.json

Generates two corpora in a temporary folder from the same seed: "still" (the generator's own
head jitter: a few px of translation, < 0.1 deg of rotation within a clip) and "sway" (the same
plus a +-2 deg roll over each clip, SyntheticConfig.rotation_sway_deg). Every clip is aligned onset..offset against its
onset; for every other frame the residual rigid motion of the face's 478 landmarks is measured
(mexflow.synthetic.checks.alignment_residuals, reference-frame pixels; x crop_size / box side
for crop pixels). Prints mean and p95 residual (px) and milliseconds per frame (decoding,
detection on the reference frame and tracking, one thread), per corpus.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from mexflow.align.clip import AlignParams, align_frames, read_frame_bgr
from mexflow.align.pipeline import make_detector
from mexflow.synthetic.checks import alignment_residuals
from mexflow.synthetic.corpus import SyntheticConfig, truth_path, write_synthetic_corpus
from mexflow.synthetic.ground_truth import load_clip_truth
from mexflow.synthetic.layouts import get_layout
from mexflow.workflow_support import set_threads

SWAY_DEG = 2.0


def evaluate(root: Path, truth, detector, transform: str) -> dict:
    """Residuals (px) of every non-reference frame and time per frame over all clips."""
    layout = get_layout("casme2")
    params = AlignParams(transform=transform)
    residuals, seconds, frames_done, fallbacks = [], 0.0, 0, 0
    for _, r in truth.iterrows():
        gt = load_clip_truth(truth_path(root, r["subject"], r["clip"]))
        frames = list(range(gt.onset, gt.offset + 1))

        def read(n, s=r["subject"], c=r["clip"]):
            return read_frame_bgr(layout.frame_path(root, s, c, n))

        t0 = time.perf_counter()
        a = align_frames(read, frames, gt.onset, detector, params)
        seconds += time.perf_counter() - t0
        frames_done += len(frames)
        fallbacks += a.fallbacks
        residuals.append(alignment_residuals(gt, a.frame_numbers, a.transforms, gt.onset)[1:])
    res = np.concatenate(residuals)
    return {"mean_px": float(res.mean()), "p95_px": float(np.percentile(res, 95)),
            "max_px": float(res.max()), "ms_per_frame": 1e3 * seconds / frames_done,
            "frames": frames_done, "fallbacks": fallbacks}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=6)
    ap.add_argument("--clips", type=int, default=4, help="clips per subject")
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--out", default="benchmarks/out/alignment.json")
    args = ap.parse_args()
    set_threads(1)
    cfg = {"still": SyntheticConfig(seed=args.seed, subjects=args.subjects, clips_per_subject=args.clips,
                                    max_rotation_deg=SWAY_DEG),
           "sway": SyntheticConfig(seed=args.seed, subjects=args.subjects, clips_per_subject=args.clips,
                                   max_rotation_deg=SWAY_DEG, rotation_sway_deg=SWAY_DEG)}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        corpora = {}
        for name, c in cfg.items():
            root = Path(tmp) / name
            corpora[name] = (root, write_synthetic_corpus(root, c, workers=2))
        for det_name in ("mtcnn", "mediapipe"):
            detector = make_detector(det_name, AlignParams())
            for transform in ("translation", "similarity"):
                for name, (root, truth) in corpora.items():
                    evaluate(root, truth.head(1), detector, transform)  # warm-up (first-call costs)
                    results[f"{det_name}/{transform}/{name}"] = evaluate(root, truth, detector, transform)
    n_frames = {name: results[f"mtcnn/translation/{name}"]["frames"] for name in cfg}
    print(f"{args.subjects} subjects x {args.clips} clips; residual rigid motion of the face "
          f"landmarks, reference-frame px; frames per corpus: {n_frames}")
    print(f"{'detector':10s} {'transform':12s} | {'still: mean':>11s} {'p95':>6s} {'ms/fr':>6s} | "
          f"{'sway: mean':>10s} {'p95':>6s} {'ms/fr':>6s} | fallbacks")
    for det_name in ("mtcnn", "mediapipe"):
        for transform in ("translation", "similarity"):
            s, w = (results[f"{det_name}/{transform}/{name}"] for name in ("still", "sway"))
            print(f"{det_name:10s} {transform:12s} | {s['mean_px']:11.3f} {s['p95_px']:6.3f} "
                  f"{s['ms_per_frame']:6.2f} | {w['mean_px']:10.3f} {w['p95_px']:6.3f} "
                  f"{w['ms_per_frame']:6.2f} | {s['fallbacks']} / {w['fallbacks']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    summary = {"subjects": args.subjects, "clips_per_subject": args.clips, "seed": args.seed,
               "sway_deg": SWAY_DEG, "results": results}
    Path(args.out).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
