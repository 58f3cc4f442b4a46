# The two commands of the README: `make demo` (main job, no servers) and `make test` (everything);
# `make check` is the quick loop while editing (lint, and the tests that need no server and are not slow).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint lab bench notebooks nbval clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/supreme demo

lint: $(STAMP)
	$(BIN)/ruff check supreme sim lab tests benchmarks
	$(BIN)/mypy

NBVAL := $(BIN)/python -m pytest --nbval --nbval-current-env notebooks \
	--nbval-sanitize-with notebooks/nbval_sanitize.cfg -p no:cacheprovider

test: $(STAMP) lint
	$(BIN)/python -m pytest tests
	env -u SUPREME_REDIS_URL -u SUPREME_DATABASE_URL $(NBVAL)

check: $(STAMP) lint
	$(BIN)/python -m pytest tests -q -m "not slow and not real_redis and not real_postgres"

# re-execute every notebook from its notebooks/py/ source and store the outputs nbval compares
notebooks: $(STAMP)
	$(BIN)/python notebooks/run_all.py

nbval: $(STAMP)
	env -u SUPREME_REDIS_URL -u SUPREME_DATABASE_URL $(NBVAL)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean-venv:
	rm -rf $(VENV)
