# One-command set-up: `make demo` and `make test` create .venv (pinned by constraints.txt) when needed.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.medimg-installed

.PHONY: demo test lint unit slow clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	# pyradiomics 3.0.1 (optional radiomics features) only builds without build isolation.
	$(BIN)/python -m pip install -q -c constraints.txt versioneer
	$(BIN)/python -m pip install -q -c constraints.txt --no-build-isolation pyradiomics==3.0.1
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/medimg demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# Two worker processes (pytest-xdist), a test file to each at a time: the suite takes about half the time on two
# cores; tests/conftest.py gives each worker one torch thread.
unit: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile

test: lint unit

slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
