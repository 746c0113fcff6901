# udaflow: the two commands of README.md. `make demo` installs and runs the demo's main result,
# `make test` installs and runs the test suite (what .ci/run calls).
PYTHON ?= python3
CORES ?= 4

.PHONY: install demo test lint

# torch first: on a machine without it, an unpinned requirement would pull the newest CUDA build
# (GBs). Where torch is already installed (e.g. your CUDA build), it is kept.
install:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install torch==2.13.0
	$(PYTHON) -m pip install -e ".[test]"

demo: install
	snakemake --profile workflow/profiles/default --cores $(CORES) results/source/miou.json

test: install
	$(PYTHON) -m pytest -q

lint:
	ruff check pipeline_lib tests workflow/scripts
	snakefmt --check Snakefile rules
	snakemake --lint
