"""Benchmark: Eulerian Video Magnification, fast path vs the plain reference, single thread.

Emotion Engine settings (IIR, alpha 10, r1 0.47, r2 0.1, 6 levels, lambda_c 16, chroma 0.1) on
random uint8 clips at 224x224 and 640x480, gray and RGB. Prints frames/s (median of the repeats)
of `magnify_evm` and `magnify_evm_reference`, their ratio, the ratio to the published Python EVM
(480 frames/s at 224^2, 220 frames/s at 640x480 gray, REFERENCES §5), and the fast path's peak
memory (tracemalloc); writes a JSON report.

    python benchmarks/bench_evm.py --frames 64 --repeats 5 --out benchmarks/out/evm.json

The reference keeps every pyramid of the clip, so it runs on the first --ref-frames frames only;
its cost per frame does not depend on the clip length.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # single thread, before numpy is imported

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from bench_report import environment, write_report  # noqa: E402

from mexflow.magnify.evm import EVMParams, magnify_evm, magnify_evm_reference  # noqa: E402

# published Python EVM on the same machine kind, frames/s (gray); the targets of the fast path
ANCHORS_FPS = {(224, 224, "gray"): 480.0, (480, 640, "gray"): 220.0}
CASES = [(224, 224, "gray"), (224, 224, "rgb"), (480, 640, "gray"), (480, 640, "rgb")]


def _fps(fn, clip: np.ndarray, repeats: int, warmup: int) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn(clip)
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(clip)
        seconds.append(time.perf_counter() - t0)
    return len(clip) / statistics.median(seconds), seconds


def _peak_bytes(fn, clip: np.ndarray) -> int:
    tracemalloc.start()
    try:
        fn(clip)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=64, help="frames per clip for the fast path (default 64)")
    ap.add_argument("--ref-frames", type=int, default=16,
                    help="frames of the same clip given to the reference (default 16)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per case, median reported (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/evm.json"))
    args = ap.parse_args(argv)
    if args.repeats < 5:
        ap.error("--repeats must be >= 5")
    if args.frames < 2 or not 2 <= args.ref_frames <= args.frames:
        ap.error("need --frames >= 2 and 2 <= --ref-frames <= --frames")

    cv2.setNumThreads(1)
    params = EVMParams()  # Emotion Engine defaults, IIR
    rng = np.random.default_rng(args.seed)

    def fast(c):
        return magnify_evm(c, params)

    def reference(c):
        return magnify_evm_reference(c, params)

    rows = []
    for height, width, colour in CASES:
        shape = (args.frames, height, width) + ((3,) if colour == "rgb" else ())
        clip = rng.integers(0, 256, shape, dtype=np.uint8)
        fast_fps, fast_s = _fps(fast, clip, args.repeats, args.warmup)
        ref_clip = clip[: args.ref_frames]
        ref_fps, ref_s = _fps(reference, ref_clip, args.repeats, min(args.warmup, 1))
        worst = np.abs(fast(ref_clip).astype(np.int16) - reference(ref_clip)).max()
        peak = _peak_bytes(fast, clip)
        anchor = ANCHORS_FPS.get((height, width, colour))
        rows.append({
            "case": f"{width}x{height} {colour}",
            "height": height, "width": width, "colour": colour,
            "frames": args.frames, "ref_frames": args.ref_frames,
            "fast_fps": round(fast_fps, 1),
            "fast_ms_per_frame": round(1e3 / fast_fps, 3),
            "fast_seconds": [round(s, 5) for s in fast_s],
            "reference_fps": round(ref_fps, 2),
            "reference_seconds": [round(s, 4) for s in ref_s],
            "fast_over_reference": round(fast_fps / ref_fps, 1),
            "max_abs_diff_vs_reference": int(worst),
            "anchor_fps": anchor,
            "fast_over_anchor": round(fast_fps / anchor, 2) if anchor else None,
            "meets_target": (fast_fps >= anchor) if anchor else None,
            "fast_peak_mib": round(peak / 2**20, 2),
            "output_mib": round(clip.nbytes / 2**20, 2),
            "fast_working_mib": round((peak - clip.nbytes) / 2**20, 2),
        })

    header = (f"{'case':<14}{'fast fps':>10}{'ref fps':>10}{'fast/ref':>10}{'anchor':>8}{'fast/anchor':>12}"
              f"{'target':>8}{'peak MiB':>10}{'work MiB':>10}{'max|d|':>8}")
    print(f"EVM (IIR, alpha 10, r1 0.47, r2 0.1, 6 levels, lambda_c 16, chroma 0.1), single thread, "
          f"fast on {args.frames} frames, reference on {args.ref_frames}, median of {args.repeats}")
    print(header)
    print("-" * len(header))
    for r in rows:
        anchor = f"{r['anchor_fps']:.0f}" if r["anchor_fps"] else "-"
        ratio = f"{r['fast_over_anchor']:.2f}x" if r["anchor_fps"] else "-"
        target = ("ok" if r["meets_target"] else "MISS") if r["anchor_fps"] else "-"
        print(f"{r['case']:<14}{r['fast_fps']:>10.0f}{r['reference_fps']:>10.1f}{r['fast_over_reference']:>9.1f}x"
              f"{anchor:>8}{ratio:>12}{target:>8}{r['fast_peak_mib']:>10.1f}{r['fast_working_mib']:>10.1f}"
              f"{r['max_abs_diff_vs_reference']:>8}")
    print("peak MiB: tracemalloc peak of one fast call (output included); work MiB: peak minus the output; "
          "max|d|: largest uint8 difference fast vs reference")

    report = {
        "benchmark": "evm",
        "params": {k: v for k, v in vars(params).items()},
        "threads": {"cv2": cv2.getNumThreads(), "OMP/OPENBLAS/MKL": os.environ.get("OPENBLAS_NUM_THREADS")},
        "repeats": args.repeats,
        "warmup": args.warmup,
        "rows": rows,
        "all_targets_met": all(r["meets_target"] for r in rows if r["anchor_fps"]),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **environment(),
        "opencv": cv2.__version__,
    }
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
