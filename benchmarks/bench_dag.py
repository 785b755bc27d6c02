"""Benchmark: DAG build + dry run of the full experiment matrix at CAS(ME)^3 size.

Writes a config that is config.yaml with its synthetic corpus scaled to --subjects x
--clips-per-subject clips (default 110 x 10 = 1,100, about CAS(ME)^3 part A) and --shards shards
per stage, then times `snakemake -n` in an empty working directory (nothing generated yet: every
job of the matrix is planned) --repeats times. Reports the median seconds and the job count per
rule. The target (issue 7) is under 20 s on a 2-core machine.

    python benchmarks/bench_dag.py --subjects 110 --clips-per-subject 10 --shards 16
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from bench_report import environment, write_report

from mexflow.workflow_support import planned_job_counts

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def scaled_config(subjects: int, clips: int, shards: int) -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    ds = cfg["datasets"]["synthetic"]
    ds["shards"] = shards
    ds["synthetic"].update(subjects=subjects, clips_per_subject=clips)
    return cfg


def dry_run(config: Path, workdir: Path) -> tuple[float, dict[str, int]]:
    t0 = time.perf_counter()
    res = subprocess.run([SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--configfile", str(config),
                          "--directory", str(workdir), "-n", "-q", "rules"],
                         capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-3000:])
    jobs = planned_job_counts(res.stdout + res.stderr)
    return seconds, {**jobs, "total": sum(jobs.values())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=110)
    ap.add_argument("--clips-per-subject", type=int, default=10)
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit-s", type=float, default=20.0)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/out/dag.json")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "scaled.yaml"
        config.write_text(yaml.safe_dump(scaled_config(args.subjects, args.clips_per_subject, args.shards)))
        runs = [dry_run(config, Path(tmp) / "work") for _ in range(args.repeats)]
    seconds = [s for s, _ in runs]
    jobs = runs[0][1]
    report = {"benchmark": "dag_dry_run", "clips": args.subjects * args.clips_per_subject,
              "subjects": args.subjects, "shards": args.shards, "seconds": seconds,
              "median_s": statistics.median(seconds), "jobs": jobs, "limit_s": args.limit_s,
              **environment()}
    write_report(args.out, report)
    print(f"{report['clips']} clips, {args.shards} shards: {jobs.get('total')} jobs, dry run "
          f"median {report['median_s']:.1f} s (runs {', '.join(f'{s:.1f}' for s in seconds)})")
    return 0 if report["median_s"] < args.limit_s else 1


if __name__ == "__main__":
    sys.exit(main())
