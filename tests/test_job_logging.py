"""Job logging (mexflow.workflow_support.setup): what reaches the job's log file and the console."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

JOB = textwrap.dedent("""
    import logging, os, sys, warnings
    from types import SimpleNamespace
    from mexflow.workflow_support import setup

    smk = SimpleNamespace(rule="demo", log=[sys.argv[1]], threads=1, resources={})
    log = setup(smk, capture=True)
    log.info("fold 1/2 (test subject(s) s01)")
    log.warning("one clip rejected")
    os.write(2, b"W0000 native library chatter\\n")  # as MediaPipe's C++ logging writes it
    warnings.warn("a Python warning")


    def failing_step():
        raise ValueError("bad clip 42")


    failing_step()
""")


def run_job(tmp_path: Path) -> tuple[subprocess.CompletedProcess, str]:
    script = tmp_path / "job.py"
    script.write_text(JOB)
    log_file = tmp_path / "logs" / "demo.log"
    log_file.parent.mkdir()
    log_file.write_text("left over from an earlier attempt\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")}
    res = subprocess.run([sys.executable, str(script), str(log_file)], capture_output=True,
                         text=True, env=env, timeout=120)
    return res, log_file.read_text()


def test_an_uncaught_exception_is_in_the_log_with_its_traceback(tmp_path):
    res, log = run_job(tmp_path)
    assert res.returncode == 1
    assert "left over" not in log  # each attempt starts a fresh log
    assert "Traceback (most recent call last)" in log
    assert "in failing_step" in log and 'raise ValueError("bad clip 42")' in log
    assert "CRITICAL mexflow.demo: job failed: ValueError: bad clip 42" in log
    # the console gets one line naming the log, not the traceback
    console = res.stderr.splitlines()
    assert [line for line in console if "bad clip 42" in line] == [
        f"CRITICAL mexflow.demo: job failed: ValueError: bad clip 42 (traceback in "
        f"{tmp_path / 'logs' / 'demo.log'})"]
    assert "Traceback" not in res.stderr


def test_progress_and_native_messages_stay_in_the_log(tmp_path):
    res, log = run_job(tmp_path)
    for text in ("devices: rule=demo gpu=0", "fold 1/2 (test subject(s) s01)", "one clip rejected",
                 "W0000 native library chatter", "UserWarning: a Python warning"):
        assert text in log
    assert "WARNING mexflow.demo: one clip rejected" in res.stderr  # warnings reach the console too
    for text in ("devices:", "fold 1/2", "native library chatter", "a Python warning"):
        assert text not in res.stderr
