# Two commands on a fresh machine:  make demo   |   make test
VENV    ?= .venv
PYTHON  ?= python3
STAMP   := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint bench system-deps lock

# Says what it installs and how long it took (the first run is a minute or two).
$(STAMP): requirements.lock pyproject.toml
	@scripts/install-python-deps "$(PYTHON)" "$(VENV)" "$(STAMP)"

demo: $(STAMP)
	$(VENV)/bin/slaguard demo

system-deps:
	@scripts/install-system-deps

test: $(STAMP) system-deps
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check slaguard probes slo exporters alerting grafana compensation demo openslo capacity tests bench
	$(VENV)/bin/mypy slaguard probes slo exporters alerting grafana compensation demo openslo capacity

bench: $(STAMP) system-deps
	$(VENV)/bin/python bench/probe_throughput.py

# Refresh the lock after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(VENV)/bin/pip install -q uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
