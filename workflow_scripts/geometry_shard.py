"""Rule geometry_shard: FaceMesh landmarks and face-region masks of every aligned clip of a shard."""
from pathlib import Path

import pandas as pd

from mexflow.geometry.clips import geometry_shard
from mexflow.io import write_parquet_atomic
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
manifest, rejected = geometry_shard(Path(snakemake.input.frames).parent,
                                    pd.read_parquet(snakemake.input.manifest),
                                    snakemake.params.geometry, snakemake.output.geometry, log=log)
write_parquet_atomic(manifest, snakemake.output.manifest)
write_parquet_atomic(rejected, snakemake.output.rejected)
log.info("%d clips with landmarks and masks, %d rejected", len(manifest), len(rejected))
