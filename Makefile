# udaflow: the two commands of README.md. `make demo` installs and runs the demo's main result,
# `make test` installs and runs the test suite (what .ci/run calls). `make lock` refreshes the lock.
PYTHON ?= python3
CORES ?= 4

.PHONY: install demo test lint lock

# Exactly requirements.lock, then udaflow itself without resolving anything more (--no-deps; its
# build uses the lock's setuptools). Where torch is already installed (e.g. your CUDA build), it is
# kept: the lock is installed without its torch line.
install:
	if $(PYTHON) -c "import torch" 2>/dev/null; then \
		grep -v '^torch==' requirements.lock | $(PYTHON) -m pip install -r /dev/stdin; \
	else \
		$(PYTHON) -m pip install -r requirements.lock; \
	fi
	$(PYTHON) -m pip install --no-deps --no-build-isolation -e .

demo: install
	snakemake --profile workflow/profiles/default --cores $(CORES) results/source/miou.json

test: install
	$(PYTHON) -m pytest -q

lint:
	ruff check pipeline_lib tests tools workflow/scripts
	snakefmt --check Snakefile rules
	snakemake --lint

# The lock's target. torch's CPU wheel comes from the find-links pip already uses (PIP_FIND_LINKS),
# else from PyTorch's CPU wheel page; its version is set in tools/lock-constraints.txt.
LOCK_PYTHON = 3.11
LOCK_PLATFORM = x86_64-manylinux_2_28
TORCH_CPU_WHEELS ?= $(or $(PIP_FIND_LINKS),https://download.pytorch.org/whl/cpu/torch/)
UV = build/uv/bin/uv

$(UV):
	$(PYTHON) -m venv build/uv
	build/uv/bin/pip install --quiet uv==0.13.9

# Re-resolves every package of `pip install -e ".[test]"` to the newest version pyproject.toml
# allows (the demo numbers in README.md must then be re-measured), then writes envs/*.yaml from it.
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra test --upgrade \
		--python-version $(LOCK_PYTHON) --python-platform $(LOCK_PLATFORM) \
		--constraints tools/lock-constraints.txt --find-links $(TORCH_CPU_WHEELS) \
		--custom-compile-command "make lock" --output-file requirements.lock --quiet
	$(PYTHON) tools/lockfile.py requirements.lock --python $(LOCK_PYTHON) --platform $(LOCK_PLATFORM)
