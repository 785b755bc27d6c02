"""Gain ratio of every magnifier against known motion (docs/results.md, "Magnification against the ground truth").

    python benchmarks/magnification_ratio.py --out benchmarks/out/magnification_ratio.json

Two tests, both with the motion known:
- held-out synthetic clips: a freshly generated corpus (a seed and identities no training run
  saw), aligned like the workflow (MTCNN + template matching, 224 px, onset..offset), normalised
  to 8 frames, face-part masks from FaceMesh; the true displacement comes from the ground truth;
- a real face photograph moved by known smooth sub-pixel fields (`moving_photo_clip`).

gain ratio = gain of the magnified clip along the true displacement / the same for a perfectly
magnified rendering (`mexflow.magnify.gain`); 1 = exactly alpha times the true motion. Also the
in-mask gain ratio, the share of the added motion inside the face-part masks against the masks'
share of the image, and MagPlus's MMR. Medians over clips.

Magnifiers: EVM (the config's Emotion Engine band and the `me` preset, when available), the
Lagrangian reference (when available), the generic model (`--generic`, default the shipped
checkpoint), test-time adaptation of it, the fine-tuned models of a run (results/{dataset}/
magnifiers: MagPlus, face-aware lambda 2 / 5, DeMagPlus), and targeted magnification (the generic
model with alpha inside the face-part masks, 1 outside).
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mexflow.magnify.gain import PHOTO_FIELDS, gain_ratios, moving_photo_clip
from mexflow.magnify.generator import load_checkpoint_meta, load_generator, magnify_clip
from mexflow.magnify.metrics import motion_magnification_ratio, part_union
from mexflow.report.tables import markdown_table

ALPHAS = (2.0, 5.0, 10.0, 20.0)
DEMAG_ALPHAS = (0.5, 0.25, 0.125)


def held_out_clips(root: Path, subjects: int, clips: int, seed: int, frames: int):
    """[{name, clip (T,224,224,3), disp (T-1,224,224,2), masks, names, window, fps}] of a freshly
    generated, aligned and normalised synthetic corpus."""
    from mexflow.align.mtcnn import MTCNN
    from mexflow.geometry.masks import region_masks
    from mexflow.landmarks import FaceMeshRunner, clip_landmarks
    from mexflow.magnify.metrics import displacement_between
    from mexflow.synthetic.checks import aligned_truth_clips
    from mexflow.synthetic.corpus import SyntheticConfig, write_synthetic_corpus
    from mexflow.temporal import normalise_clip

    truth = write_synthetic_corpus(root, SyntheticConfig(seed=seed, subjects=subjects,
                                                         clips_per_subject=clips), workers=2)
    out = []
    from mexflow.magnify.evm_band import me_band
    band = me_band(truth)
    with FaceMeshRunner(static_image_mode=True) as runner:
        for (_, r), (gt, aligned) in zip(truth.iterrows(), aligned_truth_clips(root, truth, MTCNN())):
            numbers = aligned.frame_numbers
            clip, positions = normalise_clip(aligned.frames, frames, "uniform")
            source = np.interp(positions, np.arange(len(numbers)), numbers.astype(float))
            geo = clip_landmarks(aligned.frames, 0, runner=runner)
            names, masks = region_masks(geo["reference_landmarks"], aligned.frames.shape[1:3])
            disp = np.stack([displacement_between(gt, aligned.box, clip.shape[1], source[0], f)
                             for f in source[1:]])
            out.append({"name": f"{r['subject']}/{r['clip']}", "clip": clip, "disp": disp,
                        "masks": masks, "names": list(names), "window": aligned.frames,
                        "fps": float(gt.fps), "frames": frames, "me_band": band})
    return out


def photo_clips():
    return [{"name": f"photo/seed{s}_{p:g}px", "clip": c, "disp": d}
            for s, p in PHOTO_FIELDS for c, d in [moving_photo_clip(s, p)]]


def measure(method: str, alpha: float, items, magnify, test: str) -> list[dict]:
    rows = []
    for it in items:
        mag = magnify(it, alpha)
        r = gain_ratios(it["clip"], mag, alpha, it["disp"], it.get("masks"), it.get("names"))
        r.update(method=method, alpha=alpha, test=test, clip=it["name"],
                 mmr=motion_magnification_ratio(it["clip"], mag))
        rows.append(r)
    return rows


def learned(g, mask_key=None):
    def run(it, alpha):
        mask = None
        if mask_key:
            mask = part_union(it["masks"], it["names"])
        return magnify_clip(g, it["clip"], alpha, alpha_mask=mask)
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="synthetic", help="whose fine-tuned magnifiers to measure")
    ap.add_argument("--results", default="results")
    ap.add_argument("--generic", default=None, help="generic checkpoint (default: the shipped one)")
    ap.add_argument("--subjects", type=int, default=3)
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tta-steps", type=int, default=10)
    ap.add_argument("--only", nargs="*", help="measure only these methods")
    ap.add_argument("--out", default="benchmarks/out/magnification_ratio.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    res = Path(args.results)
    if args.generic is None:
        from mexflow.magnify.shipped import shipped_generic_path
        args.generic = shipped_generic_path()
    want = (lambda m: not args.only or m in args.only)

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        syn = held_out_clips(Path(tmp) / "corpus", args.subjects, args.clips, args.seed, args.frames)
    photos = photo_clips()
    print(f"{len(syn)} held-out clips and {len(photos)} photo clips ready in {time.perf_counter() - t0:.0f} s")

    methods: dict[str, tuple] = {}  # name -> (magnify(it, alpha), alphas, tests)
    both = ("synthetic", "photo")
    from mexflow.magnify.conditions import lagrangian_magnify
    from mexflow.magnify.evm import EVMParams, magnify_evm
    from mexflow.magnify.evm_band import me_params
    from mexflow.temporal import normalise_clip

    def evm(preset):
        """EVM on the aligned window at the corpus fps (Emotion Engine settings), then normalised
        like the workflow; preset "me": the band derived from the corpus (`me_band`)."""
        def run(it, alpha):
            params = EVMParams(alpha=alpha)
            if preset == "me":
                params = me_params(params, it["me_band"], it["fps"])
            out = magnify_evm(it["window"], params, fps=it["fps"])
            return normalise_clip(out, it["frames"], "uniform")[0]
        return run
    methods["evm"] = (evm(None), ALPHAS, ("synthetic",))
    methods["evm_me"] = (evm("me"), ALPHAS, ("synthetic",))
    methods["lagrangian"] = (lambda it, a: lagrangian_magnify(it["clip"], a), ALPHAS, both)

    generic = load_generator(args.generic)
    methods["flowmag"] = (learned(generic), ALPHAS, both)
    methods["flowmag_targeted"] = (learned(generic, "parts"), ALPHAS, ("synthetic",))

    from mexflow.magnify.train import TrainSpec, adapt_to_clip
    tta_spec = TrainSpec.from_dict({"steps": args.tta_steps, "batch_size": 4, "lr": 1e-4, "crop": 64,
                                    "objective": "generated", "bn_batches": 10, "log_every": 10 ** 9})
    adapted: dict[str, object] = {}

    def tta(it, alpha):
        if it["name"] not in adapted:
            adapted[it["name"]] = adapt_to_clip(generic, it["clip"], tta_spec, None)
        return magnify_clip(adapted[it["name"]], it["clip"], alpha)
    methods["flowmag_tta"] = (tta, ALPHAS, both)

    for name in ("magplus", "faceaware_l2", "faceaware_l5"):
        path = res / args.dataset / "magnifiers" / f"{name}.pt"
        if path.exists():
            methods[name] = (learned(load_generator(path)), ALPHAS, both)
        else:
            print(f"skipping {name}: {path} not found (run `make run` first)")
    demag = res / args.dataset / "magnifiers" / "demagplus.pt"
    if demag.exists():
        methods["demagplus"] = (learned(load_generator(demag)), DEMAG_ALPHAS, both)

    rows = []
    for name, (fn, alphas, tests) in methods.items():
        if not want(name):
            continue
        t1 = time.perf_counter()
        for alpha in alphas:
            if "synthetic" in tests:
                rows += measure(name, alpha, syn, fn, "synthetic")
            if "photo" in tests:
                rows += measure(name, alpha, photos, fn, "photo")
        print(f"{name}: {time.perf_counter() - t1:.0f} s")
    df = pd.DataFrame(rows)
    cols = ["gain_ratio", "inmask_gain_ratio", "added_share_in_masks", "mask_area_share", "mmr"]
    table = (df.groupby(["method", "alpha", "test"], sort=False)[cols].median().reset_index()
             .pivot_table(index=["method", "alpha"], columns="test", values=cols, sort=False))
    table.columns = [f"{c}_{t}" for c, t in table.columns]
    table = table.dropna(axis=1, how="all").reset_index()
    table["alpha"] = table["alpha"].map(lambda a: f"1/{round(1 / a)}" if a < 1 else f"{a:g}")
    print(markdown_table(table))
    meta = load_checkpoint_meta(args.generic)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"table": json.loads(table.to_json(orient="records")),
                               "rows": json.loads(df.to_json(orient="records")),
                               "generic": str(args.generic), "generic_steps": meta.get("steps"),
                               "clips": len(syn), "photos": len(photos), "seed": args.seed,
                               "seconds": time.perf_counter() - t0}, indent=1))
    out.with_suffix(".md").write_text(markdown_table(table) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
