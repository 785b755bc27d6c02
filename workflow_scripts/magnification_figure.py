"""Rule magnification_figure: the first clip of shard 0 under every condition, side by side."""
from pathlib import Path

import pandas as pd

from mexflow.magnify.figures import save_comparison_figure
from mexflow.shards import read_clip
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
p, i = snakemake.params, snakemake.input
clips, clip_id = {}, None
for name, npz, manifest in zip(p.conditions, i.clips, i.manifests):
    m = pd.read_parquet(manifest)
    if m.empty:
        raise ValueError(f"{manifest}: shard 0 has no clip to draw")
    clip_id = clip_id or m["clip_id"].iloc[0]
    row = m.set_index("clip_id").loc[clip_id]
    clips[name] = read_clip(Path(npz).parent, {"file": row["file"], "key": row["key"]}, ["frames"])["frames"]
labels = {c: f"{c}\n(alpha {a:g})" for c, a in p.alphas.items()}
frame = save_comparison_figure(clips, snakemake.output[0], title=clip_id, labels=labels)
log.info("%s: frame %d of %d conditions", clip_id, frame, len(clips))
