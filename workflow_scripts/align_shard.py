"""Rule align_shard: align every clip of one shard (MTCNN + template matching)."""
from mexflow.align.pipeline import align_shard
from mexflow.datasets.index import load_index
from mexflow.io import write_parquet_atomic
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
index = load_index(snakemake.input.index)
rows = index[index["shard"] == int(snakemake.wildcards.shard)]
manifest, rejected = align_shard(rows, snakemake.params.alignment, snakemake.params.window,
                                 snakemake.output.frames, log=log,
                                 on_bad_frame=snakemake.params.on_bad_frame,
                                 roots=snakemake.params.roots)
write_parquet_atomic(manifest, snakemake.output.manifest)
write_parquet_atomic(rejected, snakemake.output.rejected)
