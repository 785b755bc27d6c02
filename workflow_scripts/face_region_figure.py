"""Rule face_region_figure: the region masks of one clip overlaid on its aligned reference crop."""
from pathlib import Path

import numpy as np
import pandas as pd

from mexflow.geometry.figures import save_mask_figure
from mexflow.shards import read_clip
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
geo = pd.read_parquet(snakemake.input.geometry_manifest)
if geo.empty:
    raise ValueError(f"no clip of {snakemake.input.geometry_manifest} has landmarks to draw")
row = geo.sort_values("clip_id").iloc[0]
aligned = pd.read_parquet(snakemake.input.aligned_manifest).set_index("clip_id")
frames = read_clip(Path(snakemake.input.aligned).parent, aligned.loc[row["clip_id"]],
                   ["frames", "frame_numbers"])
g = read_clip(Path(snakemake.input.geometry).parent, row, ["masks", "reference_landmarks"])
ref = int(np.flatnonzero(frames["frame_numbers"] == int(aligned.at[row["clip_id"], "reference"]))[0])
save_mask_figure(snakemake.output[0], frames["frames"][ref], row["regions"].split(","), g["masks"],
                 landmarks=g["reference_landmarks"].astype(np.float64))
log.info("face regions of %s drawn", row["clip_id"])
