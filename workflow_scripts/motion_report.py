"""Rule motion_report: every condition's motion shards -> motion.parquet and a Markdown summary."""
import pandas as pd

from mexflow.io import write_parquet_atomic, write_text_atomic
from mexflow.magnify.motion import summarise_motion
from mexflow.report.tables import html_page, markdown_table
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
table = pd.concat([pd.read_parquet(p) for p in snakemake.input], ignore_index=True)
write_parquet_atomic(table, snakemake.output.table)
summary = summarise_motion(table)
text = (f"# Motion fidelity: {snakemake.wildcards.dataset}\n\nMedians over clips "
        f"(`motion.parquet` has one row per condition and clip).\n\n"
        + markdown_table(summary) + "\n")
write_text_atomic(text, snakemake.output.summary)
write_text_atomic(html_page(f"Motion fidelity: {snakemake.wildcards.dataset}",
                            [("Medians over clips", summary)]), snakemake.output.html)
log.info("motion table: %d rows, %d conditions", len(table), table["condition"].nunique())
