# One command each: run, test, lint, bench. Each sets up what it needs first.
#   make run    – install, migrate, seed demo accounts and candidates, start web + worker (Ctrl-C stops both)
#   make test   – install (with test tools), then the whole suite, on TEST_WORKERS processes
#   make lint   – ruff check, ruff format --check and the import contracts (pyproject.toml)
#   make bench  – the benchmarks in bench/, printing their figures

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VAR := var

# OS packages as command:package pairs. The portal needs git (hosting) and bubblewrap (sandbox);
# the browser tests also need Debian's chromium, the reverse-proxy test nginx and openssl, and the
# topology test's backup and restore PostgreSQL's client tools, the sandbox's per-run services
# PostgreSQL 15's server (a command may be a path: it is not on PATH) and redis-server, the example
# package on Node.js node and npm, the one in Go golang-go; the deploy test checks the systemd units
# with systemd-analyze. A worker host scoring packages of those runtimes or services needs the same.
RUN_OS_PACKAGES := git:git bwrap:bubblewrap
TEST_OS_PACKAGES := $(RUN_OS_PACKAGES) chromium:chromium nginx:nginx openssl:openssl pg_dump:postgresql-client \
  /usr/lib/postgresql/15/bin/postgres:postgresql-15 node:nodejs npm:npm systemd-analyze:systemd redis-server:redis-server \
  go:golang-go

.PHONY: run test lint format migrations-check bench setup setup-dev lock os-packages os-packages-test clean

# apt-get waits up to this many seconds for another package manager (an unattended upgrade, another
# make) to finish, saying so once, instead of failing at once on its lock; then it gives up with a
# sentence. deploy/wait_for_apt.py covers the lock `apt-get update` takes, which apt's option does not.
APT_LOCK_TIMEOUT := 600
apt_get = { { ! command -v $(PYTHON) >/dev/null 2>&1 || $(PYTHON) deploy/wait_for_apt.py --timeout $(APT_LOCK_TIMEOUT); } \
  && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=$(APT_LOCK_TIMEOUT) $(1); }

# Debian starts the service of a package it installs (nginx would listen on port 80) unless
# /usr/sbin/policy-rc.d exits 101; where there is none (no systemd, as in a container), one is
# put there for the install and removed afterwards. An existing one is left alone.
define ensure_os_packages
	@missing=""; \
	for pair in $(1); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing OS packages:$$missing"; \
	    policy=""; \
	    if [ ! -e /usr/sbin/policy-rc.d ]; then \
	      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy=ours; \
	    fi; \
	    $(call apt_get,update -qq) && $(call apt_get,install -y -qq --no-install-recommends $$missing); \
	    status=$$?; \
	    if [ "$$policy" = ours ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	    [ $$status = 0 ] || exit $$status; \
	  else \
	    echo "Missing OS packages:$$missing"; \
	    echo "Install them first, for example: sudo apt-get install$$missing"; \
	    exit 1; \
	  fi; \
	fi
endef

# Sandbox runtimes are virtualenvs of Debian's own interpreter (its files live under /usr,
# which the sandbox binds read-only), so it needs python3.11 with venv and ensurepip.
SANDBOX_PYTHON := /usr/bin/python3.11

define ensure_sandbox_python
	@$(SANDBOX_PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's python3.11 and python3.11-venv for sandbox runtimes"; \
	    $(call apt_get,update -qq) && $(call apt_get,install -y -qq --no-install-recommends python3.11 python3.11-venv); \
	  else \
	    echo "Sandbox runtimes need $(SANDBOX_PYTHON) with venv: sudo apt-get install python3.11 python3.11-venv"; \
	    exit 1; \
	  fi; }
endef

os-packages:
	$(call ensure_os_packages,$(RUN_OS_PACKAGES))
	$(call ensure_sandbox_python)

os-packages-test:
	$(call ensure_os_packages,$(TEST_OS_PACKAGES))
	$(call ensure_sandbox_python)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "Python 3.11 or newer is needed"' \
	  || { echo "$(PYTHON) is too old: set PYTHON=python3.11"; exit 1; }
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    $(call apt_get,update -qq) && $(call apt_get,install -y -qq python3-venv); \
	  else echo "Python's venv module is missing: sudo apt-get install python3-venv"; exit 1; fi; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps make the install step re-run only when the pins change.
$(VENV)/.installed-run: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.txt
	@touch $@ $(VENV)/.installed-run

setup: os-packages $(VENV)/.installed-run
	@mkdir -p $(VAR)

setup-dev: os-packages-test $(VENV)/.installed-dev
	@mkdir -p $(VAR)

run: setup
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo
	@$(BIN)/python -c 'from portal.serve import announce; announce()'
	exec $(BIN)/honcho start -f Procfile

# The suite runs on TEST_WORKERS processes (pytest-xdist), each with its own database, broker, data
# directory and sandbox slots (tests/settings.py). A file's tests stay on one process, so its module
# fixtures (a Celery worker, gunicorn) start once. Most tests wait on git, the sandbox, a browser or
# a worker rather than compute, so there are more processes than cores.
TEST_WORKERS ?= 4
# The slowest tests are printed at the end of every run: where the suite's time goes, measured.
TEST_DURATIONS ?= 30

test: setup-dev
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=$(TEST_DURATIONS) $(PYTEST_ARGS)

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: setup-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrations-check: setup
	$(BIN)/python manage.py makemigrations --check --dry-run

# requirements.txt and requirements-dev.txt are locks of the whole tree with hashes, compiled from
# requirements.in and requirements-dev.in by the pip-tools that the dev lock pins; the runtime lock
# constrains the dev one. Versions already locked are kept: to move one, for example
#   make lock LOCK_ARGS="--upgrade-package redis"
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes \
  --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)

# The grader's own lock (grader/requirements.txt, for authoring without the portal) is compiled
# at the portal's versions.
lock: $(VENV)/.installed-dev
	$(PIP_COMPILE) --output-file=requirements.txt requirements.in
	$(PIP_COMPILE) --output-file=requirements-dev.txt requirements-dev.in
	$(PIP_COMPILE) --output-file=grader/requirements.txt grader/requirements.in

# lighttpd serves git http-backend over plain CGI: the baseline of bench/git_transport.py.
BENCH_OS_PACKAGES := lighttpd:lighttpd

bench: setup-dev
	$(call ensure_os_packages,$(BENCH_OS_PACKAGES))
	@set -e; found=0; for script in bench/*.py; do \
	  case "$$(basename $$script)" in _*) continue;; esac; \
	  [ -e "$$script" ] || continue; found=1; \
	  echo "== $$script"; $(BIN)/python $$script; \
	done; \
	[ $$found = 1 ] || echo "No benchmarks yet in bench/."

clean:
	rm -rf $(VENV) $(VAR) .pytest_cache .ruff_cache
