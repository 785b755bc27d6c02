"""Benchmark: LBP-TOP on 10x224x224 uint8 clips, mexflow against a scikit-image baseline.

Configuration: P=8, radii (3, 3, 3), 8x8 blocks with overlap 0.7 (mexflow's layout), one time
slab, u2 mapping (11,328-dim output).  Both sides run in this process on the same random clips,
alternating clip by clip: mexflow's `lbp_top` and `lbptop_skimage.lbp_top_skimage`
(scikit-image's `local_binary_pattern` on every XY, XT and YT plane, the same u2 table, block
layout and normalisation).  Every timed clip's two vectors are compared; where they differ,
every differing LBP bit must be an exact interpolation tie (`lbptop_skimage.tie_report`) or the
benchmark fails.  Prints medians of wall and CPU (thread) time per clip and the ratio, and writes a
JSON report.

Figures about MEB's LBPTOP are not measured here (its code is not part of this repository);
the report carries them as cited, from issue 14's side-by-side measurement, under "cited".

    python benchmarks/bench_lbptop.py --repeats 30 --size 224 --out benchmarks/out/lbptop.json
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # single thread, before numpy is imported

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import skimage  # noqa: E402
from bench_report import environment, write_report  # noqa: E402
from lbptop_skimage import lbp_top_skimage, tie_report  # noqa: E402

from mexflow.features.lbp import lbp_top  # noqa: E402

CONFIG = dict(P=8, radii=(3.0, 3.0, 3.0), grid=(8, 8), overlap=0.7, time_parts=1, mapping="u2")

# Not measured by this benchmark: issue 14's author ran MEB's LBPTOP and mexflow side by side on
# this machine kind (CPU seconds per 10x224x224 clip, one thread, P=8, R=3, 8x8 blocks, MEB's
# "overlap 0.7", u2); also in shared REFERENCES §5.
CITED_MEB = {
    "source": "issue 14 (item 8), measured side by side on this machine kind by the issue's author; "
              "REFERENCES §5",
    "unit": "CPU seconds per 10x224x224 clip, one thread",
    "meb_lbptop_published_pure_python_s": 13.0,
    "meb_lbptop_numba_compiled_port_s": 0.11,
    "mexflow_lbp_top_s": 0.016,
    "mexflow_over_published": "~850x",
    "mexflow_over_numba_port": "~7x",
    "notes": [
        "MEB's published LBPTOP is pure Python: its numba decorator is commented out",
        "MEB's 'overlap 0.7' is a different block layout: 43-px blocks every 25 px at 224 px "
        "(mexflow: 72-px blocks every 21.7 px), and its bookkeeping leaves the centres of "
        "mixed-overlap blocks out, so the two 11,328-d vectors are different features",
        "MEB rounds neighbour positions instead of interpolating, uses only the first 10 frames "
        "and returns raw counts",
    ],
}


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


def _timed(fn, clip):
    w0, c0 = time.perf_counter(), time.thread_time()
    out = fn(clip, **CONFIG)
    return out, (time.perf_counter() - w0) * 1e3, (time.thread_time() - c0) * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30, help="timed clips per side (default 30)")
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
        lbp_top_skimage(clips[i % len(clips)], **CONFIG)

    times = {"mexflow": ([], []), "skimage": ([], [])}
    n_features = None
    differing_clips: set[int] = set()
    for i in range(args.repeats):
        clip = clips[i % len(clips)]
        ours, wall, cpu = _timed(lbp_top, clip)
        times["mexflow"][0].append(wall)
        times["mexflow"][1].append(cpu)
        base, wall, cpu = _timed(lbp_top_skimage, clip)
        times["skimage"][0].append(wall)
        times["skimage"][1].append(cpu)
        if not np.array_equal(ours, base):
            differing_clips.add(i % len(clips))
        n_features = int(ours.size)
    ties = {k: tie_report(clips[k], CONFIG["P"], CONFIG["radii"][0]) for k in sorted(differing_clips)}
    if not all(t["all_ties"] for t in ties.values()):
        raise SystemExit(f"mexflow and the scikit-image baseline differ beyond interpolation ties: {ties}")

    med = {side: (statistics.median(w), statistics.median(c)) for side, (w, c) in times.items()}
    ratio_wall = med["skimage"][0] / med["mexflow"][0]
    ratio_cpu = med["skimage"][1] / med["mexflow"][1]
    size = "x".join(map(str, args.size))
    print(f"LBP-TOP {size} uint8, P=8 R=(3,3,3) 8x8 overlap 0.7 u2, {n_features} features, "
          f"median of {args.repeats} clips per side, one process:")
    same = len(clips) - len(differing_clips)
    print(f"  identical vectors on {same} of {len(clips)} distinct clips" +
          "".join(f"; clip {k}: {t['codes']} codes differ, all {t['bits']} differing bits exact "
                  f"interpolation ties" for k, t in ties.items()))
    for side, label in (("mexflow", "mexflow lbp_top"), ("skimage", "scikit-image per plane")):
        wall, cpu = times[side]
        print(f"  {label:<24} wall {med[side][0]:8.2f} ms/clip (min {min(wall):.2f}, max {max(wall):.2f}); "
              f"CPU {med[side][1]:8.2f} ms/clip")
    print(f"  mexflow / scikit-image baseline: {ratio_wall:.1f}x (wall), {ratio_cpu:.1f}x (CPU)")
    print(f"  cited, not measured here ({CITED_MEB['source']}): MEB LBPTOP as published "
          f"~{CITED_MEB['meb_lbptop_published_pure_python_s']:.0f} s/clip, numba-compiled port "
          f"~{CITED_MEB['meb_lbptop_numba_compiled_port_s']} s/clip, mexflow "
          f"~{CITED_MEB['mexflow_lbp_top_s']} s/clip in that run")

    report = {
        "benchmark": "lbp_top",
        "size": list(args.size),
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in CONFIG.items()},
        "repeats": args.repeats,
        "warmup": args.warmup,
        "n_features": n_features,
        "distinct_clips": len(clips),
        "identical_vectors": len(differing_clips) == 0,
        "tie_reports": {str(k): t for k, t in ties.items()},
        "baseline": "benchmarks/lbptop_skimage.py: skimage.feature.local_binary_pattern per XY/XT/YT "
                    "plane, u2 table, same blocks and normalisation",
        "skimage": skimage.__version__,
        "median_ms": round(med["mexflow"][0], 3),
        "median_cpu_ms": round(med["mexflow"][1], 3),
        "min_ms": round(min(times["mexflow"][0]), 3),
        "max_ms": round(max(times["mexflow"][0]), 3),
        "baseline_median_ms": round(med["skimage"][0], 3),
        "baseline_median_cpu_ms": round(med["skimage"][1], 3),
        "speedup_vs_baseline_wall": round(ratio_wall, 2),
        "speedup_vs_baseline_cpu": round(ratio_cpu, 2),
        "cited": CITED_MEB,
        **environment(),
    }
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
