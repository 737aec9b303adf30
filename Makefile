# Entry points: `make demo`, `make test` (derandomized: the same examples every run) and
# `make fuzz` (many random Hypothesis examples). Each creates .venv and installs as needed.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DEMO    = models/demo

.PHONY: demo test fuzz
demo: $(VENV)/.installed
	$(BIN)/forecast inspect data/sp500.csv
	$(BIN)/forecast train data/sp500.csv --model-dir $(DEMO)
	$(BIN)/forecast predict --model $(DEMO) --steps 5 --interval 0.8
	$(BIN)/forecast evaluate data/sp500.csv --model $(DEMO)
	$(BIN)/forecast plot --model $(DEMO) --out $(DEMO)/plot.png

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

fuzz: $(VENV)/.installed-test
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/data/test_fuzz.py

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed
