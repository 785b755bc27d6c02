"""Rule feature_shard: one feature set on every normalised clip of a shard.
Kinds that draw an image (28x28 flow maps) also write one PNG per clip into `images/`."""
from pathlib import Path

import pandas as pd

from mexflow.features.flowmap import write_flow_map_png
from mexflow.features.registry import compute_features
from mexflow.io import write_parquet_atomic
from mexflow.shards import ShardWriter, iter_clips
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
clips = pd.read_parquet(snakemake.input.manifest)
# Dense float banks compress by only ~9 % while compression makes writing ~35x slower
# (benchmarks/bench_features.py), so banks are stored uncompressed.
writer = ShardWriter(snakemake.output.bank, compressed=False)
images = Path(snakemake.output.images)
images.mkdir(parents=True, exist_ok=True)
for row, arrays in iter_clips(Path(snakemake.input.clips).parent, clips, ["frames", "key_frames"]):
    feats = compute_features(arrays, snakemake.params.spec, clip_id=row["clip_id"])
    image = feats.pop("image", None)
    if image is not None:
        write_flow_map_png(images / (row["clip_id"].replace("/", "__") + ".png"), image)
    writer.add(row["clip_id"], **feats)
write_parquet_atomic(writer.write(), snakemake.output.manifest)
log.info("%s: %d clips", snakemake.params.feature_set, len(clips))
