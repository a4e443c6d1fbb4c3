# Two entry points for a fresh machine: `make run` and `make test`; both build .venv via `make setup`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test bench flops clean

setup: $(STAMP)

# The package itself, editable, with its test extra: pyproject.toml is the one list of dependencies,
# and the dirnet-* commands land in .venv/bin.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: setup
	$(PY) main.py $(ARGS)

# The OpenGL mesh view needs a real X server: run the suite under Xvfb when it is installed.
test: setup
	@if command -v xvfb-run >/dev/null 2>&1 && [ -z "$$DISPLAY" ]; then \
		xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) -m pytest -q tests; \
	else \
		$(PY) -m pytest -q tests; \
	fi

bench: setup
	$(PY) -m dirnet.bench

flops: setup
	$(PY) -m dirnet.flops

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
