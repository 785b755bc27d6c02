"""Distinct local GPUs for concurrent jobs on a multi-GPU workstation.

Snakemake never sets CUDA_VISIBLE_DEVICES for local jobs, so two GPU jobs running side by side
would both use device 0. A job that needs `n` GPUs claims `n` devices here with exclusive
non-blocking `flock`s on one lock file per device, keeps the lock descriptors open for the life
of the process (the kernel releases them when it exits, even on a crash) and exports
CUDA_VISIBLE_DEVICES. Under SLURM, or when the caller already set CUDA_VISIBLE_DEVICES, nothing
is touched. `snakemake --resources gpu=N` keeps Snakemake from starting more GPU jobs than
devices; the wait below only matters when several runs share one machine.

Must run before the first CUDA call of the process (CUDA reads CUDA_VISIBLE_DEVICES once, when
it initialises; importing torch does not initialise it).
"""
from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import MutableMapping

_HELD: list[int] = []  # lock file descriptors of this process, open until it exits


def local_gpu_count(env: MutableMapping[str, str] | None = None) -> int:
    """Number of local GPUs: $MEXFLOW_GPUS when set, else the `GPU k:` lines of `nvidia-smi -L`,
    else 0 (no nvidia-smi, or it failed)."""
    env = os.environ if env is None else env
    if env.get("MEXFLOW_GPUS", "").strip():
        count = int(env["MEXFLOW_GPUS"])
        if count < 0:
            raise ValueError(f"MEXFLOW_GPUS must be >= 0, got {count}")
        return count
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    if out.returncode != 0:
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def lock_dir(env: MutableMapping[str, str] | None = None) -> Path:
    """Folder of the per-device lock files: $MEXFLOW_GPU_LOCK_DIR, else
    $XDG_RUNTIME_DIR/mexflow-gpu-locks, else /tmp/mexflow-gpu-locks-<uid>. Per user: jobs of
    different users do not see each other's claims."""
    env = os.environ if env is None else env
    if env.get("MEXFLOW_GPU_LOCK_DIR"):
        return Path(env["MEXFLOW_GPU_LOCK_DIR"])
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "mexflow-gpu-locks"
    return Path(f"/tmp/mexflow-gpu-locks-{os.getuid()}")


def _try_claim(folder: Path, device: int) -> int | None:
    """An open descriptor holding device's exclusive lock, or None when another process holds it."""
    fd = os.open(folder / f"gpu{device}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def claim_local_gpus(n: int, env: MutableMapping[str, str] | None = None,
                     timeout: float | None = None, poll: float = 0.5,
                     log: logging.Logger | None = None) -> list[int]:
    """Claim `n` distinct local GPUs for this process and export CUDA_VISIBLE_DEVICES.

    Returns the claimed device indices ([] when nothing was done: n <= 0, under SLURM
    (SLURM_JOB_ID set), CUDA_VISIBLE_DEVICES already set, or no local GPU found). Devices are
    claimed all at once or not at all, so two jobs that each need two devices cannot deadlock.
    When fewer than `n` are free, polls every `poll` s for `timeout` s ($MEXFLOW_GPU_WAIT, default
    3600) and then raises TimeoutError naming the lock folder. Raises ValueError when `n` exceeds
    the machine's GPU count."""
    env = os.environ if env is None else env
    log = log or logging.getLogger("mexflow.gpus")
    if n <= 0 or env.get("SLURM_JOB_ID") or "CUDA_VISIBLE_DEVICES" in env:
        return []
    count = local_gpu_count(env)
    if count == 0:
        log.info("no local GPU found (MEXFLOW_GPUS unset, nvidia-smi -L lists none): "
                 "CUDA_VISIBLE_DEVICES left unset")
        return []
    if n > count:
        raise ValueError(f"job needs {n} GPUs but this machine has {count}")
    if timeout is None:
        timeout = float(env.get("MEXFLOW_GPU_WAIT", 3600))
    folder = lock_dir(env)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    announced = False
    while True:
        claimed: dict[int, int] = {}
        for device in range(count):
            fd = _try_claim(folder, device)
            if fd is not None:
                claimed[device] = fd
                if len(claimed) == n:
                    break
        if len(claimed) == n:
            _HELD.extend(claimed.values())
            devices = sorted(claimed)
            env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, devices))
            return devices
        for fd in claimed.values():  # all or nothing
            os.close(fd)
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"no {n} free GPU(s) of {count} after {timeout:.0f} s: other processes hold the "
                f"locks in {folder} (run Snakemake with --resources gpu={count} so it never starts "
                f"more GPU jobs than devices; MEXFLOW_GPU_WAIT sets this wait)")
        if not announced:
            log.info("waiting for %d free GPU(s) of %d (locks in %s)", n, count, folder)
            announced = True
        time.sleep(poll)


def release_local_gpus() -> None:
    """Release every claim of this process now (normally left to process exit)."""
    while _HELD:
        os.close(_HELD.pop())
