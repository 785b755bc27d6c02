"""Magnification ratio of every magnifier against ground truth, on held-out synthetic clips.

    python benchmarks/magnification_ratio.py --out benchmarks/out/magnification_ratio.json

Generates a fresh synthetic corpus (a seed and identities no training run saw), aligns it like
the workflow (MTCNN + template matching, 224 px, onset..offset), normalises each clip to 8
frames, finds the face-region masks with FaceMesh, then magnifies with EVM and with the learned
checkpoints that `make run` trained (results/magnifiers, results/{dataset}/magnifiers) at
alpha in {2, 5, 10, 20} (DeMagPlus at 1/2 and 1/4). For each clip the magnified motion
(Farnebäck, frame 0 -> i) is projected on the true displacement (`truth_errors`):
gain ratio = effective alpha of the magnified clip / that of the original / alpha
(1 = exactly alpha times the true motion; the original's own measurement bias divided out).
Also reported: the share of the added motion inside the face-part masks against the masks'
share of the image (what a spatially uniform magnifier would give). Medians over clips.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mexflow.align.mtcnn import MTCNN
from mexflow.geometry.masks import region_masks
from mexflow.landmarks import FaceMeshRunner, clip_landmarks
from mexflow.magnify.evm import EVMParams, magnify_evm
from mexflow.magnify.generator import load_generator, magnify_clip
from mexflow.magnify.metrics import displacement_between, truth_errors
from mexflow.report.tables import markdown_table
from mexflow.synthetic.checks import aligned_truth_clips
from mexflow.synthetic.corpus import SyntheticConfig, write_synthetic_corpus
from mexflow.temporal import normalise_clip

ALPHAS = (2.0, 5.0, 10.0, 20.0)
DEMAG_ALPHAS = (0.5, 0.25)


def held_out_clips(root: Path, subjects: int, clips: int, seed: int, frames: int):
    """[(clip name, truth, aligned window (N,224,224,3), normalised (T,...), source frame numbers,
    fps, masks, region names)] of a freshly generated corpus."""
    truth = write_synthetic_corpus(root, SyntheticConfig(seed=seed, subjects=subjects,
                                                         clips_per_subject=clips), workers=2)
    out = []
    with FaceMeshRunner(static_image_mode=True) as runner:
        for (_, r), (gt, aligned) in zip(truth.iterrows(), aligned_truth_clips(root, truth, MTCNN())):
            numbers = aligned.frame_numbers
            clip, positions = normalise_clip(aligned.frames, frames, "uniform")
            source = np.interp(positions, np.arange(len(numbers)), numbers.astype(float))
            geo = clip_landmarks(aligned.frames, 0, runner=runner)
            names, masks = region_masks(geo["reference_landmarks"], aligned.frames.shape[1:3])
            name = f"{r['subject']}/{r['clip']}"
            out.append((name, gt, aligned, clip, source, gt.fps, masks, names))
    return out


def measure(method: str, alpha: float, clips, magnify) -> list[dict]:
    rows = []
    for name, gt, aligned, clip, source, fps, masks, names in clips:
        mag = magnify(aligned, clip, fps)
        disp = np.stack([displacement_between(gt, aligned.box, clip.shape[1], source[0], f)
                         for f in source[1:]])
        m = truth_errors(clip, mag, alpha, disp, masks=masks, region_names=names)
        rows.append({"method": method, "alpha": alpha, "clip": name,
                     "gain_ratio": m["effective_alpha"] / m["orig_effective_alpha"] / alpha,
                     "effective_alpha": m["effective_alpha"] / m["orig_effective_alpha"],
                     "orig_effective_alpha": m["orig_effective_alpha"],
                     "added_share_in_masks": m.get("added_share_in_masks", np.nan),
                     "mask_area_share": m.get("mask_area_share", np.nan)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="synthetic", help="whose fine-tuned magnifiers to measure")
    ap.add_argument("--results", default="results")
    ap.add_argument("--subjects", type=int, default=3)
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/out/magnification_ratio.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    res = Path(args.results)
    learned = {"flowmag": res / "magnifiers" / "generic.pt"}
    for name in ("magplus", "faceaware_l2", "faceaware_l5"):
        learned[name] = res / args.dataset / "magnifiers" / f"{name}.pt"
    demag = res / args.dataset / "magnifiers" / "demagplus.pt"
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        clips = held_out_clips(Path(tmp) / "corpus", args.subjects, args.clips, args.seed, args.frames)
    print(f"{len(clips)} held-out clips ready in {time.perf_counter() - t0:.0f} s")
    rows = []
    for alpha in ALPHAS:
        params = EVMParams(alpha=alpha)
        rows += measure("evm", alpha, clips,
                        lambda al, c, fps, p=params: normalise_clip(magnify_evm(al.frames, p, fps), len(c), "uniform")[0])
        for name, path in learned.items():
            if not path.exists():
                print(f"skipping {name}: {path} not found (run `make run` first)")
                continue
            g = load_generator(path)
            rows += measure(name, alpha, clips, lambda al, c, fps, g=g, a=alpha: magnify_clip(g, c, a))
    if demag.exists():
        g = load_generator(demag)
        for alpha in DEMAG_ALPHAS:
            rows += measure("demagplus", alpha, clips, lambda al, c, fps, a=alpha: magnify_clip(g, c, a))
    df = pd.DataFrame(rows)
    table = df.groupby(["method", "alpha"], sort=False)[
        ["gain_ratio", "effective_alpha", "added_share_in_masks", "mask_area_share"]].median().reset_index()
    table.insert(2, "clips", df.groupby(["method", "alpha"], sort=False).size().to_numpy())
    print(markdown_table(table))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"table": table.to_dict(orient="records"),
                               "orig_effective_alpha_median": float(df["orig_effective_alpha"].median()),
                               "clips": len(clips), "seed": args.seed}, indent=1))
    out.with_suffix(".md").write_text(markdown_table(table) + "\n")


if __name__ == "__main__":
    main()
