"""Rule runtime_report: every job's benchmark TSV -> runtime.parquet (per job) and a per-rule table."""
from pathlib import Path

from mexflow.io import write_parquet_atomic, write_text_atomic
from mexflow.report.runtime import read_benchmarks, summarise_runtime
from mexflow.report.tables import html_page, markdown_table
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
jobs = read_benchmarks([Path(f) for f in snakemake.params.folders if Path(f).is_dir()])
per_rule = summarise_runtime(jobs)
write_parquet_atomic(jobs, snakemake.output.jobs)
title = f"Runtime and memory: {snakemake.wildcards.dataset}"
note = ("Per rule, from each job's Snakemake benchmark file: wall seconds (total, median, max), "
        "CPU seconds, peak resident memory (MB) of any one job.")
write_text_atomic(f"# {title}\n\n{note}\n\n{markdown_table(per_rule)}\n", snakemake.output.table)
write_text_atomic(html_page(title, [("Per rule", per_rule), ("About", note)]), snakemake.output.html)
log.info("%d jobs of %d rules", len(jobs), jobs["rule"].nunique())
