"""The motion table: motion-fidelity metrics of one magnified condition, per clip of a shard
(rows of `results/{dataset}/reports/motion.parquet`)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mexflow.magnify.gain import gain_ratios
from mexflow.magnify.metrics import (displacement_between, motion_magnification_ratio, reference_flows,
                                     supervisor_errors, truth_errors)
from mexflow.shards import iter_clips, read_clip

MOTION_DEFAULTS = {"mmr_size": 64, "min_px": 0.1}


def _by_clip(folder, manifest: pd.DataFrame, names) -> dict[str, dict]:
    return {row["clip_id"]: a for row, a in iter_clips(Path(folder), manifest, names)}


def motion_rows(condition: str, method: str, alpha: float,
                original: tuple[Path, pd.DataFrame], magnified: tuple[Path, pd.DataFrame],
                supervisor=None, aligned: tuple[Path, pd.DataFrame] | None = None,
                geometry: tuple[Path, pd.DataFrame] | None = None, truth_root: Path | None = None,
                params: dict | None = None, log: logging.Logger | None = None) -> pd.DataFrame:
    """One row per clip of the shard: MMR (Farnebäck at mmr_size^2), the supervisor's motion and
    magnification errors (when a supervisor is given) and, for a synthetic corpus (`truth_root`
    with the aligned shard for the crop boxes), the magnified motion against alpha x the true
    displacement, overall and per face region (masks from the geometry shard).

    original/magnified/aligned/geometry: (folder, manifest) of the shards. Clips missing from the
    magnified shard are an error naming them.
    """
    log = log or logging.getLogger(__name__)
    p = {**MOTION_DEFAULTS, **(params or {})}
    orig = _by_clip(*original, ["frames", "source_frames"])
    mag_dir, mag_manifest = magnified
    missing = sorted(set(orig) - set(mag_manifest["clip_id"]))
    if missing:
        raise ValueError(f"condition {condition}: clips {missing[:5]} are missing from the magnified shard")
    boxes = _by_clip(*aligned, ["box"]) if aligned is not None and truth_root is not None else {}
    regions: dict[str, tuple[np.ndarray, list[str]]] = {}
    if geometry is not None:
        gdir, gman = geometry
        for row, a in iter_clips(Path(gdir), gman, ["masks"]):
            regions[row["clip_id"]] = (a["masks"], row["regions"].split(","))
    rows = []
    for _, mrow in mag_manifest.iterrows():
        cid = mrow["clip_id"]
        mag = read_clip(mag_dir, mrow, ["frames"])["frames"]
        x = orig[cid]["frames"]
        row = {"clip_id": cid, "condition": condition, "method": method, "alpha": float(alpha),
               "mmr": motion_magnification_ratio(x, mag, size=int(p["mmr_size"]))}
        if supervisor is not None:
            row.update(supervisor_errors(x, mag, alpha, supervisor, min_px=float(p["min_px"])))
        if truth_root is not None and cid in boxes:
            row.update(_truth_metrics(cid, x, mag, alpha, orig[cid]["source_frames"], boxes[cid]["box"],
                                      regions.get(cid), truth_root, float(p["min_px"])))
        rows.append(row)
        log.info("%s %s: MMR %.2f", condition, cid, row["mmr"])
    return pd.DataFrame(rows)


def _truth_metrics(clip_id, x, mag, alpha, source_frames, box, masks, truth_root, min_px) -> dict:
    from mexflow.synthetic.corpus import truth_path
    from mexflow.synthetic.ground_truth import load_clip_truth

    _, subject, clip = clip_id.split("/")
    gt = load_clip_truth(truth_path(truth_root, subject, clip))
    size = x.shape[1]
    disp = np.stack([displacement_between(gt, box, size, float(source_frames[0]), float(f))
                     for f in source_frames[1:]])
    names = masks[1] if masks is not None else None
    flows = {"original": reference_flows(x), "magnified": reference_flows(mag)}  # once for both
    out = truth_errors(x, mag, alpha, disp, masks=None if masks is None else masks[0],
                       region_names=names, min_px=min_px, flows=flows)
    ratios = gain_ratios(x, mag, alpha, disp, masks=None if masks is None else masks[0],
                         region_names=names, min_px=min_px, flows=flows)
    out.update({k: v for k, v in ratios.items() if k.endswith("gain_ratio") or k == "perfect_effective_alpha"})
    return {f"truth_{k}" if not k.startswith("truth_") else k: v for k, v in out.items()}


SUMMARY_COLUMNS = ("mmr", "motion_error", "magnification_error", "truth_effective_alpha",
                   "truth_orig_effective_alpha", "truth_gain_ratio", "truth_inmask_gain_ratio",
                   "truth_rel_error", "truth_added_share_in_masks", "truth_mask_area_share")


def summarise_motion(table: pd.DataFrame, columns=SUMMARY_COLUMNS) -> pd.DataFrame:
    """Per condition: the clip count and medians over clips of the headline metrics (those of
    `columns` present). truth_gain_ratio = effective alpha of the magnified clip / that of a
    perfectly magnified rendering (`mexflow.magnify.gain`): the measured magnification ratio
    with the flow measurement's own bias divided out (1 = exactly alpha times the true motion).
    Tables without it (older runs) fall back to the original clip's effective alpha x alpha."""
    table = table.copy()
    if "truth_gain_ratio" not in table.columns and \
            {"truth_effective_alpha", "truth_orig_effective_alpha"} <= set(table.columns):
        table["truth_gain_ratio"] = (table["truth_effective_alpha"] / table["truth_orig_effective_alpha"]
                                     / table["alpha"])
    cols = [c for c in columns if c in table.columns]
    keys = ["condition", "method", "alpha"]
    agg = table.groupby(keys, sort=False)[cols].median()
    agg.insert(0, "clips", table.groupby(keys, sort=False).size())
    return agg.reset_index()
