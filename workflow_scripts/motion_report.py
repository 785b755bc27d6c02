"""Rule motion_report: every condition's motion shards -> motion.parquet and a Markdown and HTML
summary whose column headers carry their units."""
import pandas as pd

from mexflow.io import write_parquet_atomic, write_text_atomic
from mexflow.magnify.motion import motion_legend, summarise_motion, with_units
from mexflow.report.tables import html_page, markdown_table
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
table = pd.concat([pd.read_parquet(p) for p in snakemake.input], ignore_index=True)
write_parquet_atomic(table, snakemake.output.table)
summary = summarise_motion(table)
units = ("Units: × = a gain (the magnified motion as a multiple of the original's), ratio = "
         "dimensionless (1 = ideal), share = a fraction in [0, 1], px = pixels of the aligned clip.")
text = (f"# Motion fidelity: {snakemake.wildcards.dataset}\n\nMedians over clips "
        f"(`motion.parquet` has one row per condition and clip). {units}\n\n"
        + markdown_table(with_units(summary)) + "\n\n## Columns\n\n" + markdown_table(motion_legend(summary)) + "\n")
write_text_atomic(text, snakemake.output.summary)
write_text_atomic(html_page(f"Motion fidelity: {snakemake.wildcards.dataset}",
                            [("Medians over clips", with_units(summary)), ("Units", units.removeprefix("Units: ")),
                             ("Columns", motion_legend(summary))]), snakemake.output.html)
log.info("motion table: %d rows, %d conditions", len(table), table["condition"].nunique())
