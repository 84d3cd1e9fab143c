# Runnel build, run and test entry points. `make test` is what CI runs (via
# .ci/run); it must work on a fresh machine that has only the Rust toolchain,
# python3 and apt, so every target installs what it needs.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
REQUIREMENTS := compat-tests/requirements.txt
VENV_STAMP := $(VENV)/.requirements.stamp
RUNNEL_BIN ?= target/release/runnel
# Per-test limit for the compat suite, in seconds (pytest-timeout). A hung
# client or broker fails one test instead of eating CI's whole budget.
COMPAT_TEST_TIMEOUT ?= 180
PYTEST_ARGS ?=

.PHONY: build run venv kcat test test-rust compat fuzz-smoke bench clean

build:
	$(CARGO) build --release

# One combined node on 127.0.0.1:9092 with its data under ./data; the
# listener and log.dirs come from config/runnel.toml.
run: build
	mkdir -p data
	$(RUNNEL_BIN) --config config/runnel.toml

# The venv is rebuilt only when requirements.txt changes (the stamp is older).
venv: $(VENV_STAMP)

$(VENV_STAMP): $(REQUIREMENTS)
	@if [ ! -x $(VENV)/bin/python ]; then \
	  $(PYTHON) -m venv $(VENV) || { \
	    echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu install python3-venv" >&2; \
	    rm -rf $(VENV); exit 1; }; \
	fi
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	touch $@

# kcat is one of the four compat clients; install it when we can, else say how.
kcat:
	@if command -v kcat >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update && apt-get install -y --no-install-recommends kcat; \
	else \
	  echo "error: kcat is not installed and we cannot install it (not root, or no apt-get)." >&2; \
	  echo "       Install it yourself, e.g. 'sudo apt-get install kcat', then re-run." >&2; \
	  exit 1; \
	fi

# Sequential on purpose: the compat suite is slow and pointless if unit tests fail.
test:
	$(MAKE) test-rust
	$(MAKE) fuzz-smoke
	$(MAKE) compat

test-rust:
	$(CARGO) test --all-targets
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

compat: build venv kcat
	RUNNEL_BIN="$(abspath $(RUNNEL_BIN))" $(VENV)/bin/pytest compat-tests -q \
	  --timeout=$(COMPAT_TEST_TIMEOUT) $(PYTEST_ARGS)

# Placeholder until the fuzz targets land: a no-op while fuzz/ does not exist.
fuzz-smoke:
	@if [ -d fuzz ]; then \
	  echo "fuzz-smoke: fuzz/ exists but no smoke run is defined yet" >&2; \
	else \
	  echo "fuzz-smoke: no fuzz/ directory, nothing to run"; \
	fi

bench:
	$(CARGO) bench

clean:
	$(CARGO) clean
	rm -rf $(VENV) data compat-tests/.pytest_cache
