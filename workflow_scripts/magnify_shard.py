"""Rule magnify_shard: one magnified condition of a shard. EVM runs on the aligned window at the
corpus frame rate and is then normalised like `original`; learned magnifiers run on the
normalised clips (each frame as the pair (frame 0, frame i))."""
from pathlib import Path

import pandas as pd

from mexflow.clip_shards import magnify_clip_shard, normalise_aligned_shard
from mexflow.datasets.index import load_index
from mexflow.io import write_parquet_atomic
from mexflow.magnify.conditions import evm_magnifier, learned_magnifier, parse_condition
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
p, i = snakemake.params, snakemake.input
spec = parse_condition(snakemake.wildcards.mcondition, p.condition)
manifest = pd.read_parquet(i.manifest)
if spec.method == "evm":
    out = normalise_aligned_shard(Path(i.frames).parent, manifest, load_index(i.index),
                                  snakemake.output.clips, int(p.frames), p.method,
                                  magnify=evm_magnifier(spec))
else:
    from mexflow.magnify.generator import load_generator, select_device
    from mexflow.magnify.supervisors import make_supervisor

    cfg = snakemake.config.get("magnify", {})
    device = select_device(cfg.get("device", "auto"))
    generator = load_generator(i.checkpoint, device=device)
    supervisor = make_supervisor(p.common.get("supervisor", {"kind": "lk"})) if spec.tta else None
    out = magnify_clip_shard(Path(i.frames).parent, manifest, snakemake.output.clips,
                             learned_magnifier(spec, generator, int(p.common.get("batch_size", 8)),
                                               device, supervisor, log))
write_parquet_atomic(out, snakemake.output.manifest)
log.info("%s: magnified %d clips (alpha %g)", spec.name, len(out), spec.alpha)
