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

# Each section says how long it took, and the end lists them all: where the
# CI's time goes (its budget: under 20 minutes on a 2-core machine).
section_name=""
section_t0=$SECONDS
section_times=()
end_section() { # closes the running section, if any, with its time
    [ -n "$section_name" ] || return 0
    local took=$((SECONDS - section_t0))
    echo "   (section took $took s)"
    section_times+=("$(printf '%5d s  %s' "$took" "$section_name")")
    section_name=""
}
section() { # section TITLE: ends the previous section and starts this one
    end_section
    echo "== $1 =="
    section_name="$1"
    section_t0=$SECONDS
}

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

section "C tests (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLSMLOG_TESTS=ON -DLSMLOG_SANITIZE=OFF >/dev/null
cmake --build build -j"$jobs" 2>&1 | grep -E "warning|error" && { echo "test.sh: the build is not warning-clean" >&2; failed=$((failed + 1)); }
run_ctest build "C tests"

for store in log db; do
    section "kill campaign ($store): SIGKILL a writer 200 times, reopen, verify (tests/crash)"
    if python3 tests/crash/kill_campaign.py --store $store --build-dir build --kills 200; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "test.sh: kill campaign ($store) FAILED" >&2
    fi
done

if [ "${LSMLOG_QUICK:-0}" != 1 ]; then
    section "C tests (AddressSanitizer + UndefinedBehaviorSanitizer)"
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLSMLOG_SANITIZE=ON -DLSMLOG_TESTS=ON -DLSMLOG_BENCH=OFF >/dev/null
    cmake --build build-asan -j"$jobs" >/dev/null
    # The fault and power-loss campaigns on every 2nd point and the model
    # test on half its steps: the plain run above does every point and step,
    # and CI has 20 minutes.
    FAULT_STRIDE=2 DB_STEPS=4000 \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_ctest build-asan "C tests under ASan+UBSan"
fi

run_script() { # run_script SCRIPT LABEL: a language's own test script
    if bash "$1"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "test.sh: $2 FAILED" >&2; fi
}

if [ "${LSMLOG_QUICK:-0}" != 1 ]; then
    section "threaded C tests (ThreadSanitizer)"
    cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLSMLOG_TSAN=ON -DLSMLOG_TESTS=ON -DLSMLOG_BENCH=OFF -DLSMLOG_EXAMPLES=OFF >/dev/null
    # test_db_model and test_compaction: the DB's two background threads
    # flush and compact beside the test's reads and writes
    cmake --build build-tsan -j"$jobs" --target test_log_threads test_memtable test_db_threads test_db_model test_compaction >/dev/null
    TSAN_OPTIONS=halt_on_error=1 DB_STEPS=3000 run_ctest build-tsan "threaded C tests under TSan" -R "test_log_threads|test_memtable|test_db_threads|test_db_model|test_compaction"
fi

if [ "${LSMLOG_QUICK:-0}" != 1 ]; then
    # The C tests under memcheck (~20-50x slower; ~5-15x for the tests that
    # mostly fork and do file I/O), nproc at a time (wait -n -p: bash 5.1): every unit test, the Log
    # and DB API tests, the model test, the lock and corruption tests, the
    # fork-and-kill and threaded DB tests with fewer kills and operations, and
    # the fault and power-loss campaigns, the DB's on every k-th point
    # (FAULT_STRIDE, tests/c/fault_env.h; the Log's are small enough whole).
    # Valgrind follows forked children (the power-loss and kill tests do their
    # work in them). Leaks: only definite ones fail (a forked child's _exit
    # leaves its threads' stacks "possibly lost"). An entry "VAR=value ...
    # test" runs the test with those settings. Longest first, so that the
    # slots end together; each says how long it took.
    section "C tests (valgrind memcheck, $jobs at a time)"
    need_pkg valgrind valgrind
    vg_tests=("CORRUPT_SAMPLES=4 test_db_corruption" test_log_corruption "REPAIR_CRASH_POINTS=14 test_db_repair"
              test_db_iter test_log_power_loss "FAULT_STRIDE=4 test_db_fault_campaign" test_db_api test_sst
              "FAULT_STRIDE=4 test_db_power_loss" test_log_fault_campaign "THREAD_OPS=1500 test_db_threads"
              "DB_STEPS=1500 test_db_model" test_memtable test_log_threads test_log_crash test_log_api
              "CRASH_KILLS=4 test_db_crash" test_log_lock test_log_faults test_batch test_write_batch
              test_version_edit test_crc32c test_bloom test_block_cache test_index test_env test_version test_compaction)
    vg_run() { # vg_run ENTRY: runs one entry; writes its verdict to build/valgrind-TEST.verdict
        local entry="$1" t="${1##* }" setting=() t0=$SECONDS
        [ "$t" = "$entry" ] || read -ra setting <<<"${entry% *}"
        if env "${setting[@]}" valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
            "build/$t" >"build/valgrind-$t.log" 2>&1; then
            echo "  $t: clean in $((SECONDS - t0)) s ($(tail -1 "build/valgrind-$t.log"))" >"build/valgrind-$t.verdict"
        else
            { echo "  $t: FAILED under valgrind after $((SECONDS - t0)) s (build/valgrind-$t.log):"
              tail -30 "build/valgrind-$t.log"; } >"build/valgrind-$t.verdict"
            return 1
        fi
    }
    declare -A vg_running=() # pid -> test
    vg_failed=0
    vg_reap() { # waits for one running entry to end, and prints its verdict
        local pid="" rc=0 t
        wait -n -p pid || rc=$?
        t="${vg_running[$pid]}"
        unset "vg_running[$pid]"
        if [ "$rc" = 0 ]; then
            cat "build/valgrind-$t.verdict"
        else
            cat "build/valgrind-$t.verdict" >&2 2>/dev/null || echo "  $t: FAILED (exit $rc, no verdict)" >&2
            vg_failed=1
        fi
    }
    for entry in "${vg_tests[@]}"; do
        rm -f "build/valgrind-${entry##* }.verdict"
        [ "${#vg_running[@]}" -lt "$jobs" ] || vg_reap
        vg_run "$entry" &
        vg_running[$!]="${entry##* }"
    done
    while [ "${#vg_running[@]}" -gt 0 ]; do vg_reap; done
    if [ $vg_failed = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "test.sh: valgrind FAILED" >&2; fi

    section "fuzzing: every libFuzzer target for 60 s, $jobs at a time (scripts/fuzz.sh)"
    run_script scripts/fuzz.sh "fuzz targets"
fi

section "Python tests"
run_script scripts/test_python.sh "Python tests"

section "Lua tests"
run_script scripts/test_lua.sh "Lua tests"

section "Jupyter notebook (examples/notebooks/stream_quickstart.ipynb, executed headlessly)"
run_script scripts/test_notebook.sh "notebook"

end_section
echo "time per section:"
printf '%s\n' "${section_times[@]}"
echo "total: $SECONDS s"
echo "test suites: $passed passed, $failed failed"
[ "$failed" = 0 ]
