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

if [ "${LSMLOG_QUICK:-0}" != 1 ]; then
    # The C tests under memcheck (~20-50x slower): every unit test, the Log
    # and DB API tests, the model test, the lock and corruption tests, and the
    # fork-and-kill and threaded DB tests with fewer kills and operations
    # (valgrind follows forked children). The fault and power-loss campaigns
    # run under ASan above instead (thousands of runs). Leaks: only definite
    # ones fail (a forked child's _exit leaves its threads' stacks "possibly
    # lost"). An entry "VAR=value test" runs the test with that setting.
    echo "== C tests (valgrind memcheck) =="
    need_pkg valgrind valgrind
    vg_tests=(test_batch test_write_batch test_version_edit test_crc32c test_bloom test_block_cache
              test_index test_env test_version test_memtable test_sst test_db_iter test_log_api
              test_log_faults test_log_threads "DB_STEPS=1500 test_db_model" test_db_api test_log_lock
              test_log_corruption "CORRUPT_SAMPLES=10 test_db_corruption" "CRASH_KILLS=4 test_db_crash"
              "THREAD_OPS=2000 test_db_threads" "REPAIR_CRASH_POINTS=20 test_db_repair")
    vg_failed=0
    for entry in "${vg_tests[@]}"; do
        t=${entry##* }
        setting=()
        [ "$t" = "$entry" ] || setting=("${entry% *}")
        if env "${setting[@]}" valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
            "build/$t" >"build/valgrind-$t.log" 2>&1; then
            echo "  $t: clean ($(tail -1 "build/valgrind-$t.log"))"
        else
            echo "  $t: FAILED under valgrind (build/valgrind-$t.log):" >&2
            tail -30 "build/valgrind-$t.log" >&2
            vg_failed=1
        fi
    done
    if [ $vg_failed = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "test.sh: valgrind FAILED" >&2; fi

    echo "== fuzzing: every libFuzzer target for 60 s (scripts/fuzz.sh) =="
    run_script scripts/fuzz.sh "fuzz targets"
fi

echo "== Python tests =="
run_script scripts/test_python.sh "Python tests"

echo "== Lua tests =="
run_script scripts/test_lua.sh "Lua tests"

echo "== Jupyter notebook (examples/notebooks/stream_quickstart.ipynb, executed headlessly) =="
run_script scripts/test_notebook.sh "notebook"

echo "test suites: $passed passed, $failed failed"
[ "$failed" = 0 ]
