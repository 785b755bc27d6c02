"""Glue for workflow scripts: logging to the rule's log file, thread limits, local GPUs.

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
    """Configure logging for a Snakemake `script:` job (`smk` is the `snakemake` object).

    A job with `resources: gpu=N` outside SLURM claims N distinct local GPUs
    (`mexflow.gpus.claim_local_gpus`). One line records what the job received:
    `devices: rule=<rule> gpu=<N> SLURM_JOB_ID=<id|unset> CUDA_VISIBLE_DEVICES=<value|unset>`."""
    from mexflow.gpus import claim_local_gpus

    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if smk.log:
        os.makedirs(os.path.dirname(str(smk.log[0])) or ".", exist_ok=True)
        handlers.append(logging.FileHandler(str(smk.log[0]), mode="w"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger(f"mexflow.{smk.rule}")
    gpus = int(getattr(smk, "resources", {}).get("gpu", 0) or 0)
    claim_local_gpus(gpus, log=log)
    log.info("devices: rule=%s gpu=%d SLURM_JOB_ID=%s CUDA_VISIBLE_DEVICES=%s", smk.rule, gpus,
             os.environ.get("SLURM_JOB_ID", "unset"),
             os.environ.get("CUDA_VISIBLE_DEVICES", "unset"))
    set_threads(smk.threads)
    return log


def planned_job_counts(output: str) -> dict[str, int]:
    """Jobs per rule from the "Job stats:" table Snakemake prints for a (dry) run, without the
    `total` row; {} when nothing is to be done. `output`: its stdout and stderr together."""
    import re

    stats = output.split("Job stats:", 1)[1] if "Job stats:" in output else ""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", stats, re.M)
            if m.group(1) != "total"}
