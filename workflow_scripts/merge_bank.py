"""Rule merge_bank: shard manifests of a feature bank -> one manifest with its parameter hash."""
import pandas as pd

from mexflow.bank import merge_manifests
from mexflow.io import write_parquet_atomic
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
w = snakemake.wildcards
manifest = merge_manifests([pd.read_parquet(p) for p in snakemake.input], snakemake.input,
                           w.condition, w.feature_set, snakemake.params.spec)
write_parquet_atomic(manifest, snakemake.output[0])
log.info("bank %s/%s: %d clips", w.condition, w.feature_set, len(manifest))
