"""The runtime and memory table: every job's Snakemake `benchmark:` file, per job and per rule.

Benchmark files are laid out `{benchmarks}/{rule}/{job}.tsv` (one folder per rule, the job named
by its wildcards), each a one-row TSV as Snakemake writes it: `s` wall seconds, `max_rss` MB
(resident set, the job and its children), `max_vms`, `max_uss`, `max_pss` MB, `io_in`, `io_out`
MB, `mean_load` % CPU, `cpu_time` seconds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

__all__ = ["read_benchmarks", "summarise_runtime"]

_NUMERIC = ("s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out", "mean_load", "cpu_time")


def read_benchmarks(folders: Iterable[Path]) -> pd.DataFrame:
    """One row per benchmark file under each folder: `rule`, `job`, `file` and the numeric
    columns above (NaN where Snakemake wrote "NA", e.g. a job too short to sample). Repeated
    measurements (`benchmark: repeat(...)`) give one row each. Sorted by rule, job."""
    rows = []
    for folder in folders:
        folder = Path(folder)
        for tsv in sorted(folder.glob("*/**/*.tsv")):
            table = pd.read_csv(tsv, sep="\t", na_values=["NA", "-"])
            rel = tsv.relative_to(folder)
            for _, r in table.iterrows():
                rows.append({"rule": rel.parts[0], "job": str(Path(*rel.parts[1:]).with_suffix("")),
                             "file": str(tsv), **{c: pd.to_numeric(r.get(c), errors="coerce") for c in _NUMERIC}})
    df = pd.DataFrame(rows, columns=["rule", "job", "file", *_NUMERIC]).astype({c: float for c in _NUMERIC})
    # A job shorter than Snakemake's first sample can be sampled before its process ran: zero CPU
    # and load, and the memory of the launching shell (0.24 MB RSS seen for a 0.5 s job). That is
    # no measurement of the job, so its memory is missing, as when Snakemake writes "NA".
    unsampled = (df["cpu_time"] == 0) & (df["mean_load"] == 0)
    df.loc[unsampled, ["max_rss", "max_vms", "max_uss", "max_pss"]] = float("nan")
    return df.sort_values(["rule", "job"]).reset_index(drop=True)


def summarise_runtime(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per rule: `jobs`, `total_s`, `median_s`, `max_s` (wall), `cpu_s` (summed CPU time),
    `max_rss_mb` (largest resident set of any of its jobs); rules by total wall time, largest
    first, and a final `all` row with the totals."""
    g = jobs.groupby("rule")
    out = pd.DataFrame({"jobs": g.size(), "total_s": g["s"].sum(), "median_s": g["s"].median(),
                        "max_s": g["s"].max(), "cpu_s": g["cpu_time"].sum(),
                        "max_rss_mb": g["max_rss"].max()}).reset_index()
    out = out.sort_values(["total_s", "rule"], ascending=[False, True]).reset_index(drop=True)
    total = pd.DataFrame([{"rule": "all", "jobs": int(out["jobs"].sum()), "total_s": out["total_s"].sum(),
                           "median_s": jobs["s"].median(), "max_s": jobs["s"].max(),
                           "cpu_s": out["cpu_s"].sum(), "max_rss_mb": jobs["max_rss"].max()}])
    return pd.concat([out, total], ignore_index=True)
