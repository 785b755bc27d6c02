"""Glue for workflow scripts: logging to the rule's log file and thread limits.

Kept in the library so the scripts in workflow_scripts/ stay a few lines each.
"""
from __future__ import annotations

import logging
import os
import sys


def set_threads(n: int) -> None:
    """Limit OpenCV and torch to the rule's `threads` (REFERENCES §5: oversubscribed torch on 2
    cores slowed small ops ~40x). torch is not imported here: a later import reads
    OMP_NUM_THREADS, so jobs that never use torch do not pay for loading it."""
    import cv2

    n = max(1, int(n))
    cv2.setNumThreads(n)
    os.environ["OMP_NUM_THREADS"] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def setup(smk) -> logging.Logger:
    """Configure logging for a Snakemake `script:` job (`smk` is the `snakemake` object)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if smk.log:
        os.makedirs(os.path.dirname(str(smk.log[0])) or ".", exist_ok=True)
        handlers.append(logging.FileHandler(str(smk.log[0]), mode="w"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    set_threads(smk.threads)
    return logging.getLogger(f"mexflow.{smk.rule}")
