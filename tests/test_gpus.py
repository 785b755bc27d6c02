"""Local GPU assignment: concurrent jobs get distinct devices, a job waits for a free one, SLURM's
(or the caller's) CUDA_VISIBLE_DEVICES is left alone. Devices are counted from MEXFLOW_GPUS or a
fake nvidia-smi, so no GPU is needed."""
from __future__ import annotations

import logging
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from mexflow.gpus import claim_local_gpus, local_gpu_count, lock_dir, release_local_gpus
from mexflow.workflow_support import setup

REPO = Path(__file__).resolve().parents[1]

# A job stand-in: claims argv[1] GPUs, prints CUDA_VISIBLE_DEVICES, holds it until argv[2] exists.
HOLDER = """
import os, sys, time, pathlib
from mexflow.gpus import claim_local_gpus
claim_local_gpus(int(sys.argv[1]), poll=0.05, timeout=60)
print(os.environ.get("CUDA_VISIBLE_DEVICES", "unset"), flush=True)
go = pathlib.Path(sys.argv[2])
while not go.exists():
    time.sleep(0.02)
"""


@pytest.fixture
def gpu_env(tmp_path, monkeypatch):
    """Two local GPUs, a private lock folder, no SLURM, no CUDA_VISIBLE_DEVICES (all restored)."""
    monkeypatch.setenv("MEXFLOW_GPUS", "2")
    monkeypatch.setenv("MEXFLOW_GPU_LOCK_DIR", str(tmp_path / "locks"))
    for name in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES", "MEXFLOW_GPU_WAIT"):
        # set first, so that monkeypatch records the original state and undoes what the tests
        # (and setup()) write into os.environ; delenv of an absent name records nothing
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    yield os.environ
    release_local_gpus()


def start_holder(n: int, go: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.Popen([sys.executable, "-c", HOLDER, str(n), str(go)], env=env,
                            stdout=subprocess.PIPE, text=True)


def test_concurrent_jobs_get_distinct_devices_and_a_third_waits_for_one(gpu_env, tmp_path):
    go = [tmp_path / f"go{k}" for k in range(3)]
    first, second = start_holder(1, go[0]), start_holder(1, go[1])
    third = None
    try:
        d1, d2 = first.stdout.readline().strip(), second.stdout.readline().strip()
        assert {d1, d2} == {"0", "1"}
        third = start_holder(1, go[2])
        time.sleep(1.5)  # both devices held: the third must still be waiting, silent
        assert third.poll() is None
        assert select.select([third.stdout], [], [], 0)[0] == []  # nothing printed yet
        go[0].touch()  # the first job exits; the kernel drops its lock
        assert first.wait(timeout=20) == 0
        t0 = time.monotonic()
        assert third.stdout.readline().strip() == d1
        assert time.monotonic() - t0 < 10
    finally:
        for g in go:
            g.touch()
        for p in (first, second, third):
            if p is not None:
                p.wait(timeout=20)
    assert second.returncode == 0 and third.returncode == 0


def test_slurm_or_caller_devices_are_left_alone(gpu_env):
    gpu_env["SLURM_JOB_ID"] = "42"
    assert claim_local_gpus(1) == [] and "CUDA_VISIBLE_DEVICES" not in gpu_env
    gpu_env["CUDA_VISIBLE_DEVICES"] = "3"
    assert claim_local_gpus(1) == [] and gpu_env["CUDA_VISIBLE_DEVICES"] == "3"
    del gpu_env["SLURM_JOB_ID"]
    assert claim_local_gpus(1) == [] and gpu_env["CUDA_VISIBLE_DEVICES"] == "3"
    assert not (Path(gpu_env["MEXFLOW_GPU_LOCK_DIR"])).exists()  # no lock was even tried


def test_claims_are_all_or_nothing_and_time_out_clearly(gpu_env):
    other = dict(gpu_env)  # a second job of this process: same lock files, own descriptors
    assert claim_local_gpus(1, env=other) == [0]
    with pytest.raises(TimeoutError, match="--resources gpu=2"):
        claim_local_gpus(2, timeout=0.3, poll=0.05)
    # the failed two-device claim did not keep device 1
    assert claim_local_gpus(1, timeout=0.3) == [1] and gpu_env["CUDA_VISIBLE_DEVICES"] == "1"
    release_local_gpus()  # both claims of this process dropped: both devices free again
    del gpu_env["CUDA_VISIBLE_DEVICES"]
    assert claim_local_gpus(2, timeout=0.3) == [0, 1] and gpu_env["CUDA_VISIBLE_DEVICES"] == "0,1"
    with pytest.raises(ValueError, match="needs 3 GPUs but this machine has 2"):
        claim_local_gpus(3, env={"MEXFLOW_GPUS": "2"})


def test_gpu_count_from_env_or_nvidia_smi(tmp_path, monkeypatch, caplog):
    assert local_gpu_count({"MEXFLOW_GPUS": "4"}) == 4
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    assert local_gpu_count({}) == 0  # no nvidia-smi
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA A100 (UUID: GPU-1)'\n"
                   "echo '  MIG 1g.5gb Device 0: (UUID: MIG-1)'\n"
                   "echo 'GPU 1: NVIDIA A100 (UUID: GPU-2)'\n")
    smi.chmod(0o755)
    assert local_gpu_count({}) == 2
    smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    assert local_gpu_count({}) == 0
    env = {"MEXFLOW_GPU_LOCK_DIR": str(tmp_path / "locks")}
    with caplog.at_level(logging.INFO, logger="mexflow.gpus"):
        assert claim_local_gpus(1, env=env) == []
    assert "no local GPU found" in caplog.text and "CUDA_VISIBLE_DEVICES" not in env


def test_lock_dir_defaults_per_user():
    assert lock_dir({"MEXFLOW_GPU_LOCK_DIR": "/x"}) == Path("/x")
    assert lock_dir({"XDG_RUNTIME_DIR": "/run/user/7"}) == Path("/run/user/7/mexflow-gpu-locks")
    assert lock_dir({}) == Path(f"/tmp/mexflow-gpu-locks-{os.getuid()}")


def test_setup_claims_a_gpu_and_logs_one_device_line(gpu_env, tmp_path):
    log_file = tmp_path / "job.log"
    root = logging.getLogger()
    try:
        setup(SimpleNamespace(rule="magnify_shard", log=[str(log_file)], threads=1,
                              resources={"gpu": 1}))
        assert gpu_env["CUDA_VISIBLE_DEVICES"] == "0"
        lines = [line for line in log_file.read_text().splitlines() if "devices:" in line]
        assert len(lines) == 1
        assert lines[0].endswith("devices: rule=magnify_shard gpu=1 SLURM_JOB_ID=unset "
                                 "CUDA_VISIBLE_DEVICES=0")
        del gpu_env["CUDA_VISIBLE_DEVICES"]
        setup(SimpleNamespace(rule="evaluate", log=[str(log_file)], threads=1, resources={}))
        assert "CUDA_VISIBLE_DEVICES" not in gpu_env
        assert log_file.read_text().strip().endswith(
            "devices: rule=evaluate gpu=0 SLURM_JOB_ID=unset CUDA_VISIBLE_DEVICES=unset")
    finally:
        for handler in root.handlers[:]:  # setup() replaced the root handlers; close its file
            handler.close()
            root.removeHandler(handler)
