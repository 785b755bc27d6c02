"""Rule normalise_shard: bring each aligned clip of a shard to T frames (uniform sampling or TIM)
and keep its aligned onset and apex frames (`key_frames`) for onset->apex features."""
from pathlib import Path

import numpy as np
import pandas as pd

from mexflow.datasets.index import load_index
from mexflow.io import write_parquet_atomic
from mexflow.shards import ShardWriter, iter_clips
from mexflow.temporal import key_frame_indices, normalise_clip
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
p = snakemake.params
aligned = pd.read_parquet(snakemake.input.manifest)
index = load_index(snakemake.input.index).set_index("clip_id")
writer = ShardWriter(snakemake.output.clips)
for row, arrays in iter_clips(Path(snakemake.input.frames).parent, aligned, ["frames", "frame_numbers"]):
    clip_id, numbers = row["clip_id"], arrays["frame_numbers"]
    clip, positions = normalise_clip(arrays["frames"], int(p.frames), p.method)
    try:
        keys = key_frame_indices(numbers, int(index.at[clip_id, "onset"]), int(index.at[clip_id, "apex"]))
    except ValueError as exc:
        raise ValueError(f"clip {clip_id}: {exc}; the temporal window must contain onset and apex") from exc
    # Source frame number of each output frame (fractional for TIM).
    source = np.interp(positions, np.arange(len(numbers)), numbers.astype(np.float64))
    writer.add(clip_id, frames=clip, source_frames=source, key_frames=arrays["frames"][keys],
               key_frame_numbers=numbers[keys])
write_parquet_atomic(writer.write(), snakemake.output.manifest)
log.info("normalised %d clips to %d frames (%s)", len(aligned), p.frames, p.method)
