# The two commands of the README: `make run` (the whole stack on the embedded sandbox, with a demo
# payment) and `make test` (installs and runs every test tier).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install dev unit web integration lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The stack's supervisor runs as make's child, in make's process group, and stops every process it
# started on SIGINT, SIGTERM or SIGHUP (sandbox/stack.py). Ctrl-C and a closing terminal signal the
# whole group; make passes a SIGTERM sent to it alone on to the supervisor. make does not pass on a
# SIGINT or SIGHUP sent to it alone (it waits for its child): signal the group (`kill -INT -PGID`).
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

# Static checks (not yet part of `make test`): ruff on everything, mypy on app/ and tasks/, pip-audit
# on the installed dependencies (needs the PyPI or OSV vulnerability service to be reachable).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pip-audit --progress-spinner off --skip-editable

# Benchmarks beside bare Celery and Flask baselines, and the hostile-traffic check, each on its own
# redis-server (bench/README.md); about 7 minutes.
bench: $(STAMP)
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.end_to_end
	$(BIN)/python -m bench.epicor_calls
	$(BIN)/python -m bench.hostile

clean:
	rm -rf $(VENV) .run .sandbox
