# Everything runs inside .venv in the checkout; the first target that needs it builds it.
# TORCH_SPEC pins the torch build: torch==2.13.0 is a CPU wheel on the development machines; elsewhere
# override it, e.g. `make test TORCH_SPEC='torch==2.13.0' PIP_EXTRA='--index-url https://download.pytorch.org/whl/cpu'`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
PIP_EXTRA ?=
STAMP := $(VENV)/.stamp
PYTEST_ARGS ?=

.PHONY: install demo test test-fast lint bench bench-quick bench-accuracy clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check $(PIP_EXTRA) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install lstmcast with its dev tools

demo: $(STAMP)  ## train on a real monthly series and print a 12-month forecast
	rm -rf runs/demo
	$(BIN)/lstmcast train sample_data/airpassengers.csv --out runs/demo --seed 0
	$(BIN)/lstmcast predict --model runs/demo

test: $(STAMP)  ## the whole suite
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check lstmcast tests bench
	$(BIN)/mypy lstmcast
	$(BIN)/lint-imports

bench: $(STAMP)  ## speed and memory (about 6 minutes; bench-quick: under a minute)
	$(BIN)/python bench/speed.py

bench-quick: $(STAMP)
	$(BIN)/python bench/speed.py --quick

bench-accuracy: $(STAMP)  ## rolling-origin backtest on every shared series
	$(BIN)/python bench/accuracy.py

clean:
	rm -rf $(VENV) runs build *.egg-info .pytest_cache .mypy_cache .ruff_cache
