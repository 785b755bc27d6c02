"""Run every benchmark in this folder (results under benchmarks/out/)."""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
for script in ["bench_stages.py", "bench_lbptop.py", "bench_features.py", "bench_alignment.py",
               "bench_evm.py", "bench_magnify.py", "bench_models.py", "bench_dag.py"]:
    print(f"== {script}", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], check=True)
