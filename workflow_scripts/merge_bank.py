"""Rule merge_bank: shard manifests of a feature bank -> one manifest with its parameter hash.
For a composite set, the members' bank manifests are combined (their NPZ files are reused)."""
import pandas as pd

from mexflow.bank import merge_manifests
from mexflow.datasets.composite import merge_member_banks
from mexflow.io import write_parquet_atomic
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
w = snakemake.wildcards
parts = [pd.read_parquet(p) for p in snakemake.input]
if snakemake.params.composite:
    manifest = merge_member_banks(parts, list(snakemake.input), snakemake.output[0])
else:
    manifest = merge_manifests(parts, snakemake.input, w.condition, w.feature_set, snakemake.params.spec)
write_parquet_atomic(manifest, snakemake.output[0])
log.info("bank %s/%s: %d clips", w.condition, w.feature_set, len(manifest))
