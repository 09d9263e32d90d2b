#!/usr/bin/env bash
# Every test: the C tests in a normal build and under AddressSanitizer +
# UndefinedBehaviorSanitizer. Exits non-zero on any failure and on an empty run.
# LSMLOG_QUICK=1 skips the sanitizer build (for a fast local loop).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
jobs="$(nproc)"
failed=0
passed=0

run_ctest() { # run_ctest BUILD_DIR LABEL
    local out
    out="$(mktemp)"
    if (cd "$1" && ctest --output-on-failure -j"$jobs" --timeout 600) 2>&1 | tee "$out"; then :; else failed=$((failed + 1)); fi
    # ctest prints "N% tests passed, M tests failed out of T"
    local total
    total="$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$out" | tail -1)"
    if [ -z "$total" ] || [ "$total" = 0 ]; then
        echo "test.sh: $2 ran no test" >&2
        failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
    rm -f "$out"
}

echo "== C tests (RelWithDebInfo) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs" 2>&1 | grep -E "warning|error" && { echo "test.sh: the build is not warning-clean" >&2; failed=$((failed + 1)); }
run_ctest build "C tests"

if [ "${LSMLOG_QUICK:-0}" != 1 ]; then
    echo "== C tests (AddressSanitizer + UndefinedBehaviorSanitizer) =="
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLSMLOG_SANITIZE=ON -DLSMLOG_BENCH=OFF >/dev/null
    cmake --build build-asan -j"$jobs" >/dev/null
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_ctest build-asan "C tests under ASan+UBSan"
fi

echo "test suites: $passed passed, $failed failed"
[ "$failed" = 0 ]
