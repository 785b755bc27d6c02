"""Benchmark: training and inference speed of the deep recognisers (mexflow.models.deep).

Per model, on random inputs of the sizes config.yaml gives it (`input_size`, `batch_size`):
cnn3d and cnn_lstm on flow_strain-like (3, 7, S, S) clips with 12 AU targets; two_stream on
apex_flow-like (5, 1, S, S) inputs. One "fold" = --train-clips training clips (5 classes, the
default corpus' LOSO training fold), --epochs epochs with Adam; then inference on the same number
of clips (eval batch 32). Reports seconds per
fold and per epoch (median of the epochs), inference clips/s (median of --repeats passes after
one warm-up pass) and parameter counts. Writes JSON (benchmarks/bench_report.write_report) and a
Markdown table next to it.

    python benchmarks/bench_models.py --epochs 10 --threads 1 --device cpu
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from bench_report import environment, write_report

from mexflow.models.deep import (channel_stats, count_parameters, predict_network,
                                 resolve_spec, train_network)
from mexflow.devices import select_device
from mexflow.models.nets import build_network
from mexflow.report.tables import markdown_table

CONFIG = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())["models"]


def _spec(name: str) -> dict:
    keep = ("kind", "input_size", "batch_size", "lr", "au_weight", "label_smoothing")
    return {k: v for k, v in CONFIG[name].items() if k in keep}


MODELS = {  # name: (spec, input shape (C, T, H, W), AU targets)
    "cnn3d": (_spec("cnn3d"), (3, 7, CONFIG["cnn3d"]["input_size"], CONFIG["cnn3d"]["input_size"]), 12),
    "cnn_lstm": (_spec("cnn_lstm"), (3, 7, CONFIG["cnn_lstm"]["input_size"], CONFIG["cnn_lstm"]["input_size"]), 12),
    "two_stream": (_spec("two_stream"), (5, 1, CONFIG["two_stream"]["input_size"], CONFIG["two_stream"]["input_size"]), 0),
}
N_CLASSES = 5


def bench_one(name, spec, shape, n_aus, n_clips, epochs, repeats, device, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_clips, *shape)).astype(np.float32)
    y = np.arange(n_clips) % N_CLASSES
    aux = rng.integers(0, 2, size=(n_clips, n_aus)).astype(np.uint8) if n_aus else None
    cfg = resolve_spec({**spec, "epochs": epochs})
    torch.manual_seed(seed)
    model = build_network(cfg, shape[0], N_CLASSES, n_aus).to(device)
    stats = channel_stats(X)
    stamps = [time.perf_counter()]
    train_network(model, X, y, aux, cfg, epochs, stats=stats, gen=torch.Generator().manual_seed(seed),
                  device=device, on_epoch=lambda e: stamps.append(time.perf_counter()))
    epoch_s = np.diff(stamps)
    predict_network(model, X, stats=stats, device=device, batch_size=cfg["eval_batch_size"])  # warm-up
    inf_s = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        predict_network(model, X, stats=stats, device=device, batch_size=cfg["eval_batch_size"])
        if device.type == "cuda":
            torch.cuda.synchronize()
        inf_s.append(time.perf_counter() - t0)
    row = {"model": name, "input": "x".join(map(str, shape)), "parameters": count_parameters(model),
           "train_clips": n_clips, "epochs": epochs, "batch_size": cfg["batch_size"],
           "fold_train_s": float(epoch_s.sum()), "epoch_s_median": float(np.median(epoch_s)),
           "first_epoch_s": float(epoch_s[0]),
           "inference_clips_per_s": n_clips / statistics.median(inf_s)}
    print(f"{name:10s} {row['input']:>10s} {row['parameters']:>9,d} params: fold {row['fold_train_s']:.1f} s "
          f"for {epochs} epochs ({row['epoch_s_median']:.2f} s/epoch), inference "
          f"{row['inference_clips_per_s']:.0f} clips/s", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--train-clips", type=int, default=90)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    ap.add_argument("--repeats", type=int, default=3, help="timed inference passes (default 3)")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/models.json"))
    args = ap.parse_args(argv)
    if min(args.epochs, args.train_clips, args.threads, args.repeats) < 1:
        ap.error("--epochs, --train-clips, --threads and --repeats must be >= 1")
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    rows = [bench_one(m, *MODELS[m], args.train_clips, args.epochs, args.repeats, device, args.seed)
            for m in args.models]
    report = {"benchmark": "deep_models", "threads": args.threads, "device": str(device),
              "torch": torch.__version__, "n_classes": N_CLASSES, "results": rows, **environment()}
    write_report(args.out, report)
    table = pd.DataFrame(rows)
    args.out.with_suffix(".md").write_text(
        f"Deep recognisers, {args.threads} thread(s), {device}, torch {torch.__version__}\n\n"
        + markdown_table(table) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
