# Two commands do everything on a fresh machine:
#   make run    execute the tutorial notebook headless and print the test accuracy
#   make test   lint, check the notebook's text copy, run pytest and nbval
# Both create the virtual environment .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOK := notebooks/mnist_tutorial.ipynb
BUILD := build

export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: run test lint sync train benchmark benchmark-quick lab clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python tools/run_notebook.py $(NOTEBOOK) --output-dir $(BUILD)

test: $(STAMP) lint
	$(BIN)/python tools/sync_notebook.py --check
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Rewrite the text copy (notebooks/*.py) from the notebook after editing it.
sync: $(STAMP)
	$(BIN)/python tools/sync_notebook.py

train: $(STAMP)
	$(BIN)/python -m mnist_helpers train

benchmark: $(STAMP)
	$(BIN)/python benchmarks/benchmark.py

benchmark-quick: $(STAMP)
	$(BIN)/python benchmarks/benchmark.py --quick

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(BUILD) .pytest_cache .ruff_cache
