"""Benchmark: Eulerian Video Magnification, fast path vs the plain reference, single thread.

Emotion Engine settings (IIR, alpha 10, r1 0.47, r2 0.1, 6 levels, lambda_c 16, chroma 0.1) on
random uint8 clips at 224x224 and 640x480, gray and RGB. Both sides run in this process:
`magnify_evm` (the fast path) and `magnify_evm_reference` (the plain float64 implementation that
the tests use as the oracle). Prints frames/s (median of the repeats) of both, their ratio, the
largest output difference, and the fast path's peak memory (tracemalloc); writes a JSON report.

py_evm (the Python EVM that MEB uses) is not part of this repository and is not run here. The
report carries its figures as cited, not measured: issue 14's author ran it side by side on this
machine kind at ~1,200-1,400 frames/s at 224x224 gray and ~210-240 at 640x480 gray (REFERENCES §5),
and the issue puts mexflow's EVM at ~7-8x py_evm's speed at 224x224. py_evm rebuilds every output
frame on frame 0 (and runs the lambda sequence from the finest level), so it does not compute the
same output.

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

# Not measured here: py_evm, run side by side with mexflow on this machine kind by issue 14's author
# (frames/s, gray, one thread; REFERENCES §5).
CITED_PY_EVM = {
    "source": "issue 14 (item 8), measured side by side on this machine kind by the issue's author; "
              "REFERENCES §5",
    "fps_224x224_gray": [1200, 1400],
    "fps_640x480_gray": [210, 240],
    "mexflow_over_py_evm_224x224_per_issue_14": "~7-8x",
    "notes": ["py_evm rebuilds every output frame on frame 0",
              "py_evm runs the lambda sequence from the finest level"],
}
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
            "fast_peak_mib": round(peak / 2**20, 2),
            "output_mib": round(clip.nbytes / 2**20, 2),
            "fast_working_mib": round((peak - clip.nbytes) / 2**20, 2),
        })

    header = (f"{'case':<14}{'fast fps':>10}{'ref fps':>10}{'fast/ref':>10}"
              f"{'peak MiB':>10}{'work MiB':>10}{'max|d|':>8}")
    print(f"EVM (IIR, alpha 10, r1 0.47, r2 0.1, 6 levels, lambda_c 16, chroma 0.1), single thread, "
          f"fast on {args.frames} frames, reference on {args.ref_frames}, median of {args.repeats}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['case']:<14}{r['fast_fps']:>10.0f}{r['reference_fps']:>10.1f}{r['fast_over_reference']:>9.1f}x"
              f"{r['fast_peak_mib']:>10.1f}{r['fast_working_mib']:>10.1f}{r['max_abs_diff_vs_reference']:>8}")
    print("peak MiB: tracemalloc peak of one fast call (output included); work MiB: peak minus the output; "
          "max|d|: largest uint8 difference fast vs reference")
    print(f"cited, not measured here ({CITED_PY_EVM['source']}): py_evm ~1,200-1,400 frames/s at 224x224 "
          f"gray, ~210-240 at 640x480 gray; it rebuilds every output frame on frame 0")

    report = {
        "benchmark": "evm",
        "params": {k: v for k, v in vars(params).items()},
        "threads": {"cv2": cv2.getNumThreads(), "OMP/OPENBLAS/MKL": os.environ.get("OPENBLAS_NUM_THREADS")},
        "repeats": args.repeats,
        "warmup": args.warmup,
        "rows": rows,
        "cited": CITED_PY_EVM,
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **environment(),
        "opencv": cv2.__version__,
    }
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
