# Makefile - the project's entry points, a thin wrapper around CMake.
#
#   make run     install what is missing, build, run junction (NATS on 4222)
#   make test    build + ctest twice: plain (build/) and ASan/UBSan (build-asan/)
#   make deps    install missing Debian packages only (apt-get; sudo if not root)
#   make build   configure and build build/ (RelWithDebInfo)
#   make fuzz    clang + libFuzzer build in build-fuzz/, each target FUZZ_SECONDS
#   make bench   build, then bench/run.sh
#   make clean   remove build/, build-asan/, build-fuzz/
#
# Knobs: BUILD_DIR, ASAN_DIR, FUZZ_DIR, BUILD_TYPE, JOBS, FUZZ_SECONDS,
# ARGS (extra junction flags for `make run`), CTEST_ARGS,
# TEST_AGAINST (junction | nats-server | both; which server the integration
# tests of build/ run against - "both" also proves the tests on nats-server).

SHELL := /bin/bash
.DEFAULT_GOAL := build

BUILD_DIR    ?= build
ASAN_DIR     ?= build-asan
FUZZ_DIR     ?= build-fuzz
BUILD_TYPE   ?= RelWithDebInfo
JOBS         ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60
TEST_AGAINST ?= both
ARGS         ?=
CTEST_ARGS   ?=

# Debian 12 packages the build, the tests and the tools need.
DEPS := cmake make pkg-config gcc clang libclang-rt-14-dev libjansson-dev \
        libmicrohttpd-dev libmosquitto-dev libnng-dev libnats-dev libcmocka-dev \
        nats-server mosquitto mosquitto-clients libcurl4-openssl-dev python3 wrk \
        golang-go golang-github-nats-io-go-nats-dev

.PHONY: all deps build run test fuzz bench clean help

all: build

help:
	@sed -n '2,15p' Makefile | sed 's/^# \{0,1\}//'

# Only what is missing is installed, and apt-get update runs only then, so a
# machine that has everything pays one dpkg-query per package.
deps:
	@if ! command -v dpkg-query >/dev/null 2>&1; then \
	  echo "make deps: not a Debian system; make sure these are installed: $(DEPS)"; exit 0; \
	fi; \
	missing=""; \
	for p in $(DEPS); do \
	  dpkg-query -W -f='$${db:Status-Abbrev}' "$$p" 2>/dev/null | grep -q '^ii' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	echo "make deps: installing$$missing"; \
	sudo=""; if [ "$$(id -u)" -ne 0 ]; then sudo="sudo"; fi; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	cmake --build $(BUILD_DIR) -j$(JOBS)

# The embedded default config: NATS on 0.0.0.0:4222 (see docs/configuration.md).
run: build
	exec $(BUILD_DIR)/gateway/junction $(ARGS)

# Both builds run even if the first fails, so one CI run reports everything.
test: deps
	@rc=0; \
	for spec in "$(BUILD_DIR)|-DJN_SANITIZE=OFF -DJN_TEST_AGAINST=$(TEST_AGAINST)" \
	            "$(ASAN_DIR)|-DJN_SANITIZE=ON -DJN_TEST_AGAINST=junction -DJN_BENCH=OFF"; do \
	  dir=$${spec%%|*}; args=$${spec#*|}; \
	  echo "==== $$dir: configure ($$args)"; \
	  if cmake -S . -B "$$dir" -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $$args \
	     && echo "==== $$dir: build" && cmake --build "$$dir" -j$(JOBS) \
	     && echo "==== $$dir: ctest" \
	     && (cd "$$dir" && ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1} \
	         UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1} \
	         ctest --output-on-failure $(CTEST_ARGS)); then \
	    echo "==== $$dir: PASSED"; \
	  else \
	    echo "==== $$dir: FAILED"; rc=1; \
	  fi; \
	done; \
	exit $$rc

# Each fuzz_<name> executable runs on a scratch copy of its seed corpus
# (tests/fuzz/corpus/<name>/ when present), so the tree is never written to.
fuzz: deps
	cmake -S . -B $(FUZZ_DIR) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	      -DJN_FUZZ=ON -DJN_BENCH=OFF
	cmake --build $(FUZZ_DIR) -j$(JOBS)
	@rc=0; n=0; \
	for f in $$(find $(FUZZ_DIR)/tests/fuzz -maxdepth 2 -type f -perm -u+x -name 'fuzz_*' | sort); do \
	  name=$$(basename "$$f"); short=$${name#fuzz_}; n=$$((n+1)); \
	  work=$(FUZZ_DIR)/corpus/$$short; mkdir -p "$$work" $(FUZZ_DIR)/artifacts; \
	  seeds=""; for d in tests/fuzz/corpus/$$short tests/fuzz/corpus/$$name; do \
	    [ -d "$$d" ] && seeds="$$seeds $$d"; done; \
	  echo "==== $$name: $(FUZZ_SECONDS) s (seeds:$${seeds:- none})"; \
	  if ! "$$f" -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	       -artifact_prefix=$(FUZZ_DIR)/artifacts/$$short- "$$work" $$seeds; then \
	    echo "==== $$name: FAILED (artifacts in $(FUZZ_DIR)/artifacts/)"; rc=1; \
	  fi; \
	done; \
	if [ $$n -eq 0 ]; then echo "make fuzz: no fuzz_* targets were built"; exit 1; fi; \
	exit $$rc

bench: build
	JN_BUILD_DIR=$(BUILD_DIR) bench/run.sh

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR)
