"""The runtime table aggregates Snakemake benchmark files per rule."""
from __future__ import annotations

import pandas as pd
import pytest

from mexflow.report.runtime import read_benchmarks, summarise_runtime

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write(path, *rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join("\t".join(map(str, r)) + "\n" for r in rows))


def test_jobs_and_rules_from_the_benchmark_folders(tmp_path):
    bench = tmp_path / "results/ds/benchmarks"
    write(bench / "evaluate/original_lbptop_linear_svm_loso.tsv", (2.0, "0:00:02", 150, 500, 90, 120, 1, 0, 95, 1.9))
    write(bench / "evaluate/evm_lbptop_linear_svm_loso.tsv", (4.0, "0:00:04", 250, 600, 90, 120, 1, 0, 90, 3.5))
    write(bench / "align_shard/0.tsv", (10.0, "0:00:10", 400, 900, 300, 320, 50, 20, 99, 9.8),
          (12.0, "0:00:12", 410, 900, 300, 320, 50, 20, 99, 11.0))  # benchmark: repeat(..., 2)
    write(tmp_path / "results/benchmarks/pretrain_magnifier/generic.tsv", (60.0, "0:01:00", "NA", "NA", "NA", "NA", "NA", "NA", "NA", "NA"))
    jobs = read_benchmarks([bench, tmp_path / "results/benchmarks"])
    assert len(jobs) == 5
    assert sorted(set(jobs["rule"])) == ["align_shard", "evaluate", "pretrain_magnifier"]
    assert jobs.loc[jobs["rule"] == "pretrain_magnifier", "max_rss"].isna().all()  # "NA" -> NaN
    per_rule = summarise_runtime(jobs).set_index("rule")
    assert per_rule.loc["evaluate", "jobs"] == 2 and per_rule.loc["evaluate", "total_s"] == pytest.approx(6.0)
    assert per_rule.loc["evaluate", "median_s"] == pytest.approx(3.0)
    assert per_rule.loc["evaluate", "max_rss_mb"] == pytest.approx(250)
    assert per_rule.loc["align_shard", "cpu_s"] == pytest.approx(20.8)
    assert list(per_rule.index[:3]) == ["pretrain_magnifier", "align_shard", "evaluate"]  # by total time
    assert per_rule.loc["all", "jobs"] == 5 and per_rule.loc["all", "total_s"] == pytest.approx(88.0)
    assert per_rule.loc["all", "max_rss_mb"] == pytest.approx(410)


def test_no_benchmarks_gives_an_empty_table(tmp_path):
    jobs = read_benchmarks([tmp_path])
    assert jobs.empty and list(jobs.columns[:3]) == ["rule", "job", "file"]
    assert isinstance(summarise_runtime(jobs), pd.DataFrame)


def test_a_sample_taken_before_the_job_ran_gives_no_memory(tmp_path):
    """Snakemake can sample a very short job before its process runs (0 CPU s, 0 load, the
    launching shell's ~0.2 MB): that memory is not the job's, so it is missing, not 0.24 MB."""
    from mexflow.report.runtime import read_benchmarks

    folder = tmp_path / "benchmarks" / "merge_bank"
    folder.mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (folder / "short.tsv").write_text(header + "0.51\t0:00:00\t0.24\t0.39\t0.04\t0.06\t0.00\t0.00\t0.00\t0.00\n")
    (folder / "real.tsv").write_text(header + "2.10\t0:00:02\t150.3\t900.1\t140.2\t141.0\t1.0\t2.0\t80.0\t1.60\n")
    jobs = read_benchmarks([tmp_path / "benchmarks"]).set_index("job")
    assert jobs.loc["short", ["max_rss", "max_vms", "max_uss", "max_pss"]].isna().all()
    assert jobs.loc["short", "s"] == 0.51
    assert jobs.loc["real", "max_rss"] == 150.3 and jobs.loc["real", "cpu_time"] == 1.6
