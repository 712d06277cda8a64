# Every target creates .venv on its own when it is missing (or when
# requirements.txt / pyproject.toml changed) and reuses it otherwise.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

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

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest

lessons: $(STAMP)
	$(PY) -m grader release

bench: $(STAMP)
	$(PY) bench/run_all.py

mutants: $(STAMP)
	$(PY) -m grader mutants

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt || echo "note: PyTorch peers not installed; their tests will be skipped"
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache
