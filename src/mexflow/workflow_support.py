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


#: Records at this level and above also reach the console; everything goes to the job's log.
CONSOLE_LEVEL = logging.WARNING
_CONSOLE: list = []  # the console stream of a captured job, kept open for the life of the process


class _ConsoleFormatter(logging.Formatter):
    """One line per record: a traceback is left to the log file, which the line names."""

    def __init__(self, log_path: str | None):
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.log_path = log_path

    def format(self, record: logging.LogRecord) -> str:
        if not (record.exc_info or record.exc_text) or not self.log_path:
            return super().format(record)
        plain = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None,
                                       "stack_info": None})
        return f"{super().format(plain)} (traceback in {self.log_path})"


def _is_job(smk) -> bool:
    """True for the `snakemake` object of a running `script:` job (not a stand-in)."""
    return type(smk).__module__.split(".")[0] == "snakemake"


def _capture_stderr(log_path: str):
    """Point file descriptor 2 at the log file (appending) and return a stream on the console.

    Everything the process writes to stderr from then on, native libraries included (MediaPipe /
    TF Lite / absl, OpenCV, torch), lands in the job's log, as do Python's warnings and the
    stderr of child processes started later."""
    sys.stderr.flush()
    if not _CONSOLE:  # a second call keeps the console of the first, not the first's log file
        _CONSOLE.append(os.fdopen(os.dup(2), "w", buffering=1))
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 2)
    os.close(fd)
    return _CONSOLE[0]


def _log_uncaught(log: logging.Logger) -> None:
    """An uncaught exception goes through `log`: its full traceback into the log file, one line
    on the console. The process still exits with status 1 (Snakemake sees the job fail)."""
    def hook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.critical("job failed: %s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb))

    sys.excepthook = hook


def setup(smk, *, capture: bool | None = None) -> logging.Logger:
    """Configure logging for a Snakemake `script:` job (`smk` is the `snakemake` object).

    INFO records and above go to the job's log file (`smk.log[0]`, emptied first); only WARNING
    and above also reach the console, one line each, so a run of hundreds of jobs does not flood
    it. With `capture` (default: when `smk` is the object of a running job, not a stand-in as in
    tests) the job also sends its stderr into the log file, native libraries' messages included,
    and an uncaught exception is written there with its traceback (the console gets one line
    naming the log; `show-failed-logs` in the profiles prints the log when a job fails).

    A job with `resources: gpu=N` outside SLURM claims N distinct local GPUs
    (`mexflow.gpus.claim_local_gpus`). One line in the log records what the job received:
    `devices: rule=<rule> gpu=<N> SLURM_JOB_ID=<id|unset> CUDA_VISIBLE_DEVICES=<value|unset>`."""
    from mexflow.gpus import claim_local_gpus

    log_path = str(smk.log[0]) if smk.log else None
    capture = _is_job(smk) if capture is None else capture
    console_stream = sys.stderr
    handlers: list[logging.Handler] = []
    if log_path:
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        open(log_path, "w").close()  # this attempt's messages only
        if capture:
            console_stream = _capture_stderr(log_path)
        to_file = logging.FileHandler(log_path, mode="a")
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(to_file)
    console = logging.StreamHandler(console_stream)
    console.setLevel(CONSOLE_LEVEL if log_path else logging.INFO)
    console.setFormatter(_ConsoleFormatter(log_path))
    handlers.append(console)
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True)
    log = logging.getLogger(f"mexflow.{smk.rule}")
    if capture:
        _log_uncaught(log)
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
