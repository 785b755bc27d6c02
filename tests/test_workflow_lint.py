"""The workflow's source: snakefmt-clean, every rule described (`--list-rules`) and announced in one
line (`message:`), profiles that keep the console readable."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SOURCES = [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]


def declared_rules() -> dict[str, str]:
    """Rule name -> its body, from Snakefile and rules/*.smk."""
    rules = {}
    for path in SOURCES:
        for m in re.finditer(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", path.read_text(), re.M):
            rules[m.group(1)] = m.group(2)
    return rules


def test_snakefiles_are_snakefmt_clean():
    res = subprocess.run([str(BIN / "snakefmt"), "--config", str(REPO / "pyproject.toml"), "--check",
                          "--compact-diff", "Snakefile", "rules"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, (
        "run `snakefmt Snakefile rules` (settings: pyproject.toml [tool.snakefmt])\n"
        + res.stdout[-4000:] + res.stderr[-2000:])


def test_list_rules_describes_every_rule(tmp_path):
    res = subprocess.run([str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--configfile",
                          str(REPO / "tests" / "data" / "tiny.yaml"), "--directory", str(tmp_path),
                          "--list-rules"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    listed = dict(re.findall(r"^(\w+)(?: \((.+)\))?$", res.stdout, re.M))
    assert set(listed) == set(declared_rules())
    undescribed = sorted(name for name, text in listed.items() if len(text.split()) < 5)
    assert not undescribed, f"rules without a docstring: {undescribed}"


def test_every_job_rule_announces_itself_in_one_line():
    # With `message:` Snakemake prints "Job <id>: <message>" instead of the job's whole record.
    missing = sorted(name for name, body in declared_rules().items()
                     if name != "all" and not re.search(r"^    message:\n        \"[^\n]+\"\n", body, re.M))
    assert not missing, f"rules without a one-line message: {missing}"


def test_profiles_keep_the_console_short_and_retry_only_on_slurm():
    default = yaml.safe_load((REPO / "profiles" / "default" / "config.yaml").read_text())
    slurm = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    for profile in (default, slurm):
        assert "printshellcmds" not in profile  # script rules: it printed `Shell command: None`
        assert profile["quiet"] == ["reason"] and profile["show-failed-logs"] is True
    assert "retries" not in default  # a local failure repeats itself
    assert slurm["retries"] == 1  # node failure, preemption
