"""Rule build_index: corpus layout + annotations -> canonical clip index and rejections.
A composite set's index is its members' indexes combined."""
import pandas as pd

from mexflow.datasets.composite import build_composite_index
from mexflow.datasets.index import build_index
from mexflow.io import write_parquet_atomic
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
spec, dataset = snakemake.params.spec, snakemake.wildcards.dataset
if spec["format"] == "composite":
    paths = list(snakemake.input.members)
    names = spec["members"]
    index, rejected = build_composite_index(
        dataset,
        {m: pd.read_parquet(p) for m, p in zip(names, paths[0::2])},
        {m: pd.read_parquet(p) for m, p in zip(names, paths[1::2])},
    )
else:
    index, rejected = build_index(dataset, spec)
write_parquet_atomic(index, snakemake.output.index)
write_parquet_atomic(rejected, snakemake.output.rejected)
log.info("%d clips indexed, %d rejected", len(index), len(rejected))
for _, r in rejected.iterrows():
    log.warning("rejected %s (%s): %s", r["clip_id"], r["file"], r["reason"])
