"""The magnifier training runs behind the workflow's rules, from config slices to a trained
generator and its metadata (kept here so the rule scripts stay a few lines)."""
from __future__ import annotations

import logging
import platform
import time
from pathlib import Path

import pandas as pd
import torch

from mexflow.magnify.data import load_training_clips, reserved_clip_ids
from mexflow.magnify.generator import FlowMagGenerator, load_checkpoint_meta, load_generator
from mexflow.magnify.pairs import PairFilter
from mexflow.magnify.supervisors import make_supervisor
from mexflow.magnify.train import TrainSpec, finetune_me, pretrain_generic

DEFAULT_ARCHITECTURE = {"width": 64, "depth": 5, "output": "frame"}
DEFAULT_SUPERVISOR = {"kind": "lk"}


def _environment(device) -> dict:
    return {"device": str(device), "torch": str(torch.__version__), "python": platform.python_version(),
            "threads": torch.get_num_threads()}


def pretrain(spec: dict, common: dict, seed: int, device, log: logging.Logger) -> tuple[FlowMagGenerator, dict]:
    """Generic pretraining from the config slice `magnify.models.{name}` (mode generic)."""
    arch = {**DEFAULT_ARCHITECTURE, **common.get("architecture", {})}
    train = TrainSpec.from_dict(spec, seed=seed)
    rule = PairFilter(**spec.get("pair_filter", {}))
    sup = common.get("supervisor", DEFAULT_SUPERVISOR)
    t0 = time.perf_counter()
    supervisor = None if train.generated else make_supervisor(sup)
    generator, meta = pretrain_generic(arch, train, supervisor,
                                       pairs=int(spec.get("pairs", 512)), pair_filter=rule,
                                       device=device, log=log, faces=int(spec.get("faces", 6)))
    meta.update(architecture=arch, supervisor=sup,
                train_seconds=time.perf_counter() - t0, **_environment(device))
    return generator, meta


def finetune(spec: dict, common: dict, init: Path, index: pd.DataFrame,
             clip_shards: list[tuple[Path, pd.DataFrame]],
             geometry_shards: list[tuple[Path, pd.DataFrame]] | None,
             reserved: dict | None, seed: int, device, log: logging.Logger) -> tuple[FlowMagGenerator, dict]:
    """Micro-expression fine-tuning (MagPlus, DeMagPlus, face-aware) from the config slice
    `magnify.models.{name}` (mode finetune), starting from the checkpoint `init`.

    reserved: None (every clip of the dataset, label-free) or {"n", "seed"}: only the clips of the
    subjects reserved for fine-tuning (the evaluation leaves exactly those out)."""
    train = TrainSpec.from_dict(spec, seed=seed, freeze_encoder=bool(spec.get("freeze_encoder", True)))
    clip_ids = reserved_clip_ids(index, reserved["n"], reserved["seed"]) if reserved else None
    ids, clips, masks = load_training_clips(clip_shards, geometry_shards, clip_ids)
    if not clips:
        raise ValueError("no clip is available for fine-tuning (all rejected, or none reserved)")
    generator = load_generator(init, device=device)  # output mode from its metadata; "frame" for FlowMag
    log.info("fine-tuning %s on %d clips (alpha %s, loss %s, encoder frozen: %s)", init, len(clips),
             train.alpha_range, train.loss, train.freeze_encoder)
    sup = common.get("supervisor", DEFAULT_SUPERVISOR)
    t0 = time.perf_counter()
    generator, meta = finetune_me(generator, train, None if train.generated else make_supervisor(sup),
                                  clips, masks, device=device, log=log)
    subjects = sorted(index.loc[index["clip_id"].isin(ids), "subject"].astype(str).unique())
    meta.update(init=str(init), init_meta=_safe_meta(init), subjects=subjects,
                supervisor=sup,
                train_seconds=time.perf_counter() - t0, **_environment(device))
    return generator, meta


def _safe_meta(path) -> dict:
    """The initial checkpoint's metadata without its loss history (kept short)."""
    try:
        meta = load_checkpoint_meta(path)
    except (KeyError, ValueError, TypeError):
        return {}
    return {k: v for k, v in meta.items() if k != "history"}
