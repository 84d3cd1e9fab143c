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

.PHONY: build run run-cluster venv kcat test test-rust compat fuzz-smoke bench bench-smoke bench-storage \
  loadgen clean docker docker-client test-docker docker-smoke drivers compat-matrix kafka-ref \
  kafka-ref-jars differential differential-smoke bench-cleaner bench-replication \
  chaos chaos-smoke chaos-test chaos-cleanup

build:
	$(CARGO) build --release

# One combined node on 127.0.0.1:9092 with its data under ./data; the
# listener and log.dirs come from config/runnel.toml.
run: build
	mkdir -p data
	$(RUNNEL_BIN) --config config/runnel.toml

# A local cluster by hand: a controller (127.0.0.1:19093) and three brokers
# on 127.0.0.1:19092, 29092 and 39092, data under ./data/cluster.
run-cluster: build
	RUNNEL_BIN=$(RUNNEL_BIN) python3 -m harness.runnel cluster data/cluster

# The venv is rebuilt only when requirements.txt changes (the stamp is older).
# One venv; each requirements file has its own stamp.
venv: $(VENV_STAMP)

define venv_install
	@if [ ! -x $(VENV)/bin/python ]; then \
	  $(PYTHON) -m venv $(VENV) || { \
	    echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu install python3-venv" >&2; \
	    rm -rf $(VENV); exit 1; }; \
	fi
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $(1)
	touch $@
endef

$(VENV_STAMP): $(REQUIREMENTS)
	$(call venv_install,$(REQUIREMENTS))

BENCH_REQUIREMENTS := benches/requirements.txt
BENCH_VENV_STAMP := $(VENV)/.bench-requirements.stamp

$(BENCH_VENV_STAMP): $(BENCH_REQUIREMENTS)
	$(call venv_install,$(BENCH_REQUIREMENTS))

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

# --- Apache Kafka beside Runnel (issue 12) ------------------------------------
# The reference broker's jars (kafka-ref/pom.xml: kafka_2.13 and kafka-tools
# at one pinned version, with their runtime dependencies) are copied by
# Maven into target/kafka-ref/lib, refetched when the pom changes. Java and
# Maven must be installed (.ci/run installs them); a missing one fails.
KAFKA_REF_LIB := target/kafka-ref/lib
KAFKA_REF_STAMP := target/kafka-ref/.stamp
MVN ?= mvn

$(KAFKA_REF_STAMP): kafka-ref/pom.xml
	@command -v java >/dev/null || { echo "error: java not found (Kafka needs Java 17+)" >&2; exit 1; }
	@command -v $(MVN) >/dev/null || { echo "error: mvn not found (install maven)" >&2; exit 1; }
	rm -rf $(KAFKA_REF_LIB)
	$(MVN) -q -B -f kafka-ref/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
	  -DoutputDirectory=$(abspath $(KAFKA_REF_LIB))
	touch $@

kafka-ref-jars: $(KAFKA_REF_STAMP)

# Fetch Kafka, format a KRaft combined node in a scratch dir, start it on a
# free loopback port, wait for its first answers, print the times, stop it.
# `$(PYTHON) -m harness.kafka run` keeps one running until Ctrl-C.
kafka-ref: kafka-ref-jars
	$(PYTHON) -m harness.kafka check

# The differential suite (differential/): each scenario against Kafka and
# against Runnel, compared field by field; intended differences are in
# differential/allowlist.toml. The smoke (part of `make test`) runs the
# scenarios marked `smoke`.
DIFF_TEST_TIMEOUT ?= 300
differential: build venv kafka-ref-jars
	DIFFERENTIAL_REPORT=docs/differential-report.md RUNNEL_BIN="$(abspath $(RUNNEL_BIN))" \
	  $(VENV)/bin/pytest differential -q \
	  --timeout=$(DIFF_TEST_TIMEOUT) $(PYTEST_ARGS)

differential-smoke: build venv kafka-ref-jars
	RUNNEL_BIN="$(abspath $(RUNNEL_BIN))" $(VENV)/bin/pytest differential -q -m smoke \
	  --timeout=$(DIFF_TEST_TIMEOUT) $(PYTEST_ARGS)

# Sequential on purpose: the compat suite is slow and pointless if unit tests fail.
test:
	$(MAKE) test-rust
	$(MAKE) fuzz-smoke
	$(MAKE) compat
	$(MAKE) differential-smoke
	$(MAKE) bench-smoke
	$(MAKE) chaos-test
	$(MAKE) chaos-smoke

test-rust:
	$(CARGO) test --all-targets
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

compat: build venv kcat drivers kafka-ref-jars
	RUNNEL_BIN="$(abspath $(RUNNEL_BIN))" $(VENV)/bin/pytest compat-tests -q \
	  --timeout=$(COMPAT_TEST_TIMEOUT) --durations=30 $(PYTEST_ARGS)

# --- client drivers (compat-tests/drivers, compat-tests/drivers.py) -----------
# The Java client at each version under test, Kafka's tools and Connect
# (Maven Central, pinned in the pom files; Maven caches them in ~/.m2),
# franz-go and sarama (go.mod/go.sum), kafkajs (package-lock.json). Each is
# rebuilt only when its sources or pins change. A missing toolchain fails.
DRIVERS_DIR := compat-tests/drivers
JAVA_CLIENT_VERSIONS := 4.1.2 4.4.0
MVN ?= mvn -B -q
GO ?= go
NPM ?= npm
JAVA_DRIVER_SRC := $(wildcard $(DRIVERS_DIR)/java/src/main/java/runnel/compat/*.java)
JAVA_DRIVERS := $(foreach v,$(JAVA_CLIENT_VERSIONS),$(DRIVERS_DIR)/java/target/kafka-$(v)/classpath.txt)
KAFKA_TOOLS_CP := $(DRIVERS_DIR)/kafka-tools/target/classpath.txt
CONNECT_CP := $(DRIVERS_DIR)/connect/target/classpath.txt
GO_DRIVER := $(DRIVERS_DIR)/go/bin/compat-go
JS_DRIVER_STAMP := $(DRIVERS_DIR)/js/node_modules/.installed

drivers: $(JAVA_DRIVERS) $(KAFKA_TOOLS_CP) $(CONNECT_CP) $(GO_DRIVER) $(JS_DRIVER_STAMP)

$(DRIVERS_DIR)/java/target/kafka-%/classpath.txt: $(DRIVERS_DIR)/java/pom.xml $(JAVA_DRIVER_SRC)
	$(MVN) -f $(DRIVERS_DIR)/java/pom.xml -Dkafka.version=$* package

$(DRIVERS_DIR)/%/target/classpath.txt: $(DRIVERS_DIR)/%/pom.xml
	$(MVN) -f $< package

$(GO_DRIVER): $(DRIVERS_DIR)/go/go.mod $(DRIVERS_DIR)/go/go.sum $(wildcard $(DRIVERS_DIR)/go/*.go)
	cd $(DRIVERS_DIR)/go && $(GO) build -mod=readonly -trimpath -o bin/compat-go .

$(JS_DRIVER_STAMP): $(DRIVERS_DIR)/js/package.json $(DRIVERS_DIR)/js/package-lock.json
	cd $(DRIVERS_DIR)/js && $(NPM) ci --no-audit --no-fund
	touch $@

# The feature x client table of the collected tests, written into
# docs/compatibility.md between its matrix markers.
compat-matrix: venv
	$(VENV)/bin/pytest compat-tests -q --collect-only --matrix=target/compat-matrix.md >/dev/null
	$(VENV)/bin/python compat-tests/matrix.py docs/compatibility.md target/compat-matrix.md
	@cat target/compat-matrix.md

# cargo-fuzz targets (fuzz/README.md). cargo-fuzz passes nightly -Z flags;
# RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them. No sanitizer: the
# fuzzed code is safe Rust, and ASan would double build and run time. Seeds
# and past crashes are copied into the scratch corpus (git-ignored) first;
# a crash, a hang (-timeout) or running out of memory fails the run.
FUZZ_TARGETS := request_decode batch_validate
FUZZ_SMOKE_SECONDS ?= 15
FUZZ_SECONDS ?= 600
# Extra libFuzzer flags for `make fuzz`, e.g. FUZZ_ARGS="-fork=2 -ignore_crashes=1".
FUZZ_ARGS ?=
FUZZ_BUILD_FLAGS ?= --sanitizer none --codegen-units 16
CARGO_FUZZ := RUSTC_BOOTSTRAP=1 $(CARGO) fuzz
CARGO_FUZZ_VERSION := 0.13.2
# The smoke needs no cargo-fuzz (installing it costs CI four minutes of a
# 25-minute budget): without a sanitizer, cargo-fuzz's build is a release
# build of fuzz/ with libFuzzer's coverage instrumentation, which stable
# rustc accepts as plain -C flags; the binaries are libFuzzer itself.
FUZZ_TRIPLE := $(shell rustc -vV | sed -n 's/^host: //p')
FUZZ_RUSTFLAGS := -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions \
  -Coverflow-checks -Ccodegen-units=16
FUZZ_SMOKE_DIR := fuzz/target/smoke

# Copies seeds and regressions into the scratch corpus of target $(1).
define fuzz_corpus
mkdir -p fuzz/corpus/$(1); \
  cp fuzz/seeds/$(1)/* fuzz/corpus/$(1)/; \
  if [ -d fuzz/regressions/$(1) ]; then cp fuzz/regressions/$(1)/* fuzz/corpus/$(1)/; fi
endef

# Runs every target for $(1) seconds with extra libFuzzer flags $(2); all
# targets run even when one crashes, and the make fails after.
define run_fuzz_targets
	@$(CARGO) fuzz --version >/dev/null 2>&1 || \
	  $(CARGO) install cargo-fuzz --locked --version $(CARGO_FUZZ_VERSION)
	$(CARGO_FUZZ) build $(FUZZ_BUILD_FLAGS)
	failed=""; for t in $(FUZZ_TARGETS); do \
	  $(call fuzz_corpus,$$t); \
	  $(CARGO_FUZZ) run $(FUZZ_BUILD_FLAGS) $$t fuzz/corpus/$$t -- \
	    -max_total_time=$(1) -timeout=10 -print_final_stats=1 $(2) || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashes in:$$failed (see fuzz/artifacts/)" >&2; exit 1; fi
endef

fuzz-smoke:
	RUSTFLAGS="$(FUZZ_RUSTFLAGS)" $(CARGO) build --release --bins \
	  --manifest-path fuzz/Cargo.toml --target $(FUZZ_TRIPLE) --target-dir $(FUZZ_SMOKE_DIR)
	failed=""; for t in $(FUZZ_TARGETS); do \
	  $(call fuzz_corpus,$$t); \
	  mkdir -p fuzz/artifacts/$$t; \
	  $(FUZZ_SMOKE_DIR)/$(FUZZ_TRIPLE)/release/$$t -artifact_prefix=fuzz/artifacts/$$t/ \
	    -max_total_time=$(FUZZ_SMOKE_SECONDS) -timeout=10 -print_final_stats=1 fuzz/corpus/$$t \
	    || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashes in:$$failed (see fuzz/artifacts/)" >&2; exit 1; fi

# Longer runs: `make fuzz FUZZ_SECONDS=3600` (each target in turn).
.PHONY: fuzz
fuzz:
	$(call run_fuzz_targets,$(FUZZ_SECONDS),$(FUZZ_ARGS))

# End-to-end benchmark (docs/benchmarks.md): the release broker driven by
# the load generators in benches/loadgen (librdkafka, built from source by
# the rdkafka crate, and raw kafka-protocol requests). Writes
# docs/bench-results.json, the generated part of docs/benchmarks.md and
# docs/bench-plot.png. About 15 minutes; the lots-of-data start-up scenario
# writes BENCH_DATA_GIB GiB under BENCH_WORK_DIR (default $$TMPDIR or /tmp).
# The loadgen is its own workspace (like fuzz/) built into our target dir,
# so `cargo test` never compiles librdkafka but shared crates are reused.
LOADGEN_BIN := target/release/runnel-loadgen
BENCH_RUNS ?= 3
BENCH_DATA_GIB ?= 10
BENCH_WORK_DIR ?=
BENCH_ARGS ?=
BENCH_PY := $(VENV)/bin/python benches/bench.py --runnel $(RUNNEL_BIN) --loadgen $(LOADGEN_BIN) \
  $(if $(BENCH_WORK_DIR),--work-dir $(BENCH_WORK_DIR))

loadgen:
	$(CARGO) build --release --locked --manifest-path benches/loadgen/Cargo.toml \
	  --target-dir $(abspath target)

# The whole benchmark: the throughput, latency, resource and start-up
# scenarios, then the log cleaner's.
bench: build loadgen kafka-ref-jars venv $(BENCH_VENV_STAMP)
	$(BENCH_PY) --runs $(BENCH_RUNS) --data-gib $(BENCH_DATA_GIB) $(BENCH_ARGS)
	$(MAKE) bench-cleaner
	$(MAKE) bench-replication

# The log cleaner beside Kafka's: MB/s and produce latency during a
# cleaning (benches/cleaner.py); a few minutes, not part of `make test`.
bench-cleaner: build venv kafka-ref-jars
	RUNNEL_BIN="$(abspath $(RUNNEL_BIN))" $(VENV)/bin/python benches/cleaner.py $(BENCH_CLEANER_ARGS)

# Replication factor 3 with acks=all beside RF=1 on three-broker loopback
# clusters of Runnel and of Kafka (benches/replication.py): max throughput
# and produce latency at 10,000 rec/s; writes docs/bench-replication.json
# and docs/bench-replication.md. About 10 minutes; not in `make test` (a
# Kafka cluster alone takes most of a minute to start), but
# `make bench-replication BENCH_REPLICATION_ARGS=--smoke` runs it tiny.
BENCH_REPLICATION_ARGS ?=
bench-replication: build venv kafka-ref-jars
	RUNNEL_BIN="$(abspath $(RUNNEL_BIN))" $(VENV)/bin/python benches/replication.py \
	  --runs $(BENCH_RUNS) $(BENCH_REPLICATION_ARGS)

# Part of `make test`: every scenario once, tiny, output to a scratch dir.
# Keeps the benchmark working; never judges a figure.
bench-smoke: build loadgen kafka-ref-jars $(BENCH_VENV_STAMP)
	$(BENCH_PY) --smoke

# The storage engine's criterion benchmark (benches/log_append_read.rs).
bench-storage:
	$(CARGO) bench --bench log_append_read

# --- Docker (docs/docker.md) ----------------------------------------------
# `make docker` builds the image from the release binary on a base made here
# from the host's own libraries (docker/rootfs.sh, `docker import`): nothing
# is pulled and the build has no network. docker/Dockerfile is the from-source
# build for machines that can pull images.
DOCKER ?= docker
DOCKER_IMAGE ?= runnel:latest
DOCKER_CLIENT_IMAGE ?= runnel-kcat:local
DOCKER_WORK := target/docker
DOCKER_TEST_ARGS ?=

# Imports $(1) as $(2):<hash of $(1)> unless that image exists (the tarball
# is byte-for-byte reproducible), then tags it $(3). Extra import flags: $(4).
define docker_import
	tag="$(2):$$(sha256sum $(1) | cut -c1-12)"; \
	if ! $(DOCKER) image inspect "$$tag" >/dev/null 2>&1; then \
	  $(DOCKER) import $(4) $(1) "$$tag" >/dev/null; \
	fi; \
	$(DOCKER) tag "$$tag" $(3)
endef

docker: build
	rm -rf $(DOCKER_WORK)/context && mkdir -p $(DOCKER_WORK)/context
	docker/rootfs.sh $(DOCKER_WORK)/base.tar --libs-of $(RUNNEL_BIN) \
	  --data-dir /var/lib/runnel/data --data-dir /var/lib/kafka/data
	$(call docker_import,$(DOCKER_WORK)/base.tar,runnel-base,runnel-base:local,)
	strip --strip-all -o $(DOCKER_WORK)/context/runnel $(RUNNEL_BIN)
	cp docker/runnel.toml docker/Dockerfile.prebuilt $(DOCKER_WORK)/context/
	DOCKER_BUILDKIT=0 $(DOCKER) build --quiet --build-arg BASE_IMAGE=runnel-base:local \
	  -f $(DOCKER_WORK)/context/Dockerfile.prebuilt -t $(DOCKER_IMAGE) $(DOCKER_WORK)/context >/dev/null
	@echo "docker: built $(DOCKER_IMAGE), $$($(DOCKER) image inspect -f '{{.Size}}' $(DOCKER_IMAGE) | \
	  awk '{printf "%.1f MB", $$1 / 1000000}')"

# A kcat image for "another container" in the tests: the host's kcat and its
# libraries, again without pulling anything.
docker-client: kcat
	mkdir -p $(DOCKER_WORK)
	docker/rootfs.sh $(DOCKER_WORK)/client.tar --bin "$$(command -v kcat)"
	$(call docker_import,$(DOCKER_WORK)/client.tar,runnel-kcat,$(DOCKER_CLIENT_IMAGE),\
	  --change 'USER 65532:65532' --change 'ENTRYPOINT ["/usr/local/bin/kcat"]')

# Every compose file up, clients on the host and in containers, restarts.
# Slow (minutes); not part of `make test`. CI runs docker-smoke instead.
test-docker: docker docker-client venv
	DOCKER_IMAGE=$(DOCKER_IMAGE) DOCKER_CLIENT_IMAGE=$(DOCKER_CLIENT_IMAGE) \
	  $(VENV)/bin/pytest docker/tests -q --timeout=300 $(DOCKER_TEST_ARGS)

# The image and the single-node compose file, host clients only (~30 s).
docker-smoke: docker docker-client venv
	DOCKER_IMAGE=$(DOCKER_IMAGE) DOCKER_CLIENT_IMAGE=$(DOCKER_CLIENT_IMAGE) \
	  $(VENV)/bin/pytest docker/tests -q --timeout=300 -m smoke $(DOCKER_TEST_ARGS)

clean:
	$(CARGO) clean
	rm -rf $(VENV) data compat-tests/.pytest_cache compat-tests/.driver-logs $(DRIVERS_DIR)/*/target \
	  $(DRIVERS_DIR)/go/bin $(DRIVERS_DIR)/js/node_modules differential/.pytest_cache

# --- fault injection (chaos/, docs/reliability.md) ----------------------------
# Each node in its own network namespace on a bridge (10.77.0.0/24), a
# seeded schedule of nemeses (kill -9, SIGSTOP, iptables partitions, slow
# and lossy links), idempotent acks=all producers and consumers recording a
# history, a final full read, the checker. Needs root, `ip netns`, iptables
# and tc (.ci/run installs them); anything missing fails the run.
# `make chaos DURATION=3600 SEED=7 NEMESES=kill-leader,pause-leader NODES=3
# TARGET=kafka`; output under target/chaos/. `make chaos-cleanup` removes
# namespaces and links a killed run left behind.
CHAOS_REQUIREMENTS := chaos/requirements.txt
CHAOS_VENV_STAMP := $(VENV)/.chaos-requirements.stamp
DURATION ?= 600
SEED ?=
NEMESES ?=
NODES ?= 3
TARGET ?= runnel
CHAOS_ARGS ?=

$(CHAOS_VENV_STAMP): $(CHAOS_REQUIREMENTS) $(BENCH_REQUIREMENTS) $(VENV_STAMP)
	$(call venv_install,$(CHAOS_REQUIREMENTS))

chaos: build venv drivers $(CHAOS_VENV_STAMP) $(if $(filter kafka,$(TARGET)),kafka-ref-jars)
	RUNNEL_BIN="$(abspath $(RUNNEL_BIN))" $(VENV)/bin/python -m chaos.run --duration $(DURATION) \
	  $(if $(SEED),--seed $(SEED)) $(if $(NEMESES),--nemeses $(NEMESES)) --nodes $(NODES) \
	  --target $(TARGET) $(CHAOS_ARGS)

# Part of `make test`, under two minutes: one leader kill -9 and one
# isolated leader, librdkafka producers and consumers; fails on any anomaly.
chaos-smoke: build venv $(CHAOS_VENV_STAMP)
	rm -rf target/chaos/smoke
	RUNNEL_BIN="$(abspath $(RUNNEL_BIN))" $(VENV)/bin/python -m chaos.run --smoke \
	  --out target/chaos/smoke $(if $(SEED),--seed $(SEED)) $(CHAOS_ARGS)

# The checker on made-up histories with each anomaly planted.
chaos-test: venv $(CHAOS_VENV_STAMP)
	$(VENV)/bin/pytest chaos -q --timeout=120 $(PYTEST_ARGS)

chaos-cleanup:
	$(PYTHON) -c "from chaos import net; print(net.cleanup(every_slot=True))"
