"""Rule finetune_magnifier: micro-expression fine-tuning (MagPlus, DeMagPlus, face-aware) ->
checkpoint + metadata."""
import json
from pathlib import Path

import pandas as pd

from mexflow.datasets.index import load_index
from mexflow.io import write_text_atomic
from mexflow.magnify.generator import save_checkpoint, select_device
from mexflow.magnify.runs import finetune
from mexflow.workflow_support import setup


def shards(paths):
    return [(Path(f).parent, pd.read_parquet(f)) for f in paths if str(f).endswith(".parquet")]


log = setup(snakemake)  # noqa: F821
p, i = snakemake.params, snakemake.input
device = select_device(snakemake.config.get("magnify", {}).get("device", "auto"))
generator, meta = finetune(p.spec, p.common, Path(i.init), load_index(i.index), shards(i.clips),
                           shards(i.geometry) if "geometry" in i.keys() else None,
                           p.reserved, int(p.seed), device, log)
meta["name"] = snakemake.wildcards.magnifier
save_checkpoint(snakemake.output.checkpoint, generator, meta)
write_text_atomic(json.dumps(meta, indent=1), snakemake.output.meta)
