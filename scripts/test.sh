#!/usr/bin/env bash
# Every test: C, Lua (and Python), each in a normal build and under
# AddressSanitizer + UndefinedBehaviorSanitizer. Exits non-zero on any failure
# and on an empty run. LSMLOG_QUICK=1 skips the sanitizer runs (a fast local loop).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
jobs="$(nproc)"
failed=0
passed=0

run_ctest() { # run_ctest BUILD_DIR LABEL [CTEST ARGS]: counts the suite as passed or failed
    local dir="$1" label="$2" out ok=1 total
    shift 2
    out="$(mktemp)"
    (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 600 "$@") 2>&1 | tee "$out" || ok=0
    # ctest prints "N% tests passed[, M tests failed] out of T"; T = 0 is an empty run
    total="$(sed -n 's/.*tests passed.* out of \([0-9]*\).*/\1/p' "$out" | tail -1)"
    if [ -z "$total" ] || [ "$total" = 0 ]; then
        echo "test.sh: $label ran no test" >&2
        ok=0
    fi
    rm -f "$out"
    if [ $ok = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "test.sh: $label FAILED" >&2; fi
}

echo "== C tests (RelWithDebInfo) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLSMLOG_TESTS=ON -DLSMLOG_SANITIZE=OFF >/dev/null
cmake --build build -j"$jobs" 2>&1 | grep -E "warning|error" && { echo "test.sh: the build is not warning-clean" >&2; failed=$((failed + 1)); }
run_ctest build "C tests"

for store in log db; do
    echo "== kill campaign ($store): SIGKILL a writer 200 times, reopen, verify (tests/crash) =="
    if python3 tests/crash/kill_campaign.py --store $store --build-dir build --kills 200; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "test.sh: kill campaign ($store) FAILED" >&2
    fi
done

if [ "${LSMLOG_QUICK:-0}" != 1 ]; then
    echo "== C tests (AddressSanitizer + UndefinedBehaviorSanitizer) =="
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLSMLOG_SANITIZE=ON -DLSMLOG_TESTS=ON -DLSMLOG_BENCH=OFF >/dev/null
    cmake --build build-asan -j"$jobs" >/dev/null
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_ctest build-asan "C tests under ASan+UBSan"
fi

run_script() { # run_script SCRIPT LABEL: a language's own test script
    if bash "$1"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "test.sh: $2 FAILED" >&2; fi
}

if [ "${LSMLOG_QUICK:-0}" != 1 ]; then
    echo "== threaded C tests (ThreadSanitizer) =="
    cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLSMLOG_TSAN=ON -DLSMLOG_TESTS=ON -DLSMLOG_BENCH=OFF -DLSMLOG_EXAMPLES=OFF >/dev/null
    cmake --build build-tsan -j"$jobs" --target test_log_threads test_memtable test_db_threads >/dev/null
    TSAN_OPTIONS=halt_on_error=1 run_ctest build-tsan "threaded C tests under TSan" -R "test_log_threads|test_memtable|test_db_threads"
fi

echo "== Python tests =="
run_script scripts/test_python.sh "Python tests"

echo "== Lua tests =="
run_script scripts/test_lua.sh "Lua tests"

echo "== Jupyter notebook (examples/notebooks/stream_quickstart.ipynb, executed headlessly) =="
run_script scripts/test_notebook.sh "notebook"

echo "test suites: $passed passed, $failed failed"
[ "$failed" = 0 ]
