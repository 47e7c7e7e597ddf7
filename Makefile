# Everything runs inside .venv in the checkout; the first target that needs it builds it.
# TORCH_SPEC pins the torch build: torch==2.13.0 is a CPU wheel on the development machines; elsewhere
# override it, e.g. `make test TORCH_SPEC='torch==2.13.0' PIP_EXTRA='--index-url https://download.pytorch.org/whl/cpu'`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
PIP_EXTRA ?=
STAMP := $(VENV)/.stamp
# statsforecast (the `bench` extra) pins pandas < 3, so it gets its own venv: the dev venv keeps its versions
BENCH_VENV ?= $(VENV)/bench
BENCH_STAMP := $(BENCH_VENV)/.stamp
M3_ARGS ?=
PYTEST_ARGS ?=

.PHONY: install demo test test-fast lint bench bench-quick bench-accuracy bench-m3 clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check $(PIP_EXTRA) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

$(BENCH_STAMP): pyproject.toml $(STAMP)
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check $(PIP_EXTRA) $$($(BIN)/python -c \
		"import sys; t = __import__('tomllib' if sys.version_info >= (3, 11) else 'tomli'); \
		print(*t.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['bench'])")
	touch $(BENCH_STAMP)

install: $(STAMP)  ## create .venv and install lstmcast with its dev tools

demo: $(STAMP)  ## train on a real monthly series and print a 12-month forecast
	rm -rf runs/demo
	$(BIN)/lstmcast train sample_data/airpassengers.csv --out runs/demo --seed 0
	$(BIN)/lstmcast predict --model runs/demo

test: $(STAMP)  ## the whole suite
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: $(STAMP)  ## the edit loop: skips the tests marked slow (subprocesses, DDP, signals)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff, mypy and the import-linter contracts (layers, who may import rich)
	$(BIN)/ruff check lstmcast tests bench
	$(BIN)/mypy lstmcast
	$(BIN)/lint-imports

bench: $(STAMP) $(BENCH_STAMP)  ## speed, memory, contention, a short series, M3 monthly vs AutoETS (about 15 minutes; bench-quick: under a minute)
	$(BIN)/python bench/speed.py
	$(BIN)/python bench/contention.py
	$(BIN)/python bench/m3.py --stats-python $(BENCH_VENV)/bin/python --subsets monthly --seeds 0

bench-quick: $(STAMP)
	$(BIN)/python bench/speed.py --quick

bench-accuracy: $(STAMP)  ## rolling-origin backtest on every shared series
	$(BIN)/python bench/accuracy.py

bench-m3: $(STAMP) $(BENCH_STAMP)  ## M3 competition holdout, 4 subsets x seeds 0,1,2, vs statsforecast (20+ minutes)
	$(BIN)/python bench/m3.py --stats-python $(BENCH_VENV)/bin/python --seeds 0,1,2 $(M3_ARGS)

clean:
	rm -rf $(VENV) runs build *.egg-info .pytest_cache .mypy_cache .ruff_cache
