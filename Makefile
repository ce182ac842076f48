# syncaudit — every target bootstraps itself: on a fresh clone `make test` or `make demo` is the one command.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export GX_ANALYTICS_ENABLED := false

.PHONY: setup test lint demo lab bench clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt sandbox/requirements.txt constraints.txt pyproject.toml sandbox/pyproject.toml lib/syncaudit/report/assets.py bench/febrl.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt -r sandbox/requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps -e . -e ./sandbox
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	$(PY) -m syncaudit.report.assets
	$(PY) bench/febrl.py --fetch
	@touch $(STAMP)

# --dist loadfile: a module runs in one worker, in order (tests/test_ic_endpoints.py checks, last, what its other tests validated)
test: setup
	$(PY) -m ruff check lib tests bench sandbox
	$(PY) -m pytest -n 2 --dist loadfile -q

lint: setup
	$(PY) -m ruff check lib tests bench sandbox
	$(PY) -m ruff format --check lib tests bench sandbox

demo: setup
	$(VENV)/bin/syncaudit demo

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .sandbox .pytest_cache .ruff_cache
