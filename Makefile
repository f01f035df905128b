# baton — two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
SHARED ?= $(abspath ../shared)
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck contracts unit tools envtest clean bench bench-quick screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(STAMP)

## run: a sample agent run end to end on the embedded shape (offline model without ANTHROPIC_API_KEY)
run: install
	$(BIN)/baton run config/samples/tools.yaml

## tools: what the tests need beyond Python packages (kubectl, envtest assets, Chromium)
tools:
	@command -v kubectl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client; }
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

## screenshots: the console screenshots in docs/ (headless Chromium on the samples)
screenshots: install tools
	$(PY) docs/screenshots.py

envtest:
	@if [ -z "$$KUBEBUILDER_ASSETS" ] && [ -z "$$BATON_TEST_KUBECONFIG" ] && [ -x "$(SHARED)/tools/envtest-assets" ]; then \
	  "$(SHARED)/tools/envtest-assets" >/dev/null; fi

lint: install
	$(BIN)/ruff check functions events tests bench
	$(BIN)/ruff format --check functions events tests bench
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

## test: lint, types, layer contracts and the whole suite (real nats-server, kube-apiserver, gunicorn)
test: install tools envtest lint typecheck
	@assets="$${KUBEBUILDER_ASSETS:-}"; \
	if [ -z "$$assets" ] && [ -x "$(SHARED)/tools/envtest-assets" ]; then assets="$$("$(SHARED)/tools/envtest-assets")"; fi; \
	KUBEBUILDER_ASSETS="$$assets" $(BIN)/pytest

clean:
	rm -rf .baton bench-results .pytest_cache .mypy_cache .ruff_cache

-include bench/bench.mk
