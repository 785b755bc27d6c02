"""Rule original_motion: what every condition's motion metrics need of one shard's original clips
(MMR denominator, supervisor flows and, on a synthetic corpus, the true displacement, full-size
flows and a perfect magnification's gains at each condition's alpha), computed once."""
from pathlib import Path

import pandas as pd

from mexflow.io import write_parquet_atomic
from mexflow.magnify.motion import original_motion, write_original_motion
from mexflow.magnify.supervisors import make_supervisor
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
p, i = snakemake.params, snakemake.input


def shard(npz, manifest):
    return Path(npz).parent, pd.read_parquet(manifest)


references = original_motion(shard(i.original, i.original_manifest), supervisor=make_supervisor(p.supervisor),
                             aligned=shard(i.aligned, i.aligned_manifest),
                             geometry=shard(i.geometry, i.geometry_manifest),
                             truth_root=Path(i.corpus) if "corpus" in i.keys() else None,
                             alphas=p.alphas, params=p.motion, log=log)
manifest = write_original_motion(snakemake.output.clips, references)
write_parquet_atomic(manifest, snakemake.output.manifest)
