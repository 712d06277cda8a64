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
# The browser test (tests/test_jupyterlab.py) drives Debian's Chromium.
CHROMIUM ?= /usr/bin/chromium

# One BLAS thread per process: the grader runs one kernel per core, and the
# small matrices of this course gain nothing from threading.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export MPLBACKEND ?= Agg
export PYTHONHASHSEED ?= 0

.PHONY: demo test lessons bench mutants venv clean chromium

demo: $(STAMP)
	$(PY) -m grader demo

test: $(DEV_STAMP) chromium
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

# The dev stamp is only touched when torch and playwright installed, so a failed attempt is retried next time.
$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) -r requirements-dev.txt \
	  && touch $(DEV_STAMP) \
	  || echo "note: requirements-dev.txt not installed (PyTorch: see README, CPU-only wheel); the tests that compare with" \
	          "PyTorch will be skipped, and the browser test (playwright) will fail"

# Chromium for the browser test: installed with apt-get when missing and running as root; otherwise a
# note, and tests/test_jupyterlab.py fails naming what to install (it never skips).
chromium:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Chromium for the browser test: apt-get install -y chromium"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	    || echo "note: apt-get could not install chromium: tests/test_jupyterlab.py will fail"; \
	  else \
	    echo "note: no $(CHROMIUM), and not root with apt-get: install Chromium (Debian: apt-get install chromium)" \
	         "or set CHROMIUM=PATH, else tests/test_jupyterlab.py fails"; \
	  fi; }

clean:
	rm -rf $(VENV) .pytest_cache
