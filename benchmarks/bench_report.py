"""What every benchmark's JSON report records about the machine, and how it is written."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np


def environment() -> dict:
    return {"numpy": np.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "cpu_count": os.cpu_count()}


def write_report(path, report: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
