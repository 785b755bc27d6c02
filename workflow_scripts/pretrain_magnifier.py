"""Rule pretrain_magnifier: generic self-supervised FlowMag pretraining -> checkpoint + metadata."""
import json

from mexflow.io import write_text_atomic
from mexflow.magnify.generator import save_checkpoint, select_device
from mexflow.magnify.runs import pretrain
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
p = snakemake.params
device = select_device(snakemake.config.get("magnify", {}).get("device", "auto"))
generator, meta = pretrain(p.spec, p.common, int(p.seed), device, log)
meta["name"] = snakemake.wildcards.magnifier
save_checkpoint(snakemake.output.checkpoint, generator, meta)
write_text_atomic(json.dumps(meta, indent=1), snakemake.output.meta)
