# Two commands do all the set-up: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.stamp-install
HOST   ?= 127.0.0.1
PORT   ?= 8443

.PHONY: install run test test-fast check system-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

## The console on the embedded default (SQLite) with a demo fleet, at the printed URL.
run: install
	$(BIN)/otwatch console demo --host $(HOST) --port $(PORT)

# pytest's exit code 5 ("no tests collected") is a failure here, not a pass: a broken collection or
# a marker expression selecting nothing must not look green.
PYTEST := rc=0; $(BIN)/python -m pytest
NO_TESTS_FAIL := || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating as a failure"; exit 1; fi; \
	exit $$rc

## The whole suite: unit, API, end-to-end, PostgreSQL leg and browser tests (every tier).
test: check system-deps
	@$(PYTEST) $(PYTEST_ARGS) $(NO_TESTS_FAIL)

## The inner loop: the `fast` tier (unit and API tests on SQLite; tiers in tests/conftest.py).
test-fast: install
	@$(PYTEST) -m fast $(PYTEST_ARGS) $(NO_TESTS_FAIL)

## ruff format, ruff, mypy --strict and the import-linter layer contracts (pyproject.toml).
check: install
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
