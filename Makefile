# Pronto: `make demo` runs the demo, `make test` runs every test. Both work on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export PRONTO_HOME ?= $(CURDIR)/.pronto

.PHONY: install provision demo test lint typecheck unit bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Kafka's jars (Maven), Prometheus, Chromium and kcat (Debian), the Twilio mock (npm).
provision: install
	bash scripts/provision-system.sh
	bash scripts/provision-twilio-mock.sh
	$(VENV)/bin/python -c "from pipeline.kafka_local import provision_jars; from pathlib import Path; import os; print('Kafka jars:', provision_jars(Path(os.environ['PRONTO_HOME'])))"

lint: install
	$(VENV)/bin/ruff check pipeline tests
	$(VENV)/bin/ruff format --check pipeline tests

typecheck: install
	$(VENV)/bin/mypy

test: provision lint typecheck
	$(VENV)/bin/pytest -q --timeout=600

unit: install
	$(VENV)/bin/pytest -q tests/unit

demo: install
	$(VENV)/bin/pronto demo

bench: provision
	$(VENV)/bin/pronto bench

clean:
	-$(VENV)/bin/pronto kafka down
	rm -rf .pronto tests/artifacts
