# The two commands of the README: `make demo` and `make test`.
# Both install what they need themselves: a .venv, the npm packages (pusher-js,
# soketi, laravel-echo), Chromium and, for the soketi cluster, redis-server.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
NODE_INSTALLED := node_modules/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: test test-bundled demo lint docs bench chromium redis install clean

install: $(INSTALLED) $(NODE_INSTALLED)

$(INSTALLED): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[server,test,docs,lint]"
	touch $@

$(NODE_INSTALLED): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Browser tests drive Debian's Chromium; Playwright's own browser download
# does not work offline, so it is never used.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# The end-to-end tests of two soketi nodes share channels through redis-server
# (started by the tests on a free loopback port, nothing saved to disk).
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "Installing Debian's redis-server for the soketi cluster tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server; }

# Every Pusher target: the bundled server, one soketi, a two-node soketi cluster.
# PUSHERABLE_REQUIRE_TARGETS turns a missing soketi, redis-server, Chromium, Node.js or
# npm package into a failure instead of a skip (tests/tools.py).
test: install chromium redis
	PUSHERABLE_REQUIRE_TARGETS=1 $(PY) -m pytest --pusher-target=all
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html

# The quicker loop: end-to-end tests against the bundled server only.
test-bundled: install chromium
	$(PY) -m pytest --pusher-target=bundled

lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

docs: $(INSTALLED)
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

demo: install
	$(PY) demo/run.py

bench: install
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) node_modules docs/_build .pytest_cache .mypy_cache .ruff_cache
