# Included by the Makefile: `make bench` (every figure, bench-results/latest.json + table)
# and `make bench-quick` (reduced sizes, under a minute). Benchmarks never fail on a time.
BENCH_OUT ?= bench-results/latest.json

.PHONY: bench bench-quick

## bench: every benchmark, each figure beside its bare baseline; writes $(BENCH_OUT)
bench: install
	$(PY) -m bench --out $(BENCH_OUT)

## bench-quick: the same code paths on reduced sizes (under a minute)
bench-quick: install
	$(PY) -m bench --quick --out bench-results/quick.json
