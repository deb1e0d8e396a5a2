# The two commands of the README: `make demo` and `make test`.
# Both install what they need themselves: a .venv, the npm packages, and Chromium.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
NODE_INSTALLED := node_modules/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: test demo lint docs bench chromium install clean

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

test: install chromium
	$(PY) -m pytest
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html

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
