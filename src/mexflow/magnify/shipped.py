"""The generic magnifier shipped with mexflow (resources/magnifiers/generic.pt).

The generic model is trained once with the project's own recipe (`make pretrain`: the rule
`pretrain_magnifier` with `configs/pretrain.yaml`, then `scripts/ship_generic.py`), committed
with a metadata file (recipe, steps, seed, data, measured gain ratios, sha256), and is where
every default run starts (`magnify.pretrained: shipped`). Loading checks the file against the
sha256 of its metadata, so a truncated or replaced file is refused by name.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from mexflow.resources import resources_dir

SHIPPED = "shipped"
_NAME = "generic"


def sha256_of(path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def shipped_paths() -> tuple[Path, Path]:
    """(checkpoint, metadata) of the shipped generic model."""
    folder = resources_dir() / "magnifiers"
    return folder / f"{_NAME}.pt", folder / f"{_NAME}.json"


def verify_checkpoint(path, meta_path=None) -> dict:
    """The metadata of checkpoint `path` after checking its sha256 against it.

    meta_path: the metadata JSON (default: `path` with suffix .json). Raises FileNotFoundError
    when either file is missing and ValueError when the hash differs or the metadata has none;
    both name the file."""
    path = Path(path)
    meta_path = Path(meta_path) if meta_path else path.with_suffix(".json")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: shipped magnifier checkpoint not found")
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: metadata of {path.name} not found")
    meta = json.loads(meta_path.read_text())
    expected = meta.get("sha256")
    if not expected:
        raise ValueError(f"{meta_path}: no sha256 recorded for {path.name}")
    actual = sha256_of(path)
    if actual != expected:
        raise ValueError(f"{path}: sha256 {actual} does not match {expected} recorded in "
                         f"{meta_path.name}; the file is damaged or was replaced (rerun "
                         f"`make pretrain`, or restore it with git)")
    return meta


def shipped_generic_path(verify: bool = True) -> Path:
    """Path of the shipped generic checkpoint, its sha256 checked first (`verify_checkpoint`)."""
    path, meta = shipped_paths()
    if verify:
        verify_checkpoint(path, meta)
    return path


def resolve_pretrained(value) -> str | None:
    """`magnify.pretrained` as a path: "shipped" -> the shipped generic checkpoint (hash
    checked); None -> None (train `generic` here); any other value is a user's checkpoint path."""
    if value is None:
        return None
    if str(value) == SHIPPED:
        return str(shipped_generic_path())
    return str(value)
