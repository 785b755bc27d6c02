"""Rule report_figures: UF1/UAR bars with bootstrap intervals and confusion matrices."""
import json

from mexflow.report.figures import confusion_grid, recognition_bars
from mexflow.report.tables import metrics_frame
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
summaries = [json.loads(open(p).read()) for p in snakemake.input.summaries]
recognition_bars(metrics_frame(summaries), snakemake.output.bars)
confusion_grid(summaries, snakemake.output.confusion)
log.info("figures of %d evaluations", len(summaries))
