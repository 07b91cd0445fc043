# Two commands for a newcomer (see README "Quick start"):
#   make demo   set everything up, then run the main job on a built-in example
#   make test   set everything up, then run the test suite
#   make lint   ruff (lint + format check) and mypy, as CI runs them before the tests
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= sam,viewer,ray,dev

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	VENV=$(VENV) EXTRAS=$(EXTRAS) bash scripts/setup.sh
	@touch $@

demo: setup
	$(VENV)/bin/omniseg-mesh demo --out demo_out

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check omniseg3d_mesh tests tools
	$(VENV)/bin/ruff format --check omniseg3d_mesh tests tools
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) demo_out .pytest_cache
