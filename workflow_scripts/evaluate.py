"""Rule evaluate: one (condition, feature set, model, protocol) cell of the experiment matrix."""
import json
from pathlib import Path

from mexflow.datasets.index import load_index
from mexflow.evaluation.experiment import run_evaluation
from mexflow.io import write_parquet_atomic, write_text_atomic
from mexflow.magnify.data import reserved_clip_ids
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
w, p = snakemake.wildcards, snakemake.params
index = load_index(snakemake.input.index)
if p.reserved:
    # Subjects reserved for magnifier fine-tuning never reach an evaluation, in any condition.
    reserved = reserved_clip_ids(index, p.reserved["n"], p.reserved["seed"])
    index = index[~index["clip_id"].isin(reserved)]
    log.info("left out %d clips of the subjects reserved for magnifier fine-tuning", len(reserved))
predictions, summary = run_evaluation(
    index, Path(snakemake.input.bank),
    feature=p.feature, model=p.model, protocol=p.protocol, target=p.target, seed=p.seed,
    # the device is not a param: moving a run to a GPU machine should not by itself rerun it
    threads=snakemake.threads, device=snakemake.config.get("device", "auto"),
    labels={"condition": w.condition, "feature_set": w.feature_set, "model": w.model,
            "protocol": w.protocol},
)
summary["reserved_for_finetuning"] = int(len(reserved)) if p.reserved else 0
write_parquet_atomic(predictions, snakemake.output.predictions)
write_text_atomic(json.dumps(summary, indent=1), snakemake.output.summary)
log.info("%s/%s/%s/%s: UF1 %.3f UAR %.3f acc %.3f on %d tested clips", w.condition, w.feature_set,
         w.model, w.protocol, summary["uf1"], summary["uar"], summary["accuracy"], summary["n_tested"])
