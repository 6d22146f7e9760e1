# The README's commands. `make demo` and `make test` set everything up on a fresh machine:
# a virtual environment (unless one is active), the package with its extras, and Graphviz's `dot`.

PYTHON ?= python3
ifdef VIRTUAL_ENV
  BIN := $(VIRTUAL_ENV)/bin
else
  BIN := .venv/bin
endif
PY := $(BIN)/python
STAMP := $(BIN)/.tinygrad_rnn-installed

.PHONY: setup dot chromium demo test lint format gallery bench bench-peers examples notebooks clean

$(PY):
	$(PYTHON) -m venv .venv

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,plot,dev,notebooks,browser,slides]'
	touch $(STAMP)

setup: $(STAMP) dot chromium

# Graphviz's `dot` renders the pictures; install Debian's package when it is missing.
dot:
	@if ! command -v dot >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Graphviz (apt-get install graphviz)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	  else \
	    echo "Graphviz's 'dot' is missing. Install it, then run make again:"; \
	    echo "  Debian/Ubuntu: sudo apt-get install graphviz"; \
	    echo "  macOS:         brew install graphviz"; \
	    echo "  conda:         conda install -c conda-forge graphviz"; \
	    exit 1; \
	  fi; \
	fi

# Headless Chromium and its driver run the explorer's browser tests (they skip without them).
chromium:
	@if ! command -v chromedriver >/dev/null 2>&1 || ! { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Chromium and its driver (apt-get install chromium chromium-driver)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "chromium or chromedriver is missing: the explorer's browser tests will be skipped. To run them:"; \
	    echo "  Debian/Ubuntu: sudo apt-get install chromium chromium-driver"; \
	  fi; \
	fi

demo: setup
	$(BIN)/tinygrad-rnn demo

LINTED := tinygrad_rnn tests examples viz benchmarks tools

test: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/mypy
	$(PY) -m pytest -q

lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format $(LINTED)

gallery: setup
	$(PY) viz/make_gallery.py
	$(PY) tests/test_explorer_browser.py viz/explorer_T3.png

bench: setup
	$(PY) benchmarks/run.py
	$(PY) benchmarks/bench_draw.py
	$(PY) benchmarks/bench_explorer.py
	$(PY) benchmarks/bench_rtrl.py

# The peers of the benchmark table (optional; run.py skips any that is missing). torch is pinned to the CPU build
# that pip finds on this kind of machine: a plain `torch` would pull a multi-GB CUDA build.
bench-peers: setup
	$(PY) -m pip install --quiet torch==2.13.0 autograd mygrad "jax[cpu]"
	$(MAKE) bench

examples: setup
	$(PY) examples/lecture_walkthrough.py
	$(PY) examples/forecast.py
	$(PY) examples/char_rnn.py
	$(PY) examples/vanishing_gradients.py
	$(PY) examples/to_pytorch.py
	$(PY) examples/rtrl_online.py

# The example notebooks: regenerated from the `# %%` scripts, then executed with a real kernel (pictures inline).
notebooks: setup
	$(PY) tools/notebooks.py sync
	$(PY) tools/notebooks.py run build/notebooks

clean:
	rm -rf .venv build *.egg-info .pytest_cache .hypothesis .ruff_cache
