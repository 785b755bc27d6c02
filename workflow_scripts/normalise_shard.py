"""Rule normalise_shard: bring each aligned clip of a shard to T frames (uniform sampling or TIM)
and keep its aligned onset and apex frames (`key_frames`) for onset->apex features."""
from pathlib import Path

import pandas as pd

from mexflow.clip_shards import normalise_aligned_shard
from mexflow.datasets.index import load_index
from mexflow.io import write_parquet_atomic
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
p = snakemake.params
aligned = pd.read_parquet(snakemake.input.manifest)
manifest = normalise_aligned_shard(Path(snakemake.input.frames).parent, aligned,
                                   load_index(snakemake.input.index), snakemake.output.clips,
                                   int(p.frames), p.method)
write_parquet_atomic(manifest, snakemake.output.manifest)
log.info("normalised %d clips to %d frames (%s)", len(aligned), p.frames, p.method)
