# The two commands of the README: `make run` (the whole stack on the embedded sandbox, with a demo
# payment) and `make test` (installs and runs every test tier).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install dev unit web integration lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m sandbox.stack

test: $(STAMP)
	$(BIN)/python -m pytest tests -q -p no:cacheprovider

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q

web: $(STAMP)
	$(BIN)/python -m pytest tests/web -q

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration -q

clean:
	rm -rf $(VENV) .run .sandbox
