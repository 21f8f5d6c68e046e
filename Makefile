# notes-api: `make` lists the targets. Every target installs what it needs first.
#
# A comment after a target's name (`target: deps ## what it does`) is its line in `make help`.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# Tools that work beside the project's virtualenvs, private copies in .tools/, made on demand: poetry,
# only to refresh poetry.lock (`make lock`); uv, to resolve the lowest and newest versions afresh
# (`make test-lowest`, `make test-newest`).
TOOLS := $(CURDIR)/.tools
# One virtualenv per Python, if you like: `make test PYTHON=python3.13 VENV=.venv-3.13`.
VENV ?= .venv
override VENV := $(abspath $(VENV))
RUN := $(VENV)/bin/python

# Settings the Makefile passes on when given: `make run PORT=5050`.
export HOST PORT DATABASE_URL LOG_LEVEL WORKERS

# `make start` keeps the server's pid and output here; `make adminer` serves on ADMINER_PORT.
PID_FILE ?= run.pid
LOG_FILE ?= run.log
SERVER := $(RUN) scripts/server.py --pid-file $(PID_FILE) --log-file $(LOG_FILE)
export ADMINER_PORT

.PHONY: help install tracing lock run start status stop tail adminer db-upgrade test test-lowest test-newest check lint migrate migration docs-serve docs-build publish screenshots clean
.PHONY: seed service-up load-test load-test-headless bench bench-against bench-scale bench-data-layer bench-layers bench-instructions
.PHONY: cluster cluster-down cluster-venv test-cluster

help: ## List the targets
	@echo "notes-api: make <target>"
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

PYTHON_CHECK := $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	{ echo "error: notes-api needs Python 3.11+ ($(PYTHON) is $$($(PYTHON) -V 2>&1))"; exit 1; }

$(TOOLS)/bin/python:
	@$(PYTHON_CHECK)
	$(PYTHON) -m venv $(TOOLS)

$(TOOLS)/bin/poetry: | $(TOOLS)/bin/python
	$(TOOLS)/bin/pip install --quiet --no-compile poetry

# scripts/bounds.py runs with this Python: uv beside it, packaging to read pyproject's requirements.
$(TOOLS)/bin/uv: | $(TOOLS)/bin/python
	$(TOOLS)/bin/pip install --quiet --no-compile uv packaging

# Poetry resolves (`make lock`); installing needs neither a resolver nor poetry: poetry.lock lists
# each group's packages with their markers and hashes, scripts/export_lock.py writes them out as
# hash-pinned requirements (after checking the lock matches pyproject.toml), pip installs them.
# pip needs only the simple package index, which every mirror and proxy serves. --no-compile:
# Python compiles a module when it is first imported; compiling every file of every package up
# front (all of SQLAlchemy's dialects) made the first `make run` slower.
PIP_INSTALL := $(RUN) -m pip install --quiet --disable-pip-version-check --no-compile

# The main group (what the service imports) and the project itself, editable, so that
# `python -m notes_api...` and `alembic` import src/notes_api.
$(VENV)/.installed-main: pyproject.toml poetry.lock
	@$(PYTHON_CHECK)
	test -x $(RUN) || $(PYTHON) -m venv $(VENV)
	$(RUN) scripts/export_lock.py main >$(VENV)/requirements-main.txt
	$(PIP_INSTALL) --require-hashes -r $(VENV)/requirements-main.txt
	$(PIP_INSTALL) --no-deps --editable .
	touch $@

# Each other group on top of it, the first time a target needs it (a stamp per group installed):
# embedded (the PostgreSQL of `make run`), dev (tests, linters), load (Locust, charts), docs.
$(VENV)/.installed-%: $(VENV)/.installed-main
	$(RUN) scripts/export_lock.py main $* >$(VENV)/requirements-$*.txt
	$(PIP_INSTALL) --require-hashes -r $(VENV)/requirements-$*.txt
	touch $@

installed = $(foreach group,$(1),$(VENV)/.installed-$(group))
SERVE := $(call installed,embedded)

install: $(SERVE) ## Install what running the service needs (in .venv/); other targets add theirs

tracing: $(call installed,tracing) ## Install OpenTelemetry, for tracing to OTEL_EXPORTER_OTLP_ENDPOINT (docs/observability.md)

lock: | $(TOOLS)/bin/poetry ## Refresh poetry.lock after changing dependencies in pyproject.toml (UPDATE="uvicorn ..." moves those to their newest)
	$(TOOLS)/bin/python scripts/lock.py $(UPDATE)

run: $(SERVE) ## Serve the API on http://127.0.0.1:5000 with auto-reload (foreground)
	RELOAD=true $(RUN) src/main.py

start: $(SERVE) ## Start the API in the background (pid in run.pid, log in run.log); waits for /ready
	@$(SERVER) start

status: $(SERVE) ## Tell whether the API started by `make start` runs (pid file, then /health)
	@$(SERVER) status

stop: $(SERVE) ## Stop the API started by `make start`: SIGTERM, then wait for it to end
	@$(SERVER) stop

tail: ## Follow the log of the API started by `make start`
	@test -f $(LOG_FILE) || { echo "error: no $(LOG_FILE) yet: make start"; exit 1; }
	tail -n 50 -F $(LOG_FILE)

adminer: $(SERVE) ## Serve Adminer on http://127.0.0.1:8080 for the service's database
	@$(RUN) scripts/adminer.py

db-upgrade: $(SERVE) ## Move the embedded PostgreSQL's data to its newest version (service stopped)
	@$(RUN) scripts/db_upgrade.py

migrate: $(SERVE) ## Apply pending database migrations
	$(RUN) -m notes_api.migrate

migration: $(SERVE) ## Write a migration from changes to tables.py: make migration MSG="add tags"
	@test -n "$(MSG)" || { echo 'error: say what it does: make migration MSG="add tags"'; exit 2; }
	$(RUN) -m notes_api.migrate revision -m "$(MSG)"

test: $(call installed,embedded dev docs tracing) ## Run the test suite (embedded PostgreSQL, or TEST_DATABASE_URL)
	$(RUN) -m pytest $(PYTEST_ARGS)

# Patroni runs the cluster's database nodes from a virtualenv of its own: the service does not
# import it, so it is not in poetry.lock. Pinned, hash-checked requirements; made on first use.
# On Debian's Python (apt-get install python3-venv): Patroni runs as PostgreSQL's user, who may not
# reach a Python installed for root alone (pyenv's, under /root).
CLUSTER_VENV := $(CURDIR)/.venv-cluster
CLUSTER_PYTHON ?= /usr/bin/python3
$(CLUSTER_VENV)/.installed: scripts/cluster/requirements.txt
	test -x $(CLUSTER_VENV)/bin/python || $(CLUSTER_PYTHON) -m venv $(CLUSTER_VENV) || \
		{ echo "error: no virtualenv from $(CLUSTER_PYTHON): apt-get install python3-venv"; exit 1; }
	$(CLUSTER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --use-pep517 --require-hashes \
		-r scripts/cluster/requirements.txt
	touch $@

# The cluster's code is the package scripts/cluster/ (python -m cluster).
CLUSTER := PYTHONPATH=$(CURDIR)/scripts $(RUN) -m cluster

cluster-venv: $(CLUSTER_VENV)/.installed ## Install Patroni for the cluster's database nodes (.venv-cluster/, from scripts/cluster/requirements.txt)

test-cluster: $(call installed,embedded dev) $(CLUSTER_VENV)/.installed ## Run the failover, switchover and partition scenarios on a Patroni cluster of network namespaces; print their figures (root; ~7 min)
	$(RUN) -m pytest -m cluster -s -p no:cacheprovider tests/test_cluster.py $(PYTEST_ARGS)

cluster: $(SERVE) $(CLUSTER_VENV)/.installed ## Start etcd, two PostgreSQL nodes under Patroni, HAProxy and two API instances as hosts in network namespaces (root); prints the URLs
	$(CLUSTER) up $(CLUSTER_ARGS)

cluster-down: $(SERVE) ## Stop the cluster `make cluster` started and remove its namespaces
	$(CLUSTER) down

# Both resolve afresh (scripts/bounds.py): neither needs .venv/, nor a poetry.lock up to date.
test-lowest: | $(TOOLS)/bin/uv ## Run the suite on the lowest versions pyproject.toml admits, on the oldest Python (.venv-lowest/; ~5 min)
	$(TOOLS)/bin/python scripts/bounds.py lowest -- $(PYTEST_ARGS)

test-newest: | $(TOOLS)/bin/uv ## Run the suite on the newest releases pyproject.toml admits; tells what differs from poetry.lock and what broke (.venv-newest/; ~5 min)
	$(TOOLS)/bin/python scripts/bounds.py newest --python $(PYTHON) -- $(PYTEST_ARGS)

check: $(call installed,embedded dev load tracing) ## Lint and type-check: ruff, ruff format --check, mypy --strict, the layers (lint-imports); zizmor on the workflows; squawk on the migrations
	$(RUN) -m ruff check .
	$(RUN) -m ruff format --check .
	$(RUN) -m mypy
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/zizmor --offline --quiet --no-progress .github/workflows/
	$(RUN) -m notes_api.migrate sql $(SQUAWKED_REVISIONS) >$(VENV)/migrations.sql
	$(VENV)/bin/squawk --pg-version 15 $(VENV)/migrations.sql

# squawk reads the SQL of the migrations written since the rules of docs/database.md ("Changing a
# table the service is writing to"): 0001 made the table from nothing, and 0002 was checked by hand.
SQUAWKED_REVISIONS := 0002:head

lint: $(call installed,dev) ## Format the code and apply ruff's safe fixes
	$(RUN) -m ruff format .
	$(RUN) -m ruff check --fix .

DOCS_PORT ?= 8000

# docs-serve is not strict: a link to a page not yet written is a warning while you edit, not a
# dead preview. docs-build (and CI) are.
docs-serve: $(call installed,docs) ## Preview the docs site with live reload on http://127.0.0.1:8000 (DOCS_PORT=...)
	$(VENV)/bin/mkdocs serve --no-strict --dev-addr 127.0.0.1:$(DOCS_PORT)

docs-build: $(call installed,docs) ## Build the docs site into site/, failing on any warning (mkdocs --strict)
	$(VENV)/bin/mkdocs build --strict

publish: $(call installed,docs) ## Publish the docs site to GitHub Pages (the gh-pages branch of origin)
	$(VENV)/bin/mkdocs gh-deploy --force

screenshots: $(call installed,embedded dev load) ## Retake the docs' screenshots from the running service (needs chromium; prometheus for its graph)
	$(RUN) scripts/screenshots.py
	@# Adminer's picture comes from its browser test, which drives the real `make adminer`.
	ADMINER_SCREENSHOT=$(CURDIR)/docs/images/adminer-notes.png $(RUN) -m pytest -q -p no:cacheprovider tests/test_adminer_browser.py

# Load tests and benchmarks aim at the service on HOST:PORT (default 127.0.0.1:5000).
LOAD_HOST = http://$(or $(HOST),127.0.0.1):$(or $(PORT),5000)
USERS ?= 50
SPAWN ?= 10
DURATION ?= 30s
N ?= 100000

seed: $(SERVE) ## Add N generated notes with COPY, fast: make seed N=1000000
	$(RUN) scripts/seed.py $(N)

# Locust against nothing prints a traceback per simulated user: check the service answers first.
service-up: $(call installed,load)
	@$(RUN) -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' \
		$(LOAD_HOST)/health 2>/dev/null || { echo "error: no service answers on $(LOAD_HOST):" \
		"start it first (make start, or make run in another terminal), or give HOST= PORT="; exit 1; }

# Locust's web UI, like the other servers the Makefile starts, takes its port from a variable.
LOCUST_PORT ?= 8089

load-test: service-up ## Locust's web UI on http://127.0.0.1:8089 (LOCUST_PORT=...) against the running service
	$(VENV)/bin/locust -f locustfile.py --host $(LOAD_HOST) --web-host 127.0.0.1 --web-port $(LOCUST_PORT)

load-test-headless: service-up ## Locust without UI: make load-test-headless USERS=50 SPAWN=10 DURATION=30s (reports/)
	mkdir -p reports
	$(VENV)/bin/locust -f locustfile.py --host $(LOAD_HOST) --headless --only-summary \
		--users $(USERS) --spawn-rate $(SPAWN) --run-time $(DURATION) \
		--csv reports/locust --html reports/locust.html

bench: $(call installed,embedded dev load) ## Benchmark the service against FastAPI's floor and the reference app in bench/ (wrk; ~10 min)
	$(RUN) bench/throughput.py

bench-against: $(call installed,embedded dev load) ## This checkout's service against itself at REF, side by side: make bench-against REF=HEAD~1 (~5 min)
	@test -n "$(REF)" || { echo 'error: name the commit to compare with: make bench-against REF=HEAD~1'; exit 2; }
	$(RUN) bench/against.py --ref $(REF)

bench-scale: $(call installed,embedded dev) ## Cursor page time at 1k vs 1M notes, and memory while exporting 1M notes
	$(RUN) bench/scale.py

bench-data-layer: $(call installed,embedded dev) ## Client CPU per query: Statements vs raw asyncpg vs stock databases (~1 min)
	$(RUN) bench/data_layer.py

bench-layers: $(call installed,embedded dev) ## CPU per request of the service, its pieces and FastAPI's floor, in process (~1 min)
	$(RUN) bench/layers.py --path '/notes/{id}'
	$(RUN) bench/layers.py --path '/notes?take=20'

bench-instructions: $(call installed,embedded dev) ## Instructions per request of the service with and without its metrics, and at the commit before observability (BEFORE=...), counted by valgrind (~10 min)
	@command -v valgrind >/dev/null || { echo 'error: needs valgrind: apt-get install valgrind'; exit 1; }
	$(RUN) bench/instructions.py $(if $(BEFORE),--before $(BEFORE))

clean: ## Remove the virtualenv, caches and built files (keeps .data/, your notes)
	rm -rf $(VENV) $(CURDIR)/.venv-lowest $(CURDIR)/.venv-newest $(CLUSTER_VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache site reports
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
