"""Rule report: every evaluation summary -> metrics.parquet, per_class.parquet, Markdown and HTML."""
import json

import pandas as pd

from mexflow.io import write_parquet_atomic, write_text_atomic
from mexflow.report.tables import metrics_frame, per_class_frame, render_html, render_markdown
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
summaries = [json.loads(open(p).read()) for p in snakemake.input.summaries]
metrics = metrics_frame(summaries)
write_parquet_atomic(metrics, snakemake.output.metrics)
write_parquet_atomic(per_class_frame(summaries), snakemake.output.per_class)
text = render_markdown(snakemake.wildcards.dataset, metrics, summaries,
                       index=pd.read_parquet(snakemake.input.index),
                       rejected=pd.concat([pd.read_parquet(p) for p in
                                          [snakemake.input.rejected, *snakemake.input.aligned_rejected]],
                                         ignore_index=True),
                       no_landmarks=pd.concat([pd.read_parquet(p) for p in snakemake.input.geometry_rejected],
                                              ignore_index=True))
write_text_atomic(text, snakemake.output.table)
write_text_atomic(render_html(snakemake.wildcards.dataset, metrics), snakemake.output.html)
log.info("%d evaluations reported", len(metrics))
