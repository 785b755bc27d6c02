"""Benchmark: learned magnification on CPU (and CUDA when present) - inference frames/s,
training steps/s, flow-supervisor cost and peak memory - side by side in one run.

    python benchmarks/bench_magnify.py --out benchmarks/out/magnify.json

Cases (medians of --repeats timed runs after one warm-up; each case in its own process so its
peak resident memory is its own):
- inference: pairs (frame 0, frame i) at 224x224, batch 8, the CPU generator of config.yaml
  (width 16, depth 5) and FlowMag's full size (width 64, depth 5, 17.3 M parameters);
- LK supervisor: one 224x224 pair, and a batch of 4 at 96x96 with gradients to the image;
- training steps: generic pretraining (crop 48, batch 8, target loss) and ME fine-tuning
  (crop 96, batch 4, FlowMag losses with the LK supervisor, encoder frozen), width 16.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = ["infer_w16", "infer_w64", "lk_224", "lk_96_grad", "train_generic_w16", "train_finetune_w16"]


def _timed(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run_case(name: str, repeats: int, threads: int, device: str) -> dict:
    import numpy as np
    import torch

    from mexflow.magnify.generator import FlowMagGenerator
    from mexflow.magnify.losses import LossWeights, magnification_losses
    from mexflow.magnify.supervisors import LucasKanadeFlow

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = torch.device(device)
    rng = np.random.default_rng(0)
    img = lambda b, s: torch.from_numpy(rng.uniform(0, 1, (b, 3, s, s)).astype(np.float32)).to(dev)  # noqa: E731
    if name.startswith("infer"):
        width = int(name.split("_w")[1])
        g = FlowMagGenerator(width, 5, "residual").to(dev).eval()
        x0, x1 = img(8, 224), img(8, 224)

        def step():
            with torch.no_grad():
                g(x0, x1, 10.0)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
        sec = _timed(step, repeats)
        out = {"frames_per_s": 8 / sec, "params_M": sum(p.numel() for p in g.parameters()) / 1e6}
    elif name == "lk_224":
        sup = LucasKanadeFlow().to(dev)
        x0, x1 = img(1, 224), img(1, 224)
        sec = _timed(lambda: sup(x0, x1), repeats)
        out = {"ms_per_pair": 1000 * sec}
    elif name == "lk_96_grad":
        sup = LucasKanadeFlow().to(dev)
        x0 = img(4, 96)

        def step():
            y = img(4, 96).requires_grad_()
            sup(x0, y).abs().mean().backward()
        sec = _timed(step, repeats)
        out = {"ms_per_batch": 1000 * sec}
    else:
        g = FlowMagGenerator(16, 5, "residual").to(dev).train()
        generic = name == "train_generic_w16"
        b, s = (8, 48) if generic else (4, 96)
        if not generic:
            g.freeze_encoder()
        opt = torch.optim.Adam(g.trainable_parameters(), lr=1e-4)
        sup = LucasKanadeFlow().to(dev)
        w = LossWeights(mag=0, color=0, target=1) if generic else LossWeights(mag=1, color=10)
        x0, x1, tgt = img(b, s), img(b, s), img(b, s)
        alpha = torch.full((b,), 8.0, device=dev)

        def step():
            y = g(x0, x1, alpha)
            loss = magnification_losses(sup, x0, x1, y, alpha, w, target=tgt)["total"]
            opt.zero_grad()
            loss.backward()
            opt.step()
        sec = _timed(step, repeats)
        out = {"steps_per_s": 1 / sec, "batch": b, "crop": s}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if dev.type == "cuda":
        out["cuda_peak_MiB"] = torch.cuda.max_memory_allocated() / 2**20
    return {"case": name, "device": device, "threads": threads, "seconds": sec, "peak_rss_MiB": peak, **out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", default="benchmarks/out/magnify.json")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.repeats, args.threads, args.device)))
        return
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        for case in CASES:
            res = subprocess.run([sys.executable, __file__, "--case", case, "--device", device,
                                  "--repeats", str(args.repeats), "--threads", str(args.threads)],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            rate = {k: v for k, v in r.items() if k in ("frames_per_s", "ms_per_pair", "ms_per_batch", "steps_per_s")}
            print(f"{device:5s} {case:20s} {rate}  peak RSS {r['peak_rss_MiB']:.0f} MiB", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.machine(), "threads": args.threads, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
