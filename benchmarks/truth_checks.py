"""Ground-truth checks over a synthetic corpus (after `make run`): residual head jitter after
alignment and onset->apex flow error against the true displacement, per clip and overall.

    python benchmarks/truth_checks.py --dataset synthetic --out benchmarks/out/truth.json

Reads results/{dataset}/aligned/*.npz and the corpus' ground truth; prints medians and means.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from mexflow.shards import iter_clips
from mexflow.synthetic.checks import apex_flow_error, jitter_residuals
from mexflow.synthetic.corpus import truth_path
from mexflow.synthetic.ground_truth import load_clip_truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="synthetic")
    ap.add_argument("--out", default="benchmarks/out/truth.json")
    args = ap.parse_args()
    res = Path("results") / args.dataset
    rows = []
    for manifest_path in sorted((res / "aligned").glob("shard*[0-9].parquet")):
        manifest = pd.read_parquet(manifest_path)
        for row, a in iter_clips(manifest_path.parent, manifest):
            _, subject, clip = row["clip_id"].split("/")
            gt = load_clip_truth(truth_path(res / "corpus", subject, clip))
            resid, motion = jitter_residuals(gt, a["frame_numbers"], a["shifts"], a["box"],
                                             int(row["reference"]))
            epe, zero, n_moving = apex_flow_error(gt, a["frames"], a["frame_numbers"], a["box"])
            rows.append({"clip_id": row["clip_id"], "true_max_translation_px": float(motion.max()),
                         "jitter_residual_mean_px": float(resid.mean()),
                         "jitter_residual_max_px": float(resid.max()),
                         "apex_moving_px": n_moving, "apex_epe_px": epe,
                         "apex_zero_flow_error_px": zero})
    df = pd.DataFrame(rows)
    summary = {
        "clips": len(df),
        "jitter_residual_mean_px": float(df["jitter_residual_mean_px"].mean()),
        "jitter_residual_max_px": float(df["jitter_residual_max_px"].max()),
        "true_max_translation_px": float(df["true_max_translation_px"].max()),
        "apex_epe_mean_px": float(df["apex_epe_px"].mean()),
        "apex_zero_flow_error_mean_px": float(df["apex_zero_flow_error_px"].mean()),
        "apex_epe_over_zero_flow_median": float((df["apex_epe_px"] / df["apex_zero_flow_error_px"]).median()),
    }
    for k, v in summary.items():
        print(f"{k:34s} {v:.3f}" if isinstance(v, float) else f"{k:34s} {v}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
