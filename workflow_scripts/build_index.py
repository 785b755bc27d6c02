"""Rule build_index: corpus layout + annotations -> canonical clip index and rejections."""
from mexflow.datasets.index import build_index
from mexflow.io import write_parquet_atomic
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
index, rejected = build_index(snakemake.wildcards.dataset, snakemake.params.spec)
write_parquet_atomic(index, snakemake.output.index)
write_parquet_atomic(rejected, snakemake.output.rejected)
log.info("%d clips indexed, %d rejected", len(index), len(rejected))
for _, r in rejected.iterrows():
    log.warning("rejected %s (%s): %s", r["clip_id"], r["file"], r["reason"])
