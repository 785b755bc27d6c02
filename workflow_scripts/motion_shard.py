"""Rule motion_shard: motion-fidelity metrics of one magnified condition on one shard (the
original clips' share of the work comes from rule original_motion)."""
from pathlib import Path

import pandas as pd

from mexflow.io import write_parquet_atomic
from mexflow.magnify.motion import motion_rows
from mexflow.magnify.supervisors import make_supervisor
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
p, i = snakemake.params, snakemake.input


def shard(npz, manifest):
    return Path(npz).parent, pd.read_parquet(manifest)


table = motion_rows(snakemake.wildcards.mcondition, p.condition["method"], float(p.condition["alpha"]),
                    shard(i.original, i.original_manifest), shard(i.magnified, i.magnified_manifest),
                    supervisor=make_supervisor(p.supervisor),
                    geometry=shard(i.geometry, i.geometry_manifest),
                    reference=shard(i.reference, i.reference_manifest),
                    params=p.motion, log=log)
table.insert(0, "dataset", snakemake.wildcards.dataset)
write_parquet_atomic(table, snakemake.output[0])
