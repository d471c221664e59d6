# CNN Studio: `make run` starts the app, `make test` runs the whole suite headless.
# Both create .venv on first use and only reinstall when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
# Test workers: two by default (this project's machines have 2 cores).
JOBS   ?= 2
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-k engine"`.
PYTEST_ARGS ?=

.PHONY: run test fuzz lint typecheck bench screenshot bundle bundle-test clean help

help:
	@echo "make run         start CNN Studio (sets up .venv on first use)"
	@echo "make test        run the whole test suite headless"
	@echo "make fuzz        long fuzz campaign of every loader and the command line"
	@echo "                 (FUZZ_TRIES=N tries per target, default 1500; prints a summary)"
	@echo "make lint        ruff check + format check + the import layers (lint-imports)"
	@echo "make typecheck   mypy"
	@echo "make bench       engine speed and memory benchmarks (benchmarks/)"
	@echo "make screenshot  docs/screenshots/main-window.png via 'cnnstudio gui --screenshot'"
	@echo "make bundle      desktop bundle dist/cnnstudio/ (PyInstaller, see packaging/README.md)"
	@echo "make bundle-test build the bundle, then run its self-test offscreen"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-app: pyproject.toml | $(PY)
	$(BIN)/pip install --quiet --editable .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(BIN)/pip install --quiet --editable ".[test]"
	@touch $@ $(VENV)/.installed-app

run: $(VENV)/.installed-app
	$(BIN)/cnnstudio gui

# Two passes: everything headless (offscreen Qt), then the few tests that need a real
# X server (real drag and drop) under Xvfb, when xvfb-run is installed.
test: $(VENV)/.installed-test
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -n $(JOBS) -p no:cacheprovider -m "not xvfb and not slow and not fuzz" $(PYTEST_ARGS)
	@if command -v xvfb-run >/dev/null 2>&1; then \
	  QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x1024x24" \
	    $(PY) -m pytest -q -p no:cacheprovider -m xvfb $(PYTEST_ARGS) \
	    || { rc=$$?; [ $$rc -eq 5 ] || exit $$rc; echo "(no xvfb tests collected)"; }; \
	else echo "xvfb-run not installed: skipping the real-display tests (see README)"; fi

# The long fuzz campaign (tests/fuzz, marker `fuzz`); the fast subset runs in `make test`.
# The summary table is printed even when a target fails.
FUZZ_TRIES ?= 1500
fuzz: $(VENV)/.installed-test
	@start=$$(date +%s); \
	QT_QPA_PLATFORM=offscreen FUZZ_TRIES=$(FUZZ_TRIES) $(PY) -m pytest -q -n $(JOBS) \
	  -p no:cacheprovider -m fuzz tests/fuzz $(PYTEST_ARGS); rc=$$?; \
	  $(PY) -m tests.fuzz summary --mode campaign --since $$start; exit $$rc

lint: $(VENV)/.installed-test
	$(BIN)/ruff check cnnstudio tests benchmarks
	$(BIN)/ruff format --check cnnstudio tests benchmarks
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

bench: $(VENV)/.installed-test
	$(PY) benchmarks/bench_engine.py

screenshot: $(VENV)/.installed-app
	QT_QPA_PLATFORM=offscreen $(BIN)/cnnstudio gui --screenshot docs/screenshots/main-window.png --size 1280x800

# Desktop bundle (PyInstaller one-folder build of packaging/cnnstudio.spec) in dist/cnnstudio/.
# PyInstaller goes into .venv only here: it is not an app or test dependency.
$(VENV)/.installed-pyinstaller: | $(VENV)/.installed-app
	$(BIN)/pip install --quiet "pyinstaller>=6.10,<7"
	@touch $@

bundle: $(VENV)/.installed-app $(VENV)/.installed-pyinstaller
	$(BIN)/pyinstaller --noconfirm --clean --log-level WARN \
	  --distpath dist --workpath build/pyinstaller packaging/cnnstudio.spec

bundle-test: bundle
	QT_QPA_PLATFORM=offscreen dist/cnnstudio/cnnstudio --self-test

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache .mypy_cache
