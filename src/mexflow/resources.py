"""Access to the project's `resources/` folder (label maps, AU definitions, layouts).

The folder sits at the repository root, next to `src/`; `MEXFLOW_RESOURCES` overrides it.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml


def resources_dir() -> Path:
    """Folder holding the resource YAML files."""
    env = os.environ.get("MEXFLOW_RESOURCES")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "resources"
    if not path.is_dir():
        raise FileNotFoundError(
            f"mexflow resources folder not found at {path}; set MEXFLOW_RESOURCES to the "
            "repository's resources/ folder"
        )
    return path


@functools.lru_cache(maxsize=None)
def load_resource(name: str) -> Any:
    """Parsed content of `resources/{name}` (YAML). Cached: treat the result as read-only."""
    with open(resources_dir() / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)
