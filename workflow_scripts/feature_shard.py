"""Rule feature_shard: one feature set on every normalised clip of a shard."""
from pathlib import Path

import pandas as pd

from mexflow.features.registry import compute_features
from mexflow.io import write_parquet_atomic
from mexflow.shards import ShardWriter, iter_clips
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
clips = pd.read_parquet(snakemake.input.manifest)
writer = ShardWriter(snakemake.output.bank)
for row, arrays in iter_clips(Path(snakemake.input.clips).parent, clips, ["frames"]):
    try:
        feats = compute_features(arrays["frames"], snakemake.params.spec)
    except (ValueError, FloatingPointError) as exc:
        raise RuntimeError(f"clip {row['clip_id']}: feature set {snakemake.params.feature_set}: {exc}") from exc
    writer.add(row["clip_id"], **feats)
write_parquet_atomic(writer.write(), snakemake.output.manifest)
log.info("%s: %d clips", snakemake.params.feature_set, len(clips))
