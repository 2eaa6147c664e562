# Entry points. `make run` and `make test` work on a fresh Debian 12 machine: both install what
# is missing first (scripts/setup.sh, idempotent).
SHELL := /bin/bash
JOBS ?= $(shell nproc)
PY := /usr/bin/python3
RELEASE := build/release
ASAN := build/asan
FUZZ := build/fuzz
COV := build/coverage
FUZZ_SECONDS ?= 10
FUZZ_LONG_SECONDS ?= 300
FUZZ_MERGE_SECONDS ?= 60
CONFIG ?= config/sluice.yaml
TSAN := build/tsan
CHAOS_REQUESTS ?= 1000000
# `make chaos` tests SLUICE_BIN when it is given (make chaos SLUICE_BIN=/path/sluice), else the
# release build, built first.
CHAOS_BIN = $(or $(SLUICE_BIN),$(CURDIR)/$(RELEASE)/sluice)
# `make tsan`: multi-worker integration tests run against the TSan build (docs/chaos.md), and
# the chaos kill -9 scenario for health checks and retries on 2 workers under load. Part of
# `make test`: from clean about 3 minutes on 2 cores (docs/chaos.md).
TSAN_TESTS ?= \
  tests/integration/test_10_reload.py \
  tests/integration/test_78_reload_reuse.py \
  tests/integration/test_11_shutdown.py \
  tests/integration/test_27_reload_state.py \
  tests/integration/test_40_rate_limits.py::test_fixed_window_admits_the_limit_under_concurrent_load_on_two_workers \
  tests/integration/test_41_rate_limits_cluster.py::test_exact_mode_admits_exactly_the_limit_across_two_instances \
  tests/integration/test_41_rate_limits_cluster.py::test_redis_crash_with_on_error_deny_answers_503 \
  tests/integration/test_41_rate_limits_cluster.py::test_metrics_count_store_errors_and_connection_state \
  tests/integration/test_23_health.py::test_health_check_unhealthy_then_recovers \
  tests/integration/test_23_health.py::test_outlier_ejection_and_return \
  tests/integration/test_64_mirror.py::test_concurrent_clients_with_a_mirror \
  tests/integration/test_64_mirror.py::test_a_slow_or_failing_shadow_does_not_touch_the_client \
  tests/integration/test_22_retries.py::test_kill_9_under_load_with_default_budget_costs_nothing \
  tests/integration/test_73_events.py::test_webhooks_get_the_kinds_they_list_and_retry \
  tests/integration/test_75_etcd.py::test_etcd_killed_and_restarted \
  tests/integration/test_76_upgrade.py::test_usr2_under_wrk_load_fails_nothing_and_keeps_counters \
  tests/chaos/test_chaos_kill_backend.py::test_kill_backend_with_retries
TSAN_OPTS := halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/chaos/tsan.supp

.PHONY: all setup build run test unit asan sanitize tsan integration fuzz fuzz-build fuzz-long fuzz-merge \
  coverage bench chaos format tidy clean

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

# The sanitizer pass of `make test` is `sanitize`: one clang build (build/fuzz) with ASan, UBSan
# and libFuzzer's coverage hooks serves the unit tests and the fuzz targets, so the sources are
# compiled once for both (`make asan` is the same unit tests in a gcc -O0 build, not in CI).
test: build unit integration tsan sanitize
	@echo "make test: all passed"

unit: build
	cd $(RELEASE) && ctest --output-on-failure

asan: setup
	cmake -S . -B $(ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON >/dev/null
	cmake --build $(ASAN) -j $(JOBS)
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure

integration: build
	SLUICE_BIN=$(CURDIR)/$(RELEASE)/sluice $(PY) -m pytest -q tests/integration

# ThreadSanitizer: sluice alone built with clang -fsanitize=thread -O1, then TSAN_TESTS against
# it; a TSan report fails the test (tests/chaos/tsan_plugin.py). Suppressions: tests/chaos/tsan.supp.
tsan: setup
	cmake -S . -B $(TSAN) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DSLUICE_TSAN=ON -DSLUICE_TESTS=OFF \
	  -DCMAKE_CXX_COMPILER=clang++ >/dev/null
	cmake --build $(TSAN) -j $(JOBS) --target sluice
	SLUICE_BIN=$(CURDIR)/$(TSAN)/sluice SLUICE_REQUIRE=1 TSAN_OPTIONS="$(TSAN_OPTS)" \
	  PYTHONPATH=$(CURDIR)/tests/chaos $(PY) -m pytest -q -p tsan_plugin -p no:cacheprovider \
	  $(TSAN_TESTS)

# Chaos under load (tests/chaos, docs/chaos.md): not part of `make test`. One scenario alone:
#   make chaos CHAOS_TESTS=tests/chaos/test_chaos_redis.py
CHAOS_TESTS ?= tests/chaos
chaos: $(if $(SLUICE_BIN),,build)
	SLUICE_BIN=$(CHAOS_BIN) SLUICE_REQUIRE=1 CHAOS_REQUESTS=$(CHAOS_REQUESTS) \
	  $(PY) -m pytest -s -q -p no:cacheprovider $(CHAOS_TESTS)

# The fuzz targets and, in the same clang ASan+UBSan build, the unit tests (`sanitize`).
fuzz-build: setup
	cmake -S . -B $(FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_FUZZ=ON \
	  -DSLUICE_TESTS=ON -DCMAKE_CXX_COMPILER=clang++ >/dev/null
	cmake --build $(FUZZ) -j $(JOBS)

# Unit tests under ASan+UBSan (the fuzz build's), then every fuzz target for FUZZ_SECONDS.
sanitize: fuzz-build
	cd $(FUZZ) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure
	@scripts/fuzz.sh $(FUZZ) $(FUZZ_SECONDS)

# Each libFuzzer target runs FUZZ_SECONDS on a copy of its committed corpus (never modified);
# fails on a crash. 15 targets x 10 s: about 3 minutes. See docs/fuzzing.md.
fuzz: fuzz-build
	@scripts/fuzz.sh $(FUZZ) $(FUZZ_SECONDS)

# Minutes per target; what is found is merged into fuzz/corpus/ (or FUZZ_CORPUS_CACHE).
fuzz-long: fuzz-build
	@FUZZ_KEEP=1 scripts/fuzz.sh $(FUZZ) $(FUZZ_LONG_SECONDS)

# Runs each target FUZZ_MERGE_SECONDS, then minimises the committed corpus with what was found.
fuzz-merge: fuzz-build
	@scripts/fuzz-merge.sh $(FUZZ) $(FUZZ_MERGE_SECONDS)

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
