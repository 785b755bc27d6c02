"""The motion table: motion-fidelity metrics of one magnified condition, per clip of a shard
(rows of `results/{dataset}/reports/motion.parquet`).

Much of it does not depend on the magnifier: the original clip's MMR denominator and supervisor
flows, and on a synthetic corpus its true displacement, its full-resolution flows and the gains of
a perfect magnification (per alpha). `original_motion` computes these once per shard (rule
`original_motion`, `results/{dataset}/motion_original/shard{k}.npz` + manifest); `motion_rows`
reads them instead of recomputing them for every condition, with the same numbers.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from mexflow.magnify.gain import GAIN_PARTS, gain_ratios, perfect_gains
from mexflow.magnify.metrics import (displacement_between, motion_magnification_ratio, original_motion_mean,
                                     reference_flows, supervisor_errors, supervisor_source_flows,
                                     truth_errors)
from mexflow.shards import ShardWriter, iter_clips, read_clip

MOTION_DEFAULTS = {"mmr_size": 64, "min_px": 0.1}
#: Arrays of an original-motion shard, per clip: mmr_original () float64 (`original_motion_mean`,
#: NaN for a static clip); with a supervisor supervisor_flows (T-1, 2, H, W) float32; with the
#: truth disp (T-1, H, W, 2) float32 (true displacement frame 0 -> i, crop pixels), flows
#: (T-1, H, W, 2) float32 (full-resolution Farnebäck of the original), alphas (A,) float64 and
#: perfect_gains (A, 3) float64 (`perfect_gains` per alpha over GAIN_PARTS, NaN where undefined).
ORIGINAL_ARRAYS = ("mmr_original", "supervisor_flows", "disp", "flows", "alphas", "perfect_gains")


def _by_clip(folder, manifest: pd.DataFrame, names) -> dict[str, dict]:
    return {row["clip_id"]: a for row, a in iter_clips(Path(folder), manifest, names)}


def _regions(geometry: tuple[Path, pd.DataFrame] | None) -> dict[str, tuple[np.ndarray, list[str]]]:
    regions: dict[str, tuple[np.ndarray, list[str]]] = {}
    if geometry is not None:
        gdir, gman = geometry
        for row, a in iter_clips(Path(gdir), gman, ["masks"]):
            regions[row["clip_id"]] = (a["masks"], row["regions"].split(","))
    return regions


def _clip_reference(clip_id: str, x: np.ndarray, source_frames, box, masks, supervisor, truth_root,
                    alphas: Sequence[float], p: dict) -> dict[str, np.ndarray]:
    """The condition-independent arrays of one clip (ORIGINAL_ARRAYS)."""
    out = {"mmr_original": np.float64(original_motion_mean(x, size=int(p["mmr_size"])))}
    if supervisor is not None:
        out["supervisor_flows"] = supervisor_source_flows(x, supervisor)
    if truth_root is not None and box is not None:
        from mexflow.synthetic.corpus import truth_path
        from mexflow.synthetic.ground_truth import load_clip_truth

        _, subject, clip = clip_id.split("/")
        gt = load_clip_truth(truth_path(truth_root, subject, clip))
        size = x.shape[1]
        disp = np.stack([displacement_between(gt, box, size, float(source_frames[0]), float(f))
                         for f in source_frames[1:]])
        out["disp"] = disp
        out["flows"] = reference_flows(x)
        names = masks[1] if masks is not None else None
        gains = []
        for a in alphas:
            g = perfect_gains(x, disp, float(a), masks=None if masks is None else masks[0],
                              region_names=names, min_px=float(p["min_px"]))
            gains.append([g.get(part, math.nan) for part in GAIN_PARTS])
        out["alphas"] = np.asarray([float(a) for a in alphas], np.float64).reshape(-1)
        out["perfect_gains"] = np.asarray(gains, np.float64).reshape(-1, len(GAIN_PARTS))
    return out


def original_motion(original: tuple[Path, pd.DataFrame], supervisor=None,
                    aligned: tuple[Path, pd.DataFrame] | None = None,
                    geometry: tuple[Path, pd.DataFrame] | None = None, truth_root: Path | None = None,
                    alphas: Sequence[float] = (), params: dict | None = None,
                    log: logging.Logger | None = None) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """(clip_id, arrays) for every clip of the original shard: what `motion_rows` needs of the
    original clip whatever the magnifier (ORIGINAL_ARRAYS). The truth arrays come only with
    `truth_root` (a synthetic corpus) and the aligned shard (crop boxes); the perfect
    magnification's gains for each of `alphas` (the conditions' alphas), with the face-part masks
    of the geometry shard where the clip has them. Arguments as `motion_rows`'."""
    log = log or logging.getLogger(__name__)
    p = {**MOTION_DEFAULTS, **(params or {})}
    boxes = _by_clip(*aligned, ["box"]) if aligned is not None and truth_root is not None else {}
    regions = _regions(geometry)
    for row, a in iter_clips(Path(original[0]), original[1], ["frames", "source_frames"]):
        cid = row["clip_id"]
        box = boxes[cid]["box"] if cid in boxes else None
        ref = _clip_reference(cid, a["frames"], a["source_frames"], box, regions.get(cid), supervisor,
                              truth_root if box is not None else None, alphas, p)
        log.info("original %s: %s", cid, ", ".join(sorted(ref)))
        yield cid, ref


def write_original_motion(path, references) -> pd.DataFrame:
    """Write `original_motion`'s (clip_id, arrays) as one uncompressed shard NPZ (atomically;
    flows do not compress) and return its manifest (`truth`: whether the clip has truth arrays)."""
    writer = ShardWriter(path, compressed=False)
    for cid, arrays in references:
        writer.add(cid, meta={"truth": "disp" in arrays}, **arrays)
    return writer.write()


def _reference_lookup(reference: tuple[Path, pd.DataFrame]) -> Callable[[str], dict]:
    folder, manifest = reference
    rows = {r["clip_id"]: r for _, r in manifest.iterrows()}

    def get(cid: str) -> dict:
        if cid not in rows:
            raise ValueError(f"clip {cid} is missing from the original-motion shard")
        return read_clip(folder, rows[cid])
    return get


def motion_rows(condition: str, method: str, alpha: float,
                original: tuple[Path, pd.DataFrame], magnified: tuple[Path, pd.DataFrame],
                supervisor=None, aligned: tuple[Path, pd.DataFrame] | None = None,
                geometry: tuple[Path, pd.DataFrame] | None = None, truth_root: Path | None = None,
                params: dict | None = None, log: logging.Logger | None = None,
                reference: tuple[Path, pd.DataFrame] | None = None) -> pd.DataFrame:
    """One row per clip of the shard: MMR (Farnebäck at mmr_size^2), the supervisor's motion and
    magnification errors (when a supervisor is given) and, for a synthetic corpus (`truth_root`
    with the aligned shard for the crop boxes), the magnified motion against alpha x the true
    displacement, overall and per face region (masks from the geometry shard).

    original/magnified/aligned/geometry: (folder, manifest) of the shards. Clips missing from the
    magnified shard are an error naming them.
    reference: (folder, manifest) of the shard `original_motion` wrote with the same supervisor
    and params: the original clips' condition-independent arrays are read from it, not computed
    (the truth metrics then come from its truth arrays; `aligned` and `truth_root` are not needed).
    """
    log = log or logging.getLogger(__name__)
    p = {**MOTION_DEFAULTS, **(params or {})}
    orig = _by_clip(*original, ["frames", "source_frames"])
    mag_dir, mag_manifest = magnified
    missing = sorted(set(orig) - set(mag_manifest["clip_id"]))
    if missing:
        raise ValueError(f"condition {condition}: clips {missing[:5]} are missing from the magnified shard")
    regions = _regions(geometry)
    if reference is not None:
        lookup = _reference_lookup(reference)
    else:
        boxes = _by_clip(*aligned, ["box"]) if aligned is not None and truth_root is not None else {}

        def lookup(cid: str) -> dict:
            box = boxes[cid]["box"] if cid in boxes else None
            return _clip_reference(cid, orig[cid]["frames"], orig[cid]["source_frames"], box, regions.get(cid),
                                   supervisor, truth_root if box is not None else None, [float(alpha)], p)
    rows = []
    for _, mrow in mag_manifest.iterrows():
        cid = mrow["clip_id"]
        mag = read_clip(mag_dir, mrow, ["frames"])["frames"]
        x = orig[cid]["frames"]
        ref = lookup(cid)
        row = {"clip_id": cid, "condition": condition, "method": method, "alpha": float(alpha),
               "mmr": motion_magnification_ratio(x, mag, size=int(p["mmr_size"]),
                                                 original_mean=float(ref["mmr_original"]))}
        if supervisor is not None:
            row.update(supervisor_errors(x, mag, alpha, supervisor, min_px=float(p["min_px"]),
                                         source_flows=ref.get("supervisor_flows")))
        if "disp" in ref:
            row.update(_truth_metrics(x, mag, alpha, ref, regions.get(cid), float(p["min_px"])))
        rows.append(row)
        log.info("%s %s: MMR %.2f", condition, cid, row["mmr"])
    return pd.DataFrame(rows)


def _truth_metrics(x, mag, alpha, ref: dict, masks, min_px) -> dict:
    disp = ref["disp"]
    names = masks[1] if masks is not None else None
    flows = {"original": ref["flows"], "magnified": reference_flows(mag)}  # once for both
    out = truth_errors(x, mag, alpha, disp, masks=None if masks is None else masks[0],
                       region_names=names, min_px=min_px, flows=flows)
    hit = np.flatnonzero(ref["alphas"] == float(alpha))
    # parts present as gain_ratios measures them: "moving" only without masks
    perfect = (None if not hit.size else
               {part: ref["perfect_gains"][hit[0], j] for j, part in enumerate(GAIN_PARTS)
                if masks is not None or part == "moving"})
    ratios = gain_ratios(x, mag, alpha, disp, masks=None if masks is None else masks[0],
                         region_names=names, min_px=min_px, flows=flows, perfect=perfect)
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


# Unit and meaning of every column of the motion summary (what motion.md / motion.html show).
# "×": a gain, the magnified motion as a multiple of the original's; "ratio": a dimensionless
# ratio (1 = ideal); "share": a fraction in [0, 1]; "px": pixels of the aligned clip.
MOTION_UNITS: dict[str, tuple[str, str]] = {
    "condition": ("", "magnification condition"),
    "method": ("", "magnification method"),
    "alpha": ("×", "the condition's magnification factor"),
    "clips": ("n", "clips measured"),
    "mmr": ("×", "motion magnification ratio: mean Farnebäck motion of the magnified clip over the "
                 "original's (64x64); alpha = ideal"),
    "motion_error": ("px", "mean |F_magnified - alpha F_original| measured by the flow supervisor"),
    "magnification_error": ("×", "mean | |F_magnified| / |F_original| - alpha | over the moving pixels"),
    "truth_effective_alpha": ("×", "least-squares gain of the magnified motion along the true displacement"),
    "truth_orig_effective_alpha": ("×", "the same for the original clip (about 1 when the flow "
                                        "measurement is sound)"),
    "truth_gain_ratio": ("ratio", "effective alpha over that of a perfect magnification (1 = exactly alpha)"),
    "truth_inmask_gain_ratio": ("ratio", "the same inside the face-part masks"),
    "truth_rel_error": ("ratio", "end-point error against alpha x the true displacement, over its mean size"),
    "truth_added_share_in_masks": ("share", "share of the added motion inside the face-part masks"),
    "truth_mask_area_share": ("share", "the face-part masks' share of the image (a uniform magnifier's "
                                       "added share)"),
    "truth_epe": ("px", "end-point error against alpha x the true displacement"),
}


def with_units(summary: pd.DataFrame) -> pd.DataFrame:
    """The motion summary with every column named `name (unit)` (text columns keep their name)."""
    def label(col: str) -> str:
        unit = MOTION_UNITS.get(col, ("", ""))[0]
        if not unit and col.startswith("truth_epe_"):
            unit = "px"
        elif not unit and col.startswith(("truth_effective_alpha_", "effective_alpha_")):
            unit = "×"
        return f"{col} ({unit})" if unit else col
    return summary.rename(columns={c: label(c) for c in summary.columns})


def motion_legend(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per column of the summary: its unit and meaning."""
    rows = [(c, *MOTION_UNITS[c]) for c in summary.columns if c in MOTION_UNITS]
    return pd.DataFrame(rows, columns=["column", "unit", "meaning"])
