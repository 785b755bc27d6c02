# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.mexflow-installed
CORES  ?= all
# CONFIG=path: run, and report on, that config file (snakemake --configfile path)
CONFIG ?=
CONFIGFILE = $(if $(CONFIG),--configfile $(CONFIG))

.PHONY: run test slurm-test setup lint bench report clean pretrain

setup: $(STAMP)

# torch goes in first and alone, from the CPU wheel, so nothing later can pull a CUDA build.
# facenet-pytorch only provides the MTCNN weights: --no-deps skips its stale pins (torch<2.3 ...).
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps facenet-pytorch==2.6.0
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -c "import torch; print('torch', torch.__version__, '(CUDA available)' if torch.cuda.is_available() else '(CPU)')"
	touch $@

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) $(CONFIGFILE)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# One HTML file gathering the tables and figures of the last run (open it in a browser); give the
# run's CONFIG again: the report re-plans that config's DAG.
report: $(STAMP)
	$(BIN)/snakemake $(CONFIGFILE) --report results/report.html

# Retrain the shipped generic magnifier from scratch with config.yaml's recipe
# (magnify.models.generic) and ship it: resources/magnifiers/generic.pt + generic.json (sha256).
pretrain: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --force results/magnifiers/generic.pt
	$(BIN)/python scripts/ship_generic.py results/magnifiers/generic.pt

# Only the SLURM integration test (root + apt: installs and starts a single-node SLURM).
slurm-test: $(STAMP)
	$(BIN)/python -m pytest -q -rs -m slurm tests/test_slurm.py

lint: $(STAMP)
	$(BIN)/snakemake --lint

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf results .snakemake
