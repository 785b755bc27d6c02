"""Benchmark: feature-bank throughput at 224x224 and the cost of storing / loading a bank.

Throughput (one thread, medians over repeats) on frames of a synthetic clip cropped around the
face and resized to 224x224: Farnebäck (emotion_engine and samm28 presets), DIS (ultrafast, fast,
medium), TV-L1 (OpenCV defaults), optical strain, framewise LBP images, LBP-TOP in the issue's
setting (P=8, R=(3,3,3), 8x8 blocks, overlap 0.7, u2, 10x224x224; against the scikit-image
baseline of bench_lbptop.py, timed here in the same process; the two differ only on exact
interpolation ties of this smooth clip, which are counted and checked), block 3D FFT, 28x28
flow maps and the whole flow_strain feature set.

Bank: a CASME II-sized flow_strain bank (255 clips x (7, 224, 224, 3) float16 + vector) written
with mexflow.shards.ShardWriter as 8 shard NPZs and as one NPZ per clip (compressed and not):
write / read time, file count, size on disk, and the peak memory of loading all clips' "data"
with mexflow.bank.load_bank (RSS high-water mark and tracemalloc peak, each in a fresh process).

    python benchmarks/bench_features.py --out benchmarks/out/features.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from lbptop_skimage import lbp_top_skimage, tie_report  # benchmarks/: the in-repository scikit-image baseline

from mexflow.bank import load_bank, merge_manifests
from mexflow.features.fft3d import block_fft3d
from mexflow.features.flow import compute_flow, flow_sequence
from mexflow.features.flowmap import onset_apex_flow_map
from mexflow.features.lbp import lbp_top
from mexflow.features.lbp_frames import lbp_images
from mexflow.features.registry import compute_features
from mexflow.features.strain import optical_strain
from mexflow.io import save_npz_atomic, write_parquet_atomic
from mexflow.shards import ShardWriter, iter_clips
from mexflow.synthetic.corpus import SyntheticConfig, truth_path, write_synthetic_corpus
from mexflow.synthetic.ground_truth import load_clip_truth
from mexflow.synthetic.layouts import get_layout
from mexflow.temporal import uniform_indices
from mexflow.workflow_support import set_threads

SIZE = 224
LBPTOP_ISSUE = dict(P=8, radii=(3.0, 3.0, 3.0), grid=(8, 8), overlap=0.7, time_parts=1, mapping="u2")
FLOW_CASES = [("farneback", "emotion_engine"), ("farneback", "samm28"), ("dis", "ultrafast"),
              ("dis", "fast"), ("dis", "medium"), ("tvl1", "opencv")]


def _median_seconds(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def synthetic_face_clip(workdir: Path, n_frames: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(n_frames, 224, 224) uint8 gray frames sampled uniformly over onset..offset of one synthetic
    clip, cropped to the square around its face landmarks, and (2, 224, 224) onset/apex frames."""
    root = workdir / "corpus"
    truth = write_synthetic_corpus(root, SyntheticConfig(subjects=2, clips_per_subject=1), workers=1)
    row = truth.iloc[0]
    gt = load_clip_truth(truth_path(root, row["subject"], row["clip"]))
    layout = get_layout(row["layout"])
    (x0, y0), (x1, y1) = gt.landmarks.min(axis=0), gt.landmarks.max(axis=0)
    side = 1.2 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))

    def read(frame: int) -> np.ndarray:
        img = cv2.imread(str(layout.frame_path(root, row["subject"], row["clip"], frame)), cv2.IMREAD_GRAYSCALE)
        crop = img[max(top, 0):top + int(side), max(left, 0):left + int(side)]
        return cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_AREA)

    window = np.arange(gt.onset, gt.offset + 1)
    clip = np.stack([read(int(window[i])) for i in uniform_indices(len(window), n_frames)])
    return clip, np.stack([read(gt.onset), read(gt.apex)])


def throughput(clip: np.ndarray, key: np.ndarray, repeats: int) -> list[dict]:
    """One row per stage: units per second and milliseconds per unit (median of `repeats`)."""
    rows = []
    pairs = [(clip[t], clip[t + 1]) for t in range(7)]

    def add(stage, unit, n_units, seconds, **extra):
        rows.append({"stage": stage, "unit": unit, "per_s": n_units / seconds,
                     "ms_per_unit": 1e3 * seconds / n_units, **extra})

    for backend, preset in FLOW_CASES:
        reps = 1 if backend == "tvl1" else repeats
        n = 3 if backend == "tvl1" else len(pairs)
        s = _median_seconds(lambda: [compute_flow(a, b, backend, {"preset": preset}) for a, b in pairs[:n]], reps)
        add(f"flow {backend} {preset}", "pair", n, s)
    flows = flow_sequence(clip[:8])
    add("optical strain", "field", len(flows),
        _median_seconds(lambda: [optical_strain(f) for f in flows], repeats))
    add("lbp_images P8 R1 u2", "frame", 8, _median_seconds(lambda: lbp_images(clip[:8]), repeats))
    counts = (lbp_top(clip, normalise=False, **LBPTOP_ISSUE),
              lbp_top_skimage(clip, normalise=False, **LBPTOP_ISSUE))
    ties = tie_report(clip, LBPTOP_ISSUE["P"], LBPTOP_ISSUE["radii"][0])
    if not ties["all_ties"]:
        raise SystemExit(f"lbp_top and the scikit-image baseline differ beyond interpolation ties: {ties}")
    s = _median_seconds(lambda: lbp_top(clip, **LBPTOP_ISSUE), repeats, warmup=2)
    s_base = _median_seconds(lambda: lbp_top_skimage(clip, **LBPTOP_ISSUE), repeats)
    add("lbptop P8 R3 8x8 ov0.7 u2 (10 frames)", "clip", 1, s,
        skimage_baseline_ms=1e3 * s_base, speedup_vs_skimage_baseline=s_base / s,
        skimage_baseline_differing_bins=int((counts[0] != counts[1]).sum()),
        skimage_baseline_count_difference=int(np.abs(counts[0] - counts[1]).sum()),
        skimage_baseline_differing_codes=ties["codes"], skimage_baseline_tie_bits=ties["ties"])
    add("block_fft3d block 8 (8 frames)", "frame", 8, _median_seconds(lambda: block_fft3d(clip[:8]), repeats))
    add("flowmap28 (flow + map)", "clip", 1, _median_seconds(lambda: onset_apex_flow_map(key[0], key[1]), repeats))
    rgb = {"frames": np.repeat(clip[:8, ..., None], 3, -1), "key_frames": np.repeat(key[..., None], 3, -1)}
    add("registry flow_strain (8 frames)", "clip", 1,
        _median_seconds(lambda: compute_features(rgb, {"kind": "flow_strain"}), repeats))
    return rows


# --------------------------------------------------------------------------- #
# Bank storage
# --------------------------------------------------------------------------- #
def bank_clips(clip: np.ndarray, n_clips: int, seed: int = 0):
    """Yield (clip_id, data (7, 224, 224, 3) float16, vector (756,) float32): the real flow_strain
    of `clip` scaled by a random factor per clip (realistic content for compression)."""
    rgb = np.repeat(clip[:8, ..., None], 3, -1)
    base = compute_features({"frames": rgb}, {"kind": "flow_strain"})
    data32, vec = base["data"].astype(np.float32), base["vector"]
    rng = np.random.default_rng(seed)
    for i in range(n_clips):
        k = np.float32(rng.uniform(0.5, 1.5))
        yield f"s{i // 10:02d}/clip{i:03d}", (data32 * k).astype(np.float16), vec * k


def write_sharded(folder: Path, clips: list, n_shards: int, compressed: bool) -> Path:
    """Bank as `n_shards` ShardWriter NPZs + merged manifest; returns the manifest path."""
    manifests, paths = [], []
    for s in range(n_shards):
        path = folder / f"shard{s}.npz"
        writer = ShardWriter(path, compressed=compressed)
        for clip_id, data, vector in clips[s::n_shards]:
            writer.add(clip_id, data=data, vector=vector)
        manifests.append(writer.write())
        paths.append(str(path))
    manifest = merge_manifests(manifests, paths, "original", "flow_strain", {"kind": "flow_strain"})
    write_parquet_atomic(manifest, folder / "manifest.parquet")
    return folder / "manifest.parquet"


def write_per_clip(folder: Path, clips: list, compressed: bool) -> None:
    for i, (_, data, vector) in enumerate(clips):
        save_npz_atomic(folder / f"clip{i:05d}.npz", compressed=compressed, data=data, vector=vector)


def _into(out: np.ndarray | None, n: int, i: int, data: np.ndarray) -> np.ndarray:
    if out is None:
        out = np.empty((n, *data.shape), data.dtype)
    out[i] = data
    return out


def read_per_clip(folder: Path) -> np.ndarray:
    """Every clip's "data" of a one-NPZ-per-clip bank into one preallocated array."""
    files = sorted(folder.glob("clip*.npz"))
    out = None
    for i, f in enumerate(files):
        with np.load(f) as z:
            out = _into(out, len(files), i, z["data"])
    return out


def read_sharded(manifest: Path) -> np.ndarray:
    """Every clip's "data" of a sharded bank (mexflow.shards.iter_clips) into one preallocated
    array, in manifest order."""
    table = pd.read_parquet(manifest)
    out = None
    for i, (_, arrays) in enumerate(iter_clips(manifest.parent, table, ["data"])):
        out = _into(out, len(table), i, arrays["data"])
    return out


def _timed_and_traced(fn) -> tuple[float, float, np.ndarray]:
    """(seconds, tracemalloc peak MiB of a second run, result)."""
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    del result
    tracemalloc.start()
    result = fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, result


def _status_kb(field: str) -> int:
    """A /proc/self/status memory field (VmRSS, VmHWM) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def load_child(manifest: str, trace: bool) -> None:
    """Fresh-process measurement of mexflow.bank.load_bank(manifest, all clips, "data"): time and
    either the RSS high-water mark above the RSS before loading (the mark is reset first, so import
    peaks do not count) or the tracemalloc peak."""
    clip_ids = pd.read_parquet(manifest)["clip_id"].tolist()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_kb("VmRSS")
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    data, missing = load_bank(manifest, clip_ids, "data")
    seconds = time.perf_counter() - t0
    result = {"seconds": seconds, "shape": list(data.shape), "dtype": str(data.dtype),
              "array_mb": data.nbytes / 2**20, "missing": len(missing)}
    if trace:
        result["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    else:
        result["rss_peak_increase_mb"] = (_status_kb("VmHWM") - before) / 1024
    print(json.dumps(result))


def _run_child(manifest: Path, trace: bool) -> dict:
    cmd = [sys.executable, __file__, "--load-child", str(manifest)] + (["--trace"] if trace else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def _folder_mb(folder: Path) -> tuple[int, float]:
    files = [p for p in folder.iterdir() if p.suffix == ".npz"]
    return len(files), sum(p.stat().st_size for p in files) / 2**20


def bank_storage(clip: np.ndarray, n_clips: int, n_shards: int, workdir: Path) -> list[dict]:
    """Write / read the bank in both layouts, compressed and stored NPZ. read_s and
    read_peak_mb: all clips' "data" into one preallocated array (same reader for both layouts);
    load_bank_*: mexflow.bank.load_bank in a fresh process (sharded layout only)."""
    clips = list(bank_clips(clip, n_clips))
    rows = []
    for compressed in (True, False):
        tag = "compressed" if compressed else "stored"
        shard_dir, clip_dir = workdir / f"bank_shards_{tag}", workdir / f"bank_clips_{tag}"
        t0 = time.perf_counter()
        manifest = write_sharded(shard_dir, clips, n_shards, compressed)
        write_s = time.perf_counter() - t0
        read_s, peak, data = _timed_and_traced(lambda: read_sharded(manifest))
        n_files, mb = _folder_mb(shard_dir)
        rss, traced = _run_child(manifest, trace=False), _run_child(manifest, trace=True)
        rows.append({"layout": f"NPZ per shard ({n_shards})", "npz": tag, "files": n_files + 1,
                     "disk_mb": mb, "write_s": write_s, "read_s": read_s, "array_mb": data.nbytes / 2**20,
                     "read_peak_mb": peak, "load_bank_s": rss["seconds"],
                     "load_bank_rss_peak_mb": rss["rss_peak_increase_mb"],
                     "load_bank_tracemalloc_peak_mb": traced["tracemalloc_peak_mb"]})
        shutil.rmtree(shard_dir)
        t0 = time.perf_counter()
        write_per_clip(clip_dir, clips, compressed)
        write_s = time.perf_counter() - t0
        read_s, peak, data = _timed_and_traced(lambda: read_per_clip(clip_dir))
        n_files, mb = _folder_mb(clip_dir)
        rows.append({"layout": "NPZ per clip", "npz": tag, "files": n_files, "disk_mb": mb,
                     "write_s": write_s, "read_s": read_s, "array_mb": data.nbytes / 2**20,
                     "read_peak_mb": peak})
        del data
        shutil.rmtree(clip_dir)
    return rows


def _print_table(rows: list[dict], columns: list[str]) -> None:
    def fmt(v):
        return f"{v:.2f}" if isinstance(v, float) else ("" if v is None else str(v))

    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per stage (median; TV-L1 once)")
    ap.add_argument("--bank-clips", type=int, default=255, help="clips in the bank (CASME II: 255)")
    ap.add_argument("--shards", type=int, default=8, help="shards of the bank (configs/casme2_*.yaml: 8)")
    ap.add_argument("--skip-bank", action="store_true", help="throughput only")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/features.json"))
    ap.add_argument("--load-child", help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    set_threads(1)
    if args.load_child:
        load_child(args.load_child, args.trace)
        return 0
    if args.repeats < 1 or args.bank_clips < args.shards or args.shards < 1:
        ap.error("need --repeats >= 1 and --bank-clips >= --shards >= 1")

    with tempfile.TemporaryDirectory(prefix="mexflow_bench_features_", dir="/tmp") as tmp:
        workdir = Path(tmp)
        clip, key = synthetic_face_clip(workdir)
        rows = throughput(clip, key, args.repeats)
        print(f"Throughput at {SIZE}x{SIZE}, 1 thread (median of {args.repeats}):")
        _print_table(rows, ["stage", "unit", "per_s", "ms_per_unit", "skimage_baseline_ms",
                            "speedup_vs_skimage_baseline"])
        lbptop_row = next(r for r in rows if "skimage_baseline_ms" in r)
        print(f"LBP-TOP vs the scikit-image baseline on this clip: "
              f"{lbptop_row['skimage_baseline_differing_bins']} of 11328 histogram bins differ (counts off by "
              f"{lbptop_row['skimage_baseline_count_difference']} in all), from "
              f"{lbptop_row['skimage_baseline_differing_codes']} codes whose "
              f"{lbptop_row['skimage_baseline_tie_bits']} differing bits are all exact interpolation ties")
        bank = [] if args.skip_bank else bank_storage(clip, args.bank_clips, args.shards, workdir)
        if bank:
            print(f"\nflow_strain bank, {args.bank_clips} clips x (7, {SIZE}, {SIZE}, 3) float16 (+ vector):")
            _print_table(bank, ["layout", "npz", "files", "disk_mb", "write_s", "read_s", "array_mb",
                                "read_peak_mb", "load_bank_s", "load_bank_rss_peak_mb",
                                "load_bank_tracemalloc_peak_mb"])
    report = {"benchmark": "features", "size": SIZE, "threads": 1, "repeats": args.repeats,
              "throughput": rows, "bank": bank, "bank_clips": args.bank_clips, "shards": args.shards,
              "numpy": np.__version__, "opencv": cv2.__version__, "python": platform.python_version(),
              "machine": platform.machine(), "cpu_count": os.cpu_count()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
