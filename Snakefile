# mexflow: facial micro-expression analysis, raw frames -> subject-independent reports.
# The DAG lives in rules/*.smk; input functions and config helpers in rules/common.smk.
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


# config.yaml holds the defaults; --configfile overlays compose with them by mexflow's rules
# (src/mexflow/config_compose.py), not by Snakemake's recursive merge, so an overlay that narrows
# datasets, banks, models or conditions does not inherit the default experiment blocks' names.
import sys

import yaml

from mexflow.config_compose import compose

with open(Path(workflow.basedir) / "config.yaml") as _fh:
    _composed, _notes = compose(yaml.safe_load(_fh), config)
config.clear()
config.update(_composed)
if workflow.is_main_process:
    for _note in _notes:
        print(f"mexflow config: {_note}", file=sys.stderr)


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
