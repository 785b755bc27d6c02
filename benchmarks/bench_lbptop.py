"""Benchmark: LBP-TOP on 10x224x224 uint8 clips.

Configuration: P=8, radii (3, 3, 3), 8x8 blocks with overlap 0.7, one time
slab, u2 mapping (11,328-dim output).  Prints the median milliseconds per clip
and the speed-up over the published numba implementation (0.66 s per clip),
and writes a small JSON report.

    python benchmarks/bench_lbptop.py --repeats 30 --size 224 --out benchmarks/out/lbptop.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from bench_report import environment, write_report

from mexflow.features.lbp import lbp_top

PUBLISHED_S = 0.66  # published numba implementation, seconds per clip
CONFIG = dict(P=8, radii=(3.0, 3.0, 3.0), grid=(8, 8), overlap=0.7, time_parts=1, mapping="u2")


def _parse_size(text: str) -> tuple[int, int, int]:
    """``N`` (10 frames of N x N) or ``TxHxW``."""
    try:
        dims = tuple(int(v) for v in text.lower().replace(",", "x").split("x"))
    except ValueError:
        dims = ()
    if len(dims) == 1:
        dims = (10, dims[0], dims[0])
    if len(dims) != 3 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"bad --size {text!r}; expected N or TxHxW, e.g. 224")
    return dims  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30, help="timed clips (default 30)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed clips first (default 3)")
    ap.add_argument(
        "--size",
        type=_parse_size,
        default=(10, 224, 224),
        help="frame size N (10 frames of NxN) or TxHxW (default 10x224x224)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/lbptop.json"))
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")

    rng = np.random.default_rng(args.seed)
    clips = [rng.integers(0, 256, args.size, dtype=np.uint8) for _ in range(min(args.repeats, 8))]
    for i in range(args.warmup):
        lbp_top(clips[i % len(clips)], **CONFIG)

    times_ms = []
    n_features = None
    for i in range(args.repeats):
        clip = clips[i % len(clips)]
        t0 = time.perf_counter()
        feat = lbp_top(clip, **CONFIG)
        times_ms.append((time.perf_counter() - t0) * 1e3)
        n_features = int(feat.size)

    median_ms = statistics.median(times_ms)
    speedup = PUBLISHED_S * 1e3 / median_ms
    print(
        f"lbp_top {'x'.join(map(str, args.size))} uint8, P=8 R=(3,3,3) 8x8 overlap 0.7 u2: "
        f"median {median_ms:.2f} ms/clip over {args.repeats} clips "
        f"(min {min(times_ms):.2f}, max {max(times_ms):.2f}); "
        f"{speedup:.1f}x faster than the published {PUBLISHED_S:.2f} s/clip; {n_features} features"
    )

    report = {
        "benchmark": "lbp_top",
        "size": list(args.size),
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in CONFIG.items()},
        "repeats": args.repeats,
        "warmup": args.warmup,
        "n_features": n_features,
        "median_ms": round(median_ms, 3),
        "min_ms": round(min(times_ms), 3),
        "max_ms": round(max(times_ms), 3),
        "published_ms": PUBLISHED_S * 1e3,
        "published_size": [10, 224, 224],
        "speedup_vs_published": round(speedup, 2),
        "target_ms": PUBLISHED_S * 1e3 / 10,
        "meets_target": median_ms <= PUBLISHED_S * 1e3 / 10,
        **environment(),
    }
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
