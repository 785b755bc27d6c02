"""Benchmark: per-stage throughput on the synthetic corpus, one thread per stage (as the rules run).

Measures frames per second for JPEG decoding alone, alignment (decode + MTCNN on the reference
frame, amortised + template matching + crop), synthetic rendering, Farnebäck flow + strain and
LBP-TOP at the default crop size, and reports the alignment / decode time ratio (target <= 2).

    python benchmarks/bench_stages.py --clips 12 --out benchmarks/out/stages.json

Uses results/synthetic/corpus when it exists (after `make run`), else generates a small corpus
in a temporary folder. Medians over clips; run on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from mexflow.align.clip import AlignParams, align_frames, detect_face, read_frame_bgr
from mexflow.align.pipeline import make_detector
from mexflow.datasets.index import build_index, clip_folder
from mexflow.features.flow import FARNEBACK_PRESETS, flow_strain_sequence, to_gray
from mexflow.features.lbp import lbp_top
from mexflow.synthetic.action_units import AUCode, expression_field
from mexflow.synthetic.corpus import SyntheticConfig, write_synthetic_corpus
from mexflow.synthetic.faces import render_scene, sample_identity
from mexflow.synthetic.render import render_frame
from mexflow.temporal import sample_uniform, window_frames
from mexflow.workflow_support import set_threads


def _median_rate(items: list[tuple[int, float]]) -> float:
    """Median over clips of (units / seconds)."""
    return statistics.median(n / s for n, s in items)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--corpus", default="results/synthetic/corpus")
    ap.add_argument("--out", default="benchmarks/out/stages.json")
    args = ap.parse_args()
    set_threads(1)
    root = Path(args.corpus)
    tmp = None
    if not (root / "CASME2_RAW_selected").is_dir():
        tmp = tempfile.TemporaryDirectory()
        root = Path(tmp.name) / "corpus"
        write_synthetic_corpus(root, SyntheticConfig(subjects=3, clips_per_subject=4), workers=1)
    index, _ = build_index("bench", {"format": "synthetic", "root": str(root)})
    rows = index.head(args.clips)
    params = AlignParams()
    detector = make_detector("mtcnn", params)

    decode, align, detect, flow, lbp = [], [], [], [], []
    for _, r in rows.iterrows():
        folder = clip_folder(root, r["frame_dir"])
        frames = window_frames(r["frames"], r["onset"], r["apex"], r["offset"])
        paths = [folder / r["frame_pattern"].format(n) for n in frames]
        t0 = time.perf_counter()
        for p in paths:
            cv2.imread(str(p), cv2.IMREAD_COLOR)  # decoding alone, nothing else
        decode.append((len(paths), time.perf_counter() - t0))
        t0 = time.perf_counter()
        a = align_frames(lambda n: read_frame_bgr(folder / r["frame_pattern"].format(n)), frames,
                         r["onset"], detector, params)
        align.append((len(paths), time.perf_counter() - t0))
        ref_rgb = cv2.cvtColor(read_frame_bgr(folder / r["frame_pattern"].format(r["onset"])), cv2.COLOR_BGR2RGB)
        t0 = time.perf_counter()
        detect_face(detector, ref_rgb, params.detect_downscale)
        detect.append(time.perf_counter() - t0)
        clip, _ = sample_uniform(a.frames, 8)
        gray = to_gray(clip)
        t0 = time.perf_counter()
        flow_strain_sequence(gray, FARNEBACK_PRESETS["emotion_engine"])
        flow.append((gray.shape[0] - 1, time.perf_counter() - t0))
        t0 = time.perf_counter()
        lbp_top(gray, P=8, radii=(1, 1, 1), grid=(5, 5))
        lbp.append((gray.shape[0], time.perf_counter() - t0))

    scene = render_scene(sample_identity(np.random.default_rng(0), 1))
    fieldd = expression_field([AUCode(12)], [1.0], scene.landmarks, scene.iod, scene.alpha.shape, 1.0)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    n_render = 40
    for i in range(n_render):
        img = render_frame(scene, fieldd, i / n_render, np.array([0.5, -0.3, 0.05], np.float32),
                           tuple(scene.landmarks[1]), 1.0, 2.0, rng)
        cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    render = n_render / (time.perf_counter() - t0)

    result = {
        "machine": platform.processor() or platform.machine(), "threads": 1,
        "clips": len(rows), "crop_size": params.crop_size,
        "decode_fps_640x480": _median_rate(decode),
        "align_fps_640x480": _median_rate(align),
        "align_over_decode_time": statistics.median(
            (s_a / n_a) / (s_d / n_d) for (n_a, s_a), (n_d, s_d) in zip(align, decode)),
        "frames_per_clip_median": statistics.median(n for n, _ in align),
        "detection_ms_per_clip_median": 1000 * statistics.median(detect),
        "align_over_decode_time_excluding_detection": statistics.median(
            ((s_a - s_det) / n_a) / (s_d / n_d)
            for (n_a, s_a), s_det, (n_d, s_d) in zip(align, detect, decode)),
        "render_fps_640x480_with_jpeg": render,
        "flow_strain_pairs_per_s_224": _median_rate(flow),
        "lbptop_frames_per_s_224_R1_5x5": _median_rate(lbp),
    }
    for k, v in result.items():
        print(f"{k:36s} {v:.2f}" if isinstance(v, float) else f"{k:36s} {v}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
