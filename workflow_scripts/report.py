"""Rule report: every evaluation summary -> metrics.parquet, per_class.parquet, Markdown and HTML
(data accounting, the metrics table, confusion matrices, the configuration used)."""
import json

import pandas as pd

from mexflow.io import write_parquet_atomic, write_text_atomic
from mexflow.report.tables import metrics_frame, per_class_frame, render_html, render_markdown
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
i, p = snakemake.input, snakemake.params


def concat(paths):
    frames = [pd.read_parquet(f) for f in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["clip_id", "reason"])


summaries = [json.loads(open(f).read()) for f in i.summaries]
metrics = metrics_frame(summaries)
write_parquet_atomic(metrics, snakemake.output.metrics)
write_parquet_atomic(per_class_frame(summaries), snakemake.output.per_class)
data = {"index": pd.read_parquet(i.index), "rejected": pd.read_parquet(i.rejected),
        "aligned_rejected": concat(i.aligned_rejected), "no_landmarks": concat(i.geometry_rejected),
        "config": p.config, "target": p.target}
write_text_atomic(render_markdown(snakemake.wildcards.dataset, metrics, summaries, **data),
                  snakemake.output.table)
write_text_atomic(render_html(snakemake.wildcards.dataset, metrics, summaries, **data), snakemake.output.html)
singles = metrics["single_predicted_class"].notna().sum()
log.info("%d evaluations reported (%d single-class predictors)", len(metrics), singles)
