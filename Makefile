# edgeq — developer and demo entry points. The README's two commands: `make demo` and `make test`.
# Everything installs into a virtual environment (.venv), so a system Python that refuses pip installs
# (Debian's "externally managed environment") is never touched. Use your own: make test VENV=$$VIRTUAL_ENV
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_OUT ?= demo-out
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup demo test test-fast bench lint fixtures clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Install edgeq with conversion/runtime extras and the test tools (pip packages only; see .ci/run for apt).
setup: $(PY)
	$(PY) -m pip install -q -e ".[dev]"

# Convert the bundled digits CNN for a Cortex-M4 with its calibration set, evaluate it, print the report.
demo: setup
	edgeq convert examples/digits/model.keras --target cortex-m4 \
	    --calib examples/digits/calib.npz --eval examples/digits/eval.npz -o $(DEMO_OUT) --force
	@echo; cat $(DEMO_OUT)/report.md

# The whole suite (real TensorFlow conversions, arm-none-eabi builds, QEMU runs, a local sshd), on TEST_JOBS
# pytest-xdist worker processes (TEST_JOBS=0: all in this process). Each test file runs whole on one worker (its
# module fixtures convert once; the Ray cluster tests stay in one process), the slowest files first
# (tests/conftest.py SLOW_FIRST), so no worker is left with a long file at the end. PYTEST_ARGS="--durations=20" adds
# options.
TEST_JOBS ?= 2
PYTEST_ARGS ?=
test: setup
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# Only the tests that need no TensorFlow conversion or emulator.
test-fast: setup
	$(PY) -m pytest -q -m "not slow and not qemu"

# MLPerf Tiny architectures on QEMU (cortex-m4 mps2-an386, cortex-m55 mps3-an547, cortex-m7 mps2-an500, cortex-m33
# mps2-an505, cortex-m0plus mps2-an385): instructions, cycle-model cycles, MAC/cycle, arena, code next to
# TFLM+CMSIS-NN and published silicon, and every activation checked bit-exact with tflite-micro on every core;
# writes benchmarks/out/ (~3 min; BENCH_ARGS="--targets cortex-m4 --verify 0" for a quick M4-only run)
bench: setup
	$(PY) benchmarks/mlperf_tiny.py --out benchmarks/out $(BENCH_ARGS)

lint: setup
	$(VENV)/bin/ruff check edgeq tests benchmarks examples

fixtures: setup
	$(PY) tests/fixtures/make_fixtures.py

clean:
	rm -rf $(DEMO_OUT) build dist *.egg-info .pytest_cache
