# The two commands of the README: `make demo` (main job, no servers) and `make test` (everything);
# `make check` is the quick loop while editing (lint, and the tests that need no server and are not slow).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pinned versions of every dependency (all extras), used by every install: refresh with `make lock`
CONSTRAINTS := requirements/constraints.txt
# -qq: errors only; this machine's pip config names a second local index whose missing folders pip
# reports one WARNING line per package (~280 lines), and setuptools warns about editable installs
PIP := $(BIN)/python -m pip install -qq --disable-pip-version-check -c $(CONSTRAINTS)
# two stamps: `make demo` installs only the package's own dependencies, `make test` adds the dev stack
BASE_STAMP := $(VENV)/.installed-base
STAMP := $(VENV)/.installed-dev

.PHONY: demo test check lint lab bench notebooks nbval clean-venv lock wheel-check

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --disable-pip-version-check --upgrade pip

$(BASE_STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) -e .
	touch $(BASE_STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) -e '.[dev]'
	touch $(BASE_STAMP) $(STAMP)

demo: $(BASE_STAMP)
	@echo "note: a first run also compiles the numba kernels (about 10 s more); later runs load them from disk"
	$(BIN)/supreme demo

# re-resolve the pins from pyproject's extras, keeping every pin that still fits (uv, a dev dependency);
# `make lock UPGRADE=1` moves every package to its newest allowed version
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python $(BIN)/python -o $(CONSTRAINTS) \
		$(if $(UPGRADE),--upgrade) --quiet
	@echo "wrote $(CONSTRAINTS); run 'make test' to install and check it"

# python -m build (sdist, then the wheel from it), install the wheel in a fresh venv, run `supreme demo`
wheel-check: $(STAMP)
	bash .ci/wheel_check.sh $(BIN)/python

lint: $(STAMP)
	$(BIN)/ruff check supreme sim lab tests benchmarks
	$(BIN)/mypy

# notebooks store the shipped measured book's numbers: a user's `sim calibrate` book must not change them
SHIPPED_BOOK := $(CURDIR)/sim/models/defaults/latency_book.json
NBVAL := $(BIN)/python -m pytest --nbval --nbval-current-env notebooks \
	--nbval-sanitize-with notebooks/nbval_sanitize.cfg -p no:cacheprovider

test: $(STAMP) lint
	$(BIN)/python -m pytest tests
	env -u SUPREME_REDIS_URL -u SUPREME_DATABASE_URL SUPREME_LATENCY_BOOK=$(SHIPPED_BOOK) $(NBVAL)
	$(MAKE) --no-print-directory wheel-check

check: $(STAMP) lint
	$(BIN)/python -m pytest tests -q -m "not slow and not real_redis and not real_postgres"

# re-execute every notebook from its notebooks/py/ source and store the outputs nbval compares
notebooks: $(STAMP)
	$(BIN)/python notebooks/run_all.py

nbval: $(STAMP)
	env -u SUPREME_REDIS_URL -u SUPREME_DATABASE_URL SUPREME_LATENCY_BOOK=$(SHIPPED_BOOK) $(NBVAL)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean-venv:
	rm -rf $(VENV)
