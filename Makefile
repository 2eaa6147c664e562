# Entry points. `make run` and `make test` work on a fresh Debian 12 machine: both install what
# is missing first (scripts/setup.sh, idempotent).
SHELL := /bin/bash
JOBS ?= $(shell nproc)
PY := /usr/bin/python3
RELEASE := build/release
ASAN := build/asan
FUZZ := build/fuzz
COV := build/coverage
FUZZ_SECONDS ?= 20
CONFIG ?= config/sluice.yaml

.PHONY: all setup build run test unit asan integration fuzz fuzz-build coverage bench format tidy clean

all: build

setup:
	@scripts/setup.sh

$(RELEASE)/build.ninja:
	cmake -S . -B $(RELEASE) -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_BENCH=ON

build: setup $(RELEASE)/build.ninja
	cmake --build $(RELEASE) -j $(JOBS)

# Starts the shipped echo backend on 127.0.0.1:9001 and sluice on config/sluice.yaml.
run: build
	@scripts/run.sh $(CONFIG)

test: build unit asan integration fuzz
	@echo "make test: all passed"

unit: build
	cd $(RELEASE) && ctest --output-on-failure

asan: setup
	cmake -S . -B $(ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON >/dev/null
	cmake --build $(ASAN) -j $(JOBS)
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure

integration: build
	SLUICE_BIN=$(CURDIR)/$(RELEASE)/sluice $(PY) -m pytest -q tests/integration

fuzz-build: setup
	cmake -S . -B $(FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_FUZZ=ON \
	  -DSLUICE_TESTS=OFF -DCMAKE_CXX_COMPILER=clang++ >/dev/null
	cmake --build $(FUZZ) -j $(JOBS)

# Each libFuzzer target runs FUZZ_SECONDS on a copy of its committed seed corpus.
fuzz: fuzz-build
	@scripts/fuzz.sh $(FUZZ) $(FUZZ_SECONDS)

coverage: setup
	cmake -S . -B $(COV) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_COVERAGE=ON >/dev/null
	cmake --build $(COV) -j $(JOBS)
	find $(COV) -name '*.gcda' -delete
	cd $(COV) && ctest --output-on-failure
	SLUICE_BIN=$(CURDIR)/$(COV)/sluice $(PY) -m pytest -q tests/integration
	gcovr --root . --filter 'src/' --gcov-ignore-parse-errors --object-directory $(COV) --print-summary --txt $(COV)/coverage.txt
	@tail -n 4 $(COV)/coverage.txt

bench: build
	@for b in $(RELEASE)/*_bench; do echo "== $$b"; $$b --benchmark_min_time=0.2; done
	bench/compare.sh

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

tidy: $(RELEASE)/build.ninja
	clang-tidy -p $(RELEASE) --quiet $$(git ls-files 'src/*.cc')

clean:
	rm -rf build
