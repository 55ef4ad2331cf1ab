# Two commands do all the set-up on a fresh machine with Python 3.11+:
#   make run    start the service (embedded PostgreSQL and Redis unless URLs are configured)
#   make test   lint, type-check, the whole suite, then the smoke set on the embedded servers
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint install containers

$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/licenceflow dev

lint: $(STAMP)
	$(BIN)/ruff check services tests
	$(BIN)/ruff format --check services tests
	$(BIN)/mypy

# The dashboard's browser test drives Debian's chromium (nothing downloads a browser).
CHROMIUM ?= /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get install -y -q chromium || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

test: lint $(CHROMIUM)
	$(BIN)/pytest -m timing  # first, in a process of its own: a quiet machine, nothing to share
	$(BIN)/pytest -m "not timing and not containers"
	$(BIN)/python -m tests.mutants  # each guarantee broken on purpose: its test must fail
	LICENCEFLOW_TEST_BACKEND=embedded $(BIN)/pytest -m smoke
	$(MAKE) --no-print-directory containers

# The container tests (tests/containers: the image, the compose stack under load, Kubernetes'
# containers), then the smoke set on testcontainers' PostgreSQL and Redis; when a Docker engine
# answers, or can be started here (root and Debian's docker.io: it is stopped afterwards).
# LICENCEFLOW_REQUIRE_CONTAINERS=1 (CI) fails where neither is possible, instead of saying so.
CONTAINER_TESTS := $(BIN)/pytest -m containers \
	&& LICENCEFLOW_TEST_BACKEND=testcontainers $(BIN)/pytest -m smoke

containers: $(STAMP)
	@if $(BIN)/python -m tests.containers.engine available; then \
		$(BIN)/python -m tests.containers.engine run sh -c '$(CONTAINER_TESTS)'; \
	elif [ -n "$$LICENCEFLOW_REQUIRE_CONTAINERS" ]; then \
		echo "container tests: no Docker engine, and none can be started here" >&2; exit 1; \
	else \
		echo "container tests not run: no Docker engine, and none can be started here"; \
	fi
