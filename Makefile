# notes-api: `make` lists the targets. Every target installs what it needs first.
#
# A comment after a target's name (`target: deps ## what it does`) is its line in `make help`.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# Use poetry from PATH when it can export the lock; else a private copy in .tools/ (made on demand).
TOOLS := $(CURDIR)/.tools
ifeq ($(origin POETRY), undefined)
POETRY := $(shell poetry export --help >/dev/null 2>&1 && command -v poetry || echo $(TOOLS)/bin/poetry)
endif
VENV := $(CURDIR)/.venv
RUN := $(VENV)/bin/python
GROUPS := embedded,dev,load,docs

# Settings the Makefile passes on when given: `make run PORT=5050`.
export HOST PORT DATABASE_URL LOG_LEVEL WORKERS

# `make start` keeps the server's pid and output here; `make adminer` serves on ADMINER_PORT.
PID_FILE ?= run.pid
LOG_FILE ?= run.log
SERVER := $(RUN) scripts/server.py --pid-file $(PID_FILE) --log-file $(LOG_FILE)
export ADMINER_PORT

.PHONY: help install lock run start status stop tail adminer test test-lowest-sqlalchemy check lint migrate migration docs-serve docs-build publish screenshots clean
.PHONY: seed service-up load-test load-test-headless bench bench-scale bench-data-layer
.PHONY: cluster cluster-down test-cluster

help: ## List the targets
	@echo "notes-api: make <target>"
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

$(TOOLS)/bin/poetry:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "error: notes-api needs Python 3.11+ ($(PYTHON) is $$($(PYTHON) -V 2>&1))"; exit 1; }
	@echo "poetry is not on PATH (or cannot export): installing it in .tools/"
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet poetry poetry-plugin-export

# Poetry resolves (poetry.lock) and exports; pip installs the exported, hash-pinned requirements.
# pip needs only the simple package index, which every mirror and proxy serves.
$(VENV)/.installed: pyproject.toml poetry.lock | $(POETRY)
	$(POETRY) check --lock
	test -x $(RUN) || $(PYTHON) -m venv $(VENV)
	$(POETRY) export --with $(GROUPS) --format requirements.txt --output $(VENV)/requirements.txt
	$(RUN) -m pip install --quiet --disable-pip-version-check --require-hashes -r $(VENV)/requirements.txt
	@# The project itself, editable, so `python -m notes_api...` and `alembic` import src/notes_api.
	$(RUN) -m pip install --quiet --disable-pip-version-check --no-deps --editable .
	touch $@

install: $(VENV)/.installed ## Install the project (Python packages, in .venv/)

lock: | $(TOOLS)/bin/poetry ## Refresh poetry.lock after changing dependencies in pyproject.toml
	$(TOOLS)/bin/python scripts/lock.py

run: install ## Serve the API on http://127.0.0.1:5000 with auto-reload (foreground)
	RELOAD=true $(RUN) src/main.py

start: install ## Start the API in the background (pid in run.pid, log in run.log); waits for /ready
	@$(SERVER) start

status: install ## Tell whether the API started by `make start` runs (pid file, then /health)
	@$(SERVER) status

stop: install ## Stop the API started by `make start`: SIGTERM, then wait for it to end
	@$(SERVER) stop

tail: ## Follow the log of the API started by `make start`
	@test -f $(LOG_FILE) || { echo "error: no $(LOG_FILE) yet: make start"; exit 1; }
	tail -n 50 -F $(LOG_FILE)

adminer: install ## Serve Adminer on http://127.0.0.1:8080 for the service's database
	@$(RUN) scripts/adminer.py

migrate: install ## Apply pending database migrations
	$(RUN) -m notes_api.migrate

migration: install ## Write a migration from changes to tables.py: make migration MSG="add tags"
	@test -n "$(MSG)" || { echo 'error: say what it does: make migration MSG="add tags"'; exit 2; }
	$(RUN) -m notes_api.migrate revision -m "$(MSG)"

test: install ## Run the test suite (embedded PostgreSQL, or TEST_DATABASE_URL)
	$(RUN) -m pytest $(PYTEST_ARGS)

test-cluster: install ## Run the scenarios on a cluster of network namespaces and print their figures (root; ~3 min)
	$(RUN) -m pytest -m cluster -s -p no:cacheprovider tests/test_cluster.py $(PYTEST_ARGS)

cluster: install ## Start HAProxy, two API instances and a primary/standby PostgreSQL as hosts in network namespaces (root); prints the URLs
	$(RUN) scripts/cluster.py up

cluster-down: install ## Stop the cluster `make cluster` started and remove its namespaces
	$(RUN) scripts/cluster.py down

test-lowest-sqlalchemy: install ## Run the data layer's tests on the lowest SQLAlchemy pyproject.toml admits (.venv-lowest/)
	$(RUN) scripts/lowest_sqlalchemy.py

check: install ## Lint and type-check: ruff, ruff format --check, mypy --strict
	$(RUN) -m ruff check .
	$(RUN) -m ruff format --check .
	$(RUN) -m mypy

lint: install ## Format the code and apply ruff's safe fixes
	$(RUN) -m ruff format .
	$(RUN) -m ruff check --fix .

DOCS_PORT ?= 8000

# docs-serve is not strict: a link to a page not yet written is a warning while you edit, not a
# dead preview. docs-build (and CI) are.
docs-serve: install ## Preview the docs site with live reload on http://127.0.0.1:8000 (DOCS_PORT=...)
	$(VENV)/bin/mkdocs serve --no-strict --dev-addr 127.0.0.1:$(DOCS_PORT)

docs-build: install ## Build the docs site into site/, failing on any warning (mkdocs --strict)
	$(VENV)/bin/mkdocs build --strict

publish: install ## Publish the docs site to GitHub Pages (the gh-pages branch of origin)
	$(VENV)/bin/mkdocs gh-deploy --force

screenshots: install ## Retake the docs' screenshots from the running service (needs chromium)
	$(RUN) scripts/screenshots.py
	@# Adminer's picture comes from its browser test, which drives the real `make adminer`.
	ADMINER_SCREENSHOT=$(CURDIR)/docs/images/adminer-notes.png $(RUN) -m pytest -q -p no:cacheprovider tests/test_adminer_browser.py

# Load tests and benchmarks aim at the service on HOST:PORT (default 127.0.0.1:5000).
LOAD_HOST = http://$(or $(HOST),127.0.0.1):$(or $(PORT),5000)
USERS ?= 50
SPAWN ?= 10
DURATION ?= 30s
N ?= 100000

seed: install ## Add N generated notes with COPY, fast: make seed N=1000000
	$(RUN) scripts/seed.py $(N)

# Locust against nothing prints a traceback per simulated user: check the service answers first.
service-up: install
	@$(RUN) -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' \
		$(LOAD_HOST)/health 2>/dev/null || { echo "error: no service answers on $(LOAD_HOST):" \
		"start it first (make start, or make run in another terminal), or give HOST= PORT="; exit 1; }

load-test: service-up ## Locust's web UI on http://127.0.0.1:8089 against the running service
	$(VENV)/bin/locust -f locustfile.py --host $(LOAD_HOST) --web-host 127.0.0.1 --web-port 8089

load-test-headless: service-up ## Locust without UI: make load-test-headless USERS=50 SPAWN=10 DURATION=30s (reports/)
	mkdir -p reports
	$(VENV)/bin/locust -f locustfile.py --host $(LOAD_HOST) --headless --only-summary \
		--users $(USERS) --spawn-rate $(SPAWN) --run-time $(DURATION) \
		--csv reports/locust --html reports/locust.html

bench: install ## Benchmark the service against FastAPI's floor and the reference app in bench/ (wrk; ~5 min)
	$(RUN) scripts/bench.py

bench-scale: install ## Cursor page time at 1k vs 1M notes, and memory while exporting 1M notes
	$(RUN) scripts/bench_scale.py

bench-data-layer: install ## Client CPU per query: Statements vs raw asyncpg vs stock databases (~1 min)
	$(RUN) bench/data_layer.py

clean: ## Remove the virtualenv, caches and built files (keeps .data/, your notes)
	rm -rf $(VENV) $(CURDIR)/.venv-lowest $(TOOLS) .pytest_cache .mypy_cache .ruff_cache site reports
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
