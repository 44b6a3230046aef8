PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test fuzz chaos lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The demo: the demo users and the DEMO-SLA procedure, whose alerts fire within minutes.
up: $(STAMP)
	MOTCUA_DEMO=true $(BIN)/motcua up

# The tests spend most of their time waiting (on timers, the bus, retries), so more workers than
# cores pay; TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 4

# The browser tests (tests/browser) drive Debian's Chromium, installed here when it is missing.
CHROMIUM := /usr/bin/chromium

test: $(STAMP)
	@test -x $(CHROMIUM) || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
		|| { echo "make test: $(CHROMIUM) is missing; install Debian's chromium package as root (apt-get install chromium)" >&2; exit 1; }
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)
	$(BIN)/python -m pytest -q tests/browser

# Schemathesis against the three services on a private nats-server, with an admin token and without
# one: any 5xx fails. FUZZ_EXAMPLES bounds the cases per operation.
fuzz: $(STAMP)
	$(BIN)/python tests/api_fuzz.py --max-examples $(or $(FUZZ_EXAMPLES),25)

# A 3-node NATS cluster and two processes of each service on PostgreSQL, with nodes and replicas
# killed under load; needs MOTCUA_TEST_POSTGRES_URL.
chaos: $(STAMP)
	$(BIN)/python -m pytest -q tests/chaos $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check shared services tests bench
	$(BIN)/ruff format --check shared services tests bench
	$(BIN)/mypy shared services bench

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
