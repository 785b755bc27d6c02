"""Rule magnify_shard: one magnified condition of a shard. EVM runs on the aligned window at the
corpus frame rate and is then normalised like `original` (the `me` preset's band is derived here
from the dataset's index); learned magnifiers and the Lagrangian reference run on the normalised
clips (each frame as the pair (frame 0, frame i)). A targeted learned condition reads the shard's
geometry: a clip without it (FaceMesh rejected it) is magnified uniformly, and its manifest row
says so (column `targeted` False, `alpha_mask` "none: no geometry")."""
from pathlib import Path

import pandas as pd

from mexflow.clip_shards import magnify_clip_shard, normalise_aligned_shard
from mexflow.datasets.index import load_index
from mexflow.io import write_parquet_atomic
from mexflow.magnify.conditions import (evm_magnifier, lagrangian_magnifier, learned_magnifier,
                                        parse_condition, targeted_masks)
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
p, i = snakemake.params, snakemake.input
index = load_index(i.index) if "index" in i.keys() else None
spec = parse_condition(snakemake.wildcards.mcondition, p.condition, index=index)
manifest = pd.read_parquet(i.manifest)
if spec.method == "evm":
    if spec.band is not None:
        log.info("%s: preset band %.3g..%.3g Hz (from the index's median onset->offset duration)",
                 spec.name, *spec.band)
    out = normalise_aligned_shard(Path(i.frames).parent, manifest, index,
                                  snakemake.output.clips, int(p.frames), p.method,
                                  magnify=evm_magnifier(spec))
elif spec.method == "lagrangian":
    out = magnify_clip_shard(Path(i.frames).parent, manifest, snakemake.output.clips,
                             lagrangian_magnifier(spec))
else:
    from mexflow.magnify.generator import load_generator, select_device
    from mexflow.magnify.supervisors import make_supervisor

    cfg = snakemake.config.get("magnify", {})
    device = select_device(cfg.get("device", "auto"))
    generator = load_generator(i.checkpoint, device=device)
    from mexflow.magnify.train import TrainSpec

    needs_supervisor = spec.tta and not TrainSpec.from_dict(spec.tta).generated
    supervisor = make_supervisor(p.common.get("supervisor", {"kind": "lk"})) if needs_supervisor else None
    masks, clip_meta = None, None
    if spec.targeted is not None:
        masks = targeted_masks([(Path(i.geometry).parent, pd.read_parquet(i.geometry_manifest))])
        uniform = sorted(set(manifest["clip_id"]) - set(masks))
        for cid in uniform:
            log.warning("%s: clip %s has no geometry (FaceMesh rejected it): magnified uniformly "
                        "(alpha %g everywhere), recorded in the manifest", spec.name, cid, spec.alpha)

        def clip_meta(cid):
            return {"targeted": cid in masks,
                    "alpha_mask": spec.targeted if cid in masks else "none: no geometry"}
    out = magnify_clip_shard(Path(i.frames).parent, manifest, snakemake.output.clips,
                             learned_magnifier(spec, generator, int(p.common.get("batch_size", 8)),
                                               device, supervisor, log, masks=masks),
                             clip_meta=clip_meta)
write_parquet_atomic(out, snakemake.output.manifest)
log.info("%s: magnified %d clips (alpha %g)", spec.name, len(out), spec.alpha)
