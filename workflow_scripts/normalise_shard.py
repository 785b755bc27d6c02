"""Rule normalise_shard: sample each aligned clip of a shard uniformly to T frames."""
from pathlib import Path

import pandas as pd

from mexflow.io import write_parquet_atomic
from mexflow.shards import ShardWriter, iter_clips
from mexflow.temporal import sample_uniform
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
aligned = pd.read_parquet(snakemake.input.manifest)
writer = ShardWriter(snakemake.output.clips)
for row, arrays in iter_clips(Path(snakemake.input.frames).parent, aligned, ["frames", "frame_numbers"]):
    clip, idx = sample_uniform(arrays["frames"], int(snakemake.params.frames))
    writer.add(row["clip_id"], frames=clip, frame_numbers=arrays["frame_numbers"][idx])
write_parquet_atomic(writer.write(), snakemake.output.manifest)
log.info("normalised %d clips to %d frames", len(aligned), snakemake.params.frames)
