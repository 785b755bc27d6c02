"""The SLURM profile on a real single-node SLURM (scripts/slurm/single_node.sh: munge, slurmctld,
slurmd, two fake GPUs as GRES): tests/data/tiny_slurm.yaml runs through `sbatch` with
`--profile profiles/slurm`. GPU rules must receive a GPU allocation (CUDA_VISIBLE_DEVICES), CPU
rules none, and SLURM's own records (scontrol, MinJobAge 3600 s: no accounting needed) must show
every job. Runs as root where apt-get can install SLURM (CI); ~3-4 min on 2 cores."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from mexflow.workflow_support import planned_job_counts

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "slurm" / "single_node.sh"
PROFILE = REPO / "profiles" / "slurm"
CONFIG = REPO / "tests" / "data" / "tiny_slurm.yaml"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
MARKER = "# written by mexflow scripts/slurm/single_node.sh"
GROUPS = yaml.safe_load((PROFILE / "config.yaml").read_text())["groups"]
GPU_RULES = {"pretrain_magnifier": 1, "magnify_shard": 2}  # tiny_slurm.yaml's jobs with gpu=1
DEVICES = re.compile(
    r"devices: rule=(\w+) gpu=(\d+) SLURM_JOB_ID=(\S+) CUDA_VISIBLE_DEVICES=(\S+)$")


def _skip_reason() -> str | None:
    if not sys.platform.startswith("linux"):
        return "needs Linux"
    if os.geteuid() != 0:
        return "needs root: it installs SLURM with apt-get and starts munged, slurmctld, slurmd"
    installed = all(shutil.which(b) or Path("/usr/sbin", b).exists()
                    for b in ("munged", "slurmctld", "slurmd", "sbatch"))
    if not installed and shutil.which("apt-get") is None:
        return "SLURM is not installed and apt-get is not available to install it"
    conf = Path("/etc/slurm/slurm.conf")
    if conf.exists() and MARKER not in conf.read_text(errors="replace"):
        return "/etc/slurm/slurm.conf belongs to a real SLURM set-up; the test does not touch it"
    if (os.cpu_count() or 1) < 2:
        return "needs 2 CPUs (the corpus rule runs with 2 threads)"
    return None


pytestmark = [pytest.mark.slurm, pytest.mark.slow,
              pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))]


def _script(cmd: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), cmd], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def slurm_cluster():
    """Install (if needed) and start the single-node SLURM; stop it afterwards, also on failure,
    unless it was already running before the test."""
    res = _script("install", 900)
    assert res.returncode == 0, res.stdout + res.stderr
    was_running = _script("status", 30).returncode == 0
    try:
        res = _script("start", 180)
        assert res.returncode == 0, res.stdout + res.stderr
        yield
    finally:
        if not was_running:
            res = _script("stop", 120)
            assert res.returncode == 0, res.stdout + res.stderr
            assert _script("status", 30).returncode != 0


def scontrol(kind: str, name: str) -> dict[str, str]:
    """`scontrol -o show <kind> <name>` as a dict (first record)."""
    out = subprocess.run(["scontrol", "-o", "show", kind, name], capture_output=True, text=True,
                         check=True, timeout=30).stdout.splitlines()[0]
    return dict(re.findall(r"(\S+?)=(\S*)", out))


def resource_overrides(node: dict[str, str]) -> list[str]:
    """The profile's memory fits this node when it holds two default jobs; on a smaller node the
    test lowers the per-job memory (a site-specific number) so that jobs still start."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    default = profile["default-resources"]
    real = int(node["RealMemory"])
    if real >= 2 * int(default["mem_mb"]):
        return []
    small = {**default, "mem_mb": real // 4}
    return ["--default-resources", *[f"{k}={v}" for k, v in small.items()], "--set-resources",
            f"merge_bank:mem_mb={real // 8}", f"evaluate:mem_mb={real // 8}"]


def job_logs(workdir: Path) -> list[tuple[Path, re.Match]]:
    """Every rule log of the run with its one `devices:` line (mexflow.workflow_support.setup)."""
    found = []
    for path in sorted((workdir / "results").rglob("*.log")):
        if "logs" not in path.relative_to(workdir).parts:
            continue
        lines = [m for m in map(DEVICES.search, path.read_text().splitlines()) if m]
        assert len(lines) == 1, (path, path.read_text()[-2000:])
        found.append((path, lines[0]))
    return found


def overlaps(a: dict[str, str], b: dict[str, str]) -> bool:
    start = [datetime.fromisoformat(j["StartTime"]) for j in (a, b)]
    end = [datetime.fromisoformat(j["EndTime"]) for j in (a, b)]
    return start[0] < end[1] and start[1] < end[0]


def test_tiny_workflow_through_sbatch_gives_gpus_to_gpu_rules_only(slurm_cluster, tmp_path):
    node = scontrol("node", subprocess.run(["hostname", "-s"], capture_output=True, text=True,
                                           check=True).stdout.strip())
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))
           and k not in ("CUDA_VISIBLE_DEVICES", "MEXFLOW_GPUS")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    planned = subprocess.run([SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--configfile", str(CONFIG),
                              "--directory", str(tmp_path), "-n", "-q", "rules"],
                             capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    expected = {rule: n for rule, n in planned_job_counts(planned.stdout + planned.stderr).items()
                if rule != "all"}
    assert expected, planned.stdout + planned.stderr
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--profile", str(PROFILE),
           "--configfile", str(CONFIG), "--directory", str(tmp_path),
           "--cores", node["CPUTot"],  # also caps each group job at the node's CPUs
           "--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2",
           "--slurm-keep-successful-logs", *resource_overrides(node)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env=env,
                         stdin=subprocess.DEVNULL)
    output = res.stdout + res.stderr
    assert res.returncode == 0, output[-6000:]
    assert (tmp_path / "results/tinyslurm/reports/metrics.parquet").is_file()
    run_id = re.search(r"SLURM run ID: (\S+)", output).group(1)
    submitted = dict(re.findall(r"submitted with SLURM jobid (\d+) \(log: (\S+)\)", output))

    logs = job_logs(tmp_path)
    rules = Counter(m.group(1) for _, m in logs)
    assert rules == Counter(expected), (rules, expected)  # every planned job but 'all' ran in SLURM
    assert {r: rules[r] for r in GPU_RULES} == GPU_RULES, rules
    assert {"synthesize_corpus", "align_shard", "feature_shard", "evaluate", "report"} <= set(rules)
    gpu_jobs = {}
    for path, m in logs:
        rule, gpu, job_id, devices = m.group(1), int(m.group(2)), m.group(3), m.group(4)
        assert job_id.isdigit(), (path, m.group(0))  # every job ran inside a SLURM allocation
        assert job_id in submitted, (path, job_id)  # ... that this run submitted with sbatch
        assert Path(submitted[job_id]).is_file()  # SLURM wrote that job's output file
        job = scontrol("job", job_id)
        assert (job["JobName"], job["JobState"], job["ExitCode"]) == (run_id, "COMPLETED", "0:0")
        # the comment names the rule, or for a group job the group and its rules (cut at ~80
        # characters by the plugin, so a late member may only be covered by the group's name)
        group = GROUPS.get(rule)
        assert rule in job["Comment"] or (group and job["Comment"].startswith(f"rule_{group}_")
                                          and job["Comment"].endswith("...")), (rule, job["Comment"])
        if rule in GPU_RULES:
            assert gpu == 1 and job.get("TresPerJob") == "gres:gpu:1", (path, job)
            assert devices in ("0", "1"), (path, m.group(0))  # one of the node's two fake GPUs
            gpu_jobs[job_id] = (devices, job)
        else:
            assert gpu == 0 and "gpu" not in job.get("TresPerJob", ""), (path, job)
            assert devices == "unset", (path, m.group(0))
    # GPU jobs that ran at the same time held different devices. Whether the two magnifications
    # overlap depends on what else holds the node's 2 CPUs then (a CI run had them back to back),
    # so the overlap itself is forced in test_concurrent_gpu_jobs_hold_distinct_devices.
    pairs = [(a, b) for a in gpu_jobs for b in gpu_jobs
             if a < b and overlaps(gpu_jobs[a][1], gpu_jobs[b][1])]
    for a, b in pairs:
        assert gpu_jobs[a][0] != gpu_jobs[b][0], (a, b, gpu_jobs[a][0])
    # groups: the merges and evaluations shared jobs (3 banks x (merge + evaluation) -> 1 job here)
    group_ids = {m.group(3) for _, m in logs if m.group(1) in ("merge_bank", "evaluate")}
    assert len(group_ids) == 1 and rules["merge_bank"] == rules["evaluate"] == 3


RENDEZVOUS = """#!/bin/bash
# Record this job's GPU, then wait until every job of the test has recorded its own: the jobs can
# only all finish if SLURM runs them at the same time.
echo "${CUDA_VISIBLE_DEVICES:-unset}" > "$1/$SLURM_JOB_ID.dev"
for _ in $(seq 240); do
    [ "$(ls "$1"/*.dev | wc -l)" -ge "$2" ] && exit 0
    sleep 0.5
done
exit 3
"""


def test_concurrent_gpu_jobs_hold_distinct_devices(slurm_cluster, tmp_path):
    """Two jobs that ask for a GPU the way the profile's GPU rules do (`sbatch --gpus=1`) and wait
    for each other: both start together, on different fake GPUs of the node."""
    script = tmp_path / "rendezvous.sh"
    script.write_text(RENDEZVOUS)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "SBATCH_", "SRUN_")) and k != "CUDA_VISIBLE_DEVICES"}
    ids = []
    for i in range(2):
        res = subprocess.run(["sbatch", "--parsable", "--gpus=1", "--cpus-per-task=1",
                              "--mem=100", "--time=5", f"--job-name=mexflow-rendezvous-{i}",
                              f"--output={tmp_path}/%j.out", str(script), str(tmp_path), "2"],
                             capture_output=True, text=True, env=env, timeout=30)
        assert res.returncode == 0, res.stdout + res.stderr
        ids.append(res.stdout.strip().split(";")[0])
    deadline = time.monotonic() + 180
    while True:
        jobs = {i: scontrol("job", i) for i in ids}
        if all(j["JobState"] not in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING")
               for j in jobs.values()):
            break
        assert time.monotonic() < deadline, jobs
        time.sleep(1)
    outputs = {i: (tmp_path / f"{i}.out").read_text() for i in ids}
    for i, job in jobs.items():
        assert (job["JobState"], job["ExitCode"]) == ("COMPLETED", "0:0"), (job, outputs[i])
        assert job.get("TresPerJob") == "gres:gpu:1", job
    # both exited 0, so each saw the other's record while it ran: they ran at the same time
    # (scontrol's whole-second StartTime/EndTime are too coarse to show it for jobs this short)
    devices = [(tmp_path / f"{i}.dev").read_text().strip() for i in ids]
    assert sorted(devices) == ["0", "1"], devices
