"""Compose the run configuration: the repository's config.yaml under the user's overlays.

Snakemake merges every `--configfile` into the workflow's config recursively, so each named block
of the defaults (a dataset, a bank, a model, an experiment block) leaked into every overlay: an
overlay with `conditions: [original]` failed on the default experiment blocks that name `evm`,
and a tiny overlay also planned the whole default corpus. The Snakefile therefore reads no
configfile itself; it composes config.yaml (the defaults) with what Snakemake loaded from the
command line (the overlay: `--configfile` files merged in order, then `--config`) by these rules:

- scalars and lists: the overlay's value wins (as in Snakemake);
- plain mappings (`alignment`, `temporal`, `magnify`, ...): merged key by key, recursively;
- named collections (`datasets`, `features`, `models`, `protocols`): an overlay that gives one
  names what the run has. The collection becomes exactly the overlay's entries; an entry named like
  a default entry, and of the same kind (or giving no kind), inherits that entry's settings under
  its own, so `models: {cnn3d: {epochs: 3}}` means "only cnn3d, as configured, for 3 epochs";
- `experiments` given by the overlay replace the default blocks whole (blocks are selections, not
  settings to inherit);
- experiments inherited from the defaults are narrowed to what the composed config selects:
  conditions not in `conditions`, and banks, models and protocols not defined, are dropped from each
  block, a block left empty is dropped, and each drop is returned as a note for the console. When no
  block is left, the key is removed (the matrix is then every compatible combination).
"""
from __future__ import annotations

import copy
from typing import Any

COLLECTIONS = ("datasets", "features", "models", "protocols")
KIND_KEYS = ("kind", "format", "method")
# experiment block key -> the config entry that defines its universe
EXPERIMENT_AXES = {"conditions": "conditions", "feature_sets": "features", "models": "models",
                   "protocols": "protocols"}


def merge(base: Any, over: Any) -> Any:
    """`over` recursively merged onto `base` (new objects; neither argument is modified)."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = copy.deepcopy(base)
        for key, value in over.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(over)


def _same_kind(default: Any, entry: Any) -> bool:
    if not isinstance(default, dict) or not isinstance(entry, dict):
        return False
    return all(entry[k] == default.get(k) for k in KIND_KEYS if k in entry)


def _collection(default: dict, given: dict) -> dict:
    """The overlay's entries, each merged onto the default entry of its name when of the same kind."""
    return {
        name: merge(default[name], entry) if name in default and _same_kind(default[name], entry)
        else copy.deepcopy(entry)
        for name, entry in (given or {}).items()
    }


def narrow_experiments(experiments: dict, config: dict) -> tuple[dict, list[str]]:
    """Default experiment blocks restricted to what `config` selects and defines.

    Returns (blocks, notes): `blocks` keeps each block's "all" entries and the listed names that
    exist; a block whose explicit list lost every name is dropped. `notes` has one short phrase per
    block changed, e.g. "two_stream without evm, magplus" or "rbf dropped (no models left)"."""
    universe = {axis: set(config.get(source) or ()) for axis, source in EXPERIMENT_AXES.items()}
    blocks, notes = {}, []
    for name, block in experiments.items():
        block = dict(block)
        lost: list[str] = []
        emptied: list[str] = []
        for axis in EXPERIMENT_AXES:
            value = block.get(axis, "all")
            if value == "all":
                continue
            block[axis] = [v for v in value if v in universe[axis]]
            lost += [str(v) for v in value if v not in universe[axis]]
            if not block[axis]:
                emptied.append(axis)
        if emptied:
            notes.append(f"{name} dropped (no {' / '.join(emptied).replace('_', ' ')} left)")
            continue
        if lost:
            notes.append(f"{name} without {', '.join(lost)}")
        blocks[name] = block
    return blocks, notes


def compose(defaults: dict, overlay: dict) -> tuple[dict, list[str]]:
    """The run configuration from `defaults` (config.yaml) and `overlay` (the command line's
    configfiles and --config, already merged by Snakemake). Returns (config, notes)."""
    overlay = overlay or {}
    plain = {k: v for k, v in overlay.items() if k not in (*COLLECTIONS, "experiments")}
    config = merge(defaults, plain)
    for key in COLLECTIONS:
        if key in overlay:
            config[key] = _collection(defaults.get(key) or {}, overlay[key])
    notes: list[str] = []
    if "experiments" in overlay:
        config["experiments"] = copy.deepcopy(overlay["experiments"])
    elif config.get("experiments"):
        blocks, changes = narrow_experiments(config["experiments"], config)
        if changes:
            notes.append("config.yaml's experiment blocks fitted to this config: " + "; ".join(changes))
        if blocks:
            config["experiments"] = blocks
        else:
            del config["experiments"]
            notes.append("none is left, so the matrix is every compatible combination of "
                         "conditions, feature sets, models and protocols")
    if config.get("experiments") is None:
        config.pop("experiments", None)
    return config, notes
