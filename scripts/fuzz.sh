#!/usr/bin/env bash
# The libFuzzer targets of tests/fuzz/ (docs/fuzzing.md).
#
#   bash scripts/fuzz.sh [SECONDS]     build the targets into build-fuzz/, run every
#                                      committed corpus file once through each (a
#                                      regression seed that crashes again fails fast),
#                                      then fuzz each target for SECONDS (default 60)
#                                      from a scratch copy of the corpus; nproc
#                                      targets at a time, each for all of SECONDS
#   bash scripts/fuzz.sh --make-corpus regenerate tests/fuzz/corpus/ (make_corpus.c)
#
# Installs clang and the libFuzzer runtime when missing (Debian 12: clang,
# libclang-rt-14-dev). Exits non-zero if a target fails to build, or crashes,
# leaks, times out (-timeout=10) or runs out of memory (-rss_limit_mb=2048),
# or fuzzes nothing (no execution counted).
# The inputs that did are kept in build-fuzz/crashes/<target>-*. The
# repository is not modified: new corpus entries go to the scratch copy.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

TARGETS=(fuzz_log_reader fuzz_sst_reader fuzz_manifest fuzz_db_ops)
OUT=build-fuzz
CFLAGS=(-g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter
        -fno-sanitize-recover=undefined -Icore/include -Icore/src)
jobs="$(nproc)"

mode=fuzz
secs=60
case "${1:-}" in
    --make-corpus) mode=corpus ;;
    "") ;;
    *[!0-9]* | 0) echo "usage: scripts/fuzz.sh [SECONDS] | --make-corpus" >&2; exit 2 ;;
    *) secs="$1" ;;
esac

# ---- toolchain ----------------------------------------------------------------
need_pkg clang clang
probe_dir="$(mktemp -d)"
scratch=""
cleanup() { rm -rf "$probe_dir" ${scratch:+"$scratch"}; }
trap cleanup EXIT
probe() { # can clang link a libFuzzer + ASan + UBSan binary?
    printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
        >"$probe_dir/p.c"
    clang -fsanitize=fuzzer,address,undefined "$probe_dir/p.c" -o "$probe_dir/p" >/dev/null 2>&1
}
if ! probe; then
    # Debian 12 ships the sanitizer and libFuzzer runtimes apart from clang
    ver="$(clang -dumpversion | cut -d. -f1)"
    if [ "$(id -u)" != 0 ]; then
        echo "fuzz.sh: clang cannot link -fsanitize=fuzzer; install: apt-get install libclang-rt-$ver-dev" >&2
        exit 1
    fi
    if [ "$apt_updated" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq; apt_updated=1; fi
    echo "setup: installing libclang-rt-$ver-dev" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "libclang-rt-$ver-dev" >/dev/null
    probe || { echo "fuzz.sh: clang still cannot link -fsanitize=fuzzer" >&2; exit 1; }
fi

mkdir -p "$OUT"

# ---- --make-corpus ----------------------------------------------------------------
if [ $mode = corpus ]; then
    clang -fsanitize=address,undefined "${CFLAGS[@]}" tests/fuzz/make_corpus.c core/src/*.c \
        -lpthread -o "$OUT/make_corpus"
    # made files are replaced; kept: the inputs of findings (regress*) and
    # hand-written seeds of targets make_corpus does not cover (fuzz_db_ops)
    find tests/fuzz/corpus -type f ! -name 'regress*' ! -path '*/fuzz_db_ops/*' -delete 2>/dev/null || true
    "$OUT/make_corpus" tests/fuzz/corpus
    echo "corpus: $(find tests/fuzz/corpus -type f | wc -l) files, $(du -sk tests/fuzz/corpus | cut -f1) KiB"
    exit 0
fi

# ---- build ----------------------------------------------------------------------
# The core once (instrumented for coverage, not linked with the fuzzer's
# main), then each target; in parallel.
start_time=$SECONDS
echo "== building the fuzz targets into $OUT/ =="
mkdir -p "$OUT/obj" "$OUT/crashes"
rm -f "$OUT"/obj/*.o
build_log="$OUT/build.log"
: >"$build_log"
built=()
failed=0
passed=0
if ! printf '%s\n' core/src/*.c | xargs -P"$jobs" -I{} sh -c \
    'clang -fsanitize=fuzzer-no-link,address,undefined "$@" -c "{}" -o "'"$OUT"'/obj/$(basename "{}" .c).o"' \
    _ "${CFLAGS[@]}" >>"$build_log" 2>&1; then
    cat "$build_log" >&2
    echo "fuzz.sh: the core does not build" >&2
    echo "fuzz targets: 0 passed, ${#TARGETS[@]} failed"
    exit 1
fi
for t in "${TARGETS[@]}"; do
    rm -f "$OUT/$t"
    if clang -fsanitize=fuzzer,address,undefined "${CFLAGS[@]}" "tests/fuzz/$t.c" "$OUT"/obj/*.o \
        -lpthread -o "$OUT/$t" >>"$build_log" 2>&1; then
        built+=("$t")
    else
        echo "fuzz.sh: $t does not build" >&2
        failed=$((failed + 1))
    fi
done
if grep -q "warning:" "$build_log"; then
    echo "fuzz.sh: (the build has warnings, see $build_log)" >&2
fi
[ $failed = 0 ] || cat "$build_log" >&2
echo "built in $((SECONDS - start_time)) s"

# ---- run --------------------------------------------------------------------------
# a tmpfs when there is one: the targets fsync, and on a tmpfs that is free
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm="${TMPDIR:-/tmp}"
scratch="$(mktemp -d "$shm/lsmlog-fuzz.XXXXXX")"
export LSMLOG_FUZZ_TMP="$scratch/tmp" # the targets' scratch directories (fuzz_util.h)
mkdir -p "$LSMLOG_FUZZ_TMP"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

verdict() { # verdict LOG: what a target's run ended with
    if grep -q "ERROR: libFuzzer: timeout" "$1"; then echo "TIMEOUT"
    elif grep -q "ERROR: libFuzzer: out-of-memory" "$1"; then echo "OUT OF MEMORY"
    elif grep -q "ERROR: LeakSanitizer" "$1"; then echo "LEAK"
    elif grep -q "runtime error:" "$1"; then echo "UNDEFINED BEHAVIOUR"
    else echo "CRASH"; fi
}

report_failure() { # report_failure TARGET LOG: the error and its stack, and the input kept
    echo "--- $1: $(verdict "$2") ---"
    grep -E -A40 "ERROR: |runtime error:|invariant failed" "$2" | head -60 || true
    grep -E "Test unit written to|Running: " "$2" | tail -3 || true
    echo "--- (full output: $2) ---"
}

# One target: its committed corpus once, then fuzzing from a scratch copy.
# Runs in the background: everything it says goes to $OUT/TARGET.report,
# printed whole when it ends; its exit status is the verdict (0: passed).
fuzz_one() { # fuzz_one TARGET
    local t="$1" log="$OUT/$1.log" corpus="tests/fuzz/corpus/$1" work="$scratch/corpus/$1"
    local nseeds t0 rc=0 execs rate added cov size
    exec >"$OUT/$t.report" 2>&1
    nseeds="$(find "$corpus" -type f 2>/dev/null | wc -l || true)"
    echo "== $t: $nseeds committed corpus files, once each =="
    if ! "$OUT/$t" -runs=0 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$OUT/crashes/$t-" \
        "$corpus" >"$log" 2>&1; then
        report_failure "$t" "$log"
        echo "$t: FAILED on the committed corpus"
        return 1
    fi
    echo "== $t: fuzzing for $secs s =="
    mkdir -p "$work"
    cp -r "$corpus"/. "$work"/
    local dict=()
    [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
    t0=$SECONDS
    "$OUT/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -seed=1 -print_final_stats=1 \
        -artifact_prefix="$OUT/crashes/$t-" "${dict[@]}" "$work" >"$log" 2>&1 || rc=$?
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    added="$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)"
    cov="$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)"
    size="$(find "$work" -type f | wc -l) files, $(du -sk "$work" | cut -f1) KiB"
    if [ $rc != 0 ]; then
        report_failure "$t" "$log"
        result="FAILED ($(verdict "$log"), exit $rc)"
    elif [ "${execs:-0}" = 0 ]; then # a run that fuzzed nothing did not pass
        result="FAILED (no execution counted, see $log)"
        rc=1
    else
        result=passed
    fi
    echo "$t: ${execs:-?} executions in $((SECONDS - t0)) s (${rate:-?}/s), corpus $size (${added:-?} new), ${cov:-cov ?}: $result"
    return $rc
}

# $jobs targets at a time, each for the full $secs; the counts come from
# each target's exit status, the reports in the order the targets end.
echo "== running ${#built[@]} targets, $jobs at a time =="
declare -A running=() # pid -> target
reap() { # waits for one target to end, prints its report, counts it
    local pid="" rc=0 t
    wait -n -p pid || rc=$?
    t="${running[$pid]}"
    unset "running[$pid]"
    cat "$OUT/$t.report" 2>/dev/null || true
    if [ $rc = 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        # a target that stopped before its verdict line still says so
        grep -q "^$t: .*FAILED" "$OUT/$t.report" 2>/dev/null || echo "$t: FAILED (exit $rc, see $OUT/$t.report)"
    fi
}
for t in "${built[@]}"; do
    [ "${#running[@]}" -lt "$jobs" ] || reap
    rm -f "$OUT/$t.report"
    fuzz_one "$t" &
    running[$!]="$t"
done
while [ "${#running[@]}" -gt 0 ]; do reap; done

echo "fuzz script time: $((SECONDS - start_time)) s"
echo "fuzz targets: $passed passed, $failed failed"
[ $failed = 0 ] && [ $passed = ${#TARGETS[@]} ]
