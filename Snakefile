# mexflow: facial micro-expression analysis, raw frames -> subject-independent reports.
# The DAG lives in rules/*.smk; input functions and config helpers in rules/common.smk.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/corpus.smk"
include: "rules/align.smk"
include: "rules/geometry.smk"
include: "rules/temporal.smk"
include: "rules/magnify.smk"
include: "rules/features.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


rule all:
    """Every report of the datasets in run_datasets (the default target)."""
    input:
        all_reports(),
    default_target: True
