# `make demo` and `make test` each create .venv at the repo root when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,micro,npu,cluster]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/advisor demo

# the whole suite, one pytest worker per core, each given the next test as it frees up
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --maxschedchunk 1

# the everyday tier: everything that needs no TensorFlow, in under a minute
check: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --maxschedchunk 1 -m "not tf and not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) advisor-out .pytest_cache
