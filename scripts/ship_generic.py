"""Ship a generic magnifier: copy a trained checkpoint to resources/magnifiers/generic.pt and write
its metadata (recipe, steps, seed, data, measured gain ratios, sha256) beside it.

    .venv/bin/python scripts/ship_generic.py results/magnifiers/generic.pt

`make pretrain` runs this after training `results/magnifiers/generic.pt` from scratch with the
recipe of config.yaml (`magnify.models.generic`). The gain ratios recorded are those of the
real-photo moving-field test (`mexflow.magnify.gain.moving_photo_clip`), measured here; the
held-out synthetic figures come from `benchmarks/magnification_ratio.py` (docs/results.md).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mexflow.magnify.gain import PHOTO_FIELDS, gain_ratios, moving_photo_clip
from mexflow.magnify.generator import load_checkpoint_meta, load_generator, magnify_clip
from mexflow.magnify.shipped import sha256_of, shipped_paths

ALPHAS = (2.0, 5.0, 10.0, 20.0)


def photo_gain_ratios(path) -> dict[str, float]:
    """Median gain ratio over the photo fields, per alpha (keys as strings)."""
    g = load_generator(path)
    clips = [moving_photo_clip(s, p) for s, p in PHOTO_FIELDS]
    return {f"{a:g}": float(np.median([gain_ratios(c, magnify_clip(g, c, a), a, d)["gain_ratio"]
                                       for c, d in clips])) for a in ALPHAS}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="a generic checkpoint trained by the workflow")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    src = Path(args.checkpoint)
    meta = load_checkpoint_meta(src)
    if meta.get("mode") != "generic":
        print(f"{src}: not a generic model (mode {meta.get('mode')!r})", file=sys.stderr)
        return 2
    dest, meta_path = shipped_paths()
    dest.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ratios = photo_gain_ratios(src)
    tmp = dest.with_suffix(".pt.tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dest)
    history = meta.pop("history", [])
    record = {
        "name": "generic",
        "sha256": sha256_of(dest),
        "bytes": dest.stat().st_size,
        "recipe": {k: v for k, v in meta.items() if k not in ("train_seconds", "device", "threads")},
        "steps": meta.get("steps"),
        "seed": meta.get("seed"),
        "data": {"textures": meta.get("textures"), "faces": meta.get("faces"),
                 "note": "scikit-image's bundled natural images and synthetic faces built from its "
                         "astronaut photo, moved by generated smooth fields; no corpus frames"},
        "train_seconds": meta.get("train_seconds"), "device": meta.get("device"),
        "threads": meta.get("threads"),
        "final_loss": history[-1] if history else None,
        "photo_gain_ratio": ratios,
        "photo_fields": [list(f) for f in PHOTO_FIELDS],
        "measured_seconds": time.perf_counter() - t0,
        "reproduce": "make pretrain",
    }
    meta_path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"shipped {dest} ({record['bytes']} bytes, sha256 {record['sha256'][:12]}...)")
    print("photo gain ratio by alpha:", {a: round(r, 3) for a, r in ratios.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
