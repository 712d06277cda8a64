# Every target creates .venv on its own when it is missing (or when
# requirements.txt / pyproject.toml changed) and reuses it otherwise.
# PyTorch (requirements-dev.txt, the tests' and benchmarks' float64 peer) is
# installed only for `make test` and `make bench`: never for venv, demo,
# lessons or students.  Elsewhere than this machine, take the CPU-only wheel:
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
TORCH_INDEX ?=

# One BLAS thread per process: the grader runs one kernel per core, and the
# small matrices of this course gain nothing from threading.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export MPLBACKEND ?= Agg
export PYTHONHASHSEED ?= 0

.PHONY: demo test lessons bench mutants venv clean

demo: $(STAMP)
	$(PY) -m grader demo

test: $(DEV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest

lessons: $(STAMP)
	$(PY) -m grader release

bench: $(DEV_STAMP)
	$(PY) bench/run_all.py

mutants: $(STAMP)
	$(PY) -m grader mutants

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# The dev stamp is only touched when torch installed, so a failed attempt is retried next time.
$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) -r requirements-dev.txt \
	  && touch $(DEV_STAMP) \
	  || echo "note: PyTorch not installed (see README, CPU-only wheel); the tests that compare with it will be skipped"

clean:
	rm -rf $(VENV) .pytest_cache
