# The two set-up commands of the README: `make demo` and `make test`.
# Each creates .venv when missing and installs cytogate with every extra.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install browser lint test demo bench fuzz clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all]'
	@touch $(STAMP)

install: $(STAMP)

# Debian's chromium for the report's browser test, where it can be installed.
browser:
	@bash tools/ensure-chromium.sh

test: $(STAMP) browser lint
	$(PY) -m pytest -n 2 --dist loadgroup -q

# ruff and mypy, configured in pyproject.toml; both run by make test
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(PY) -m mypy

demo: $(STAMP)
	$(VENV)/bin/cytogate demo --out demo_output

bench: $(STAMP)
	$(PY) benchmarks/run.py

fuzz: $(STAMP)
	$(PY) -m pytest tests/hardening -m slow -q

clean:
	rm -rf $(VENV) demo_output .pytest_cache
