#!/usr/bin/env bash
# The Lua module's tests: builds the module with CMake (build-lua/), runs the
# busted specs in tests/lua under lua5.4, checks that the rockspec builds and
# installs with luarocks (into build-lua/rocks), then, unless LSMLOG_QUICK=1,
# builds the module with AddressSanitizer + UndefinedBehaviorSanitizer
# (build-lua-asan/) and runs the specs again, LeakSanitizer included.
# Installs what it needs with apt. Exits non-zero on any failure and on an
# empty run. SEED=n replays the random parts.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh # gcc, make, cmake; defines apt_updated

need_deb() { # need_deb PACKAGE...: installs the Debian packages not installed yet
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
    done
    [ ${#missing[@]} = 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "test_lua: missing ${missing[*]}; install: apt-get install ${missing[*]}" >&2
        exit 1
    fi
    if [ "$apt_updated" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    echo "test_lua: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}
need_deb lua5.4 liblua5.4-dev lua-busted luarocks

jobs="$(nproc)"
failed=0
passed=0
tmp="$(mktemp -d /tmp/lsmlog-lua-XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

# run_specs LABEL MODULE_DIR [ENV...]: runs every spec with the module found
# in MODULE_DIR; counts the run as passed or failed. busted ends with
# "N successes / M failures / E errors / P pending : T seconds"; a run with no
# success, or without that line, is a failure.
run_specs() {
    local label="$1" dir="$2" out ok=1 line
    shift 2
    out="$tmp/busted.out"
    mkdir -p "$tmp/data"
    env "$@" LUA_CPATH="$dir/?.so;;" LSMLOG_TEST_TMP="$tmp/data" \
        busted --lua=lua5.4 -o plainTerminal tests/lua 2>&1 | tee "$out" || ok=0
    rm -rf "$tmp/data"
    line="$(grep -E '^[0-9]+ success(es)? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$out" | tail -1 || true)"
    if [ -z "$line" ]; then
        echo "test_lua: $label: busted printed no summary" >&2
        ok=0
    elif ! [[ "$line" =~ ^([0-9]+)\ success(es)?\ /\ 0\ failures?\ /\ 0\ errors? ]] || [ "${BASH_REMATCH[1]}" = 0 ]; then
        echo "test_lua: $label: $line" >&2
        ok=0
    fi
    if [ $ok = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "test_lua: $label FAILED" >&2; fi
}

# The rockspec lists its C sources by hand (the builtin backend has no
# globs): the Log's files. Every listed file must exist; a core file the Log
# comes to need but the list lacks leaves an undefined symbol, which the
# smoke test's require (dlopen with RTLD_NOW) reports.
check_rockspec_sources() {
    local f ok=0 listed others
    listed="$(grep -oE '"(core/src|bindings/lua)/[a-z0-9_]+\.c"' lua/lsmlog-*.rockspec | tr -d '"' | sort)"
    for f in $listed; do
        [ -f "$f" ] || { echo "test_lua: the rockspec lists $f, which does not exist" >&2; ok=1; }
    done
    for f in bindings/lua/*.c; do
        grep -qx "$f" <<<"$listed" || { echo "test_lua: the rockspec does not list $f" >&2; ok=1; }
    done
    others="$(comm -13 <(echo "$listed") <(ls core/src/*.c | sort) | tr '\n' ' ')"
    [ -z "$others" ] || echo "test_lua: not in the rockspec (the Log does not use them): $others"
    return $ok
}

# luarocks make, offline, into build-lua/rocks; from a copy of the tree,
# because the builtin backend leaves its objects next to the sources.
check_rock() {
    local src="build-lua/rock-src" tree="$PWD/build-lua/rocks"
    check_rockspec_sources || return 1
    rm -rf "$src" "$tree"
    mkdir -p "$src"
    cp -r core bindings lua "$src/"
    (cd "$src" && luarocks --lua-version=5.4 make --tree "$tree" lua/lsmlog-*.rockspec) \
        >"$tmp/rock.out" 2>&1 || { cat "$tmp/rock.out" >&2; return 1; }
    local so
    so="$(find build-lua/rocks -name lsmlog.so | head -1)"
    [ -n "$so" ] || { echo "test_lua: luarocks installed no lsmlog.so" >&2; return 1; }
    LUA_CPATH="$(dirname "$so")/?.so" SMOKE_DIR="$tmp/rock-smoke" lua5.4 -e '
        local lsmlog = require "lsmlog"
        local dir = os.getenv("SMOKE_DIR")
        local log = assert(lsmlog.open_log(dir))
        assert(log:append("a\0b") == 0 and log:get(0) == "a\0b")
        for off, v in log:records() do assert(off == 0 and v == "a\0b") end
        assert(log:close())
        print("test_lua: the luarocks build works (" .. lsmlog.version .. ")")'
}

# build BUILD_DIR LABEL CMAKE_OPTIONS...: configures and builds the module;
# returns 1 if the build failed, 2 if the binding's code has warnings (a
# warning in core/ is reported, and left to scripts/test.sh to fail on).
build() {
    local dir="$1" label="$2"
    shift 2
    cmake -S . -B "$dir" -DLSMLOG_LUA=ON -DLSMLOG_TESTS=OFF -DLSMLOG_BENCH=OFF -DLSMLOG_EXAMPLES=OFF "$@" \
        >"$tmp/cmake.out" 2>&1 &&
        cmake --build "$dir" -j"$jobs" >>"$tmp/cmake.out" 2>&1 || {
        cat "$tmp/cmake.out" >&2
        echo "test_lua: $label: the build failed" >&2
        return 1
    }
    grep -E "warning|error" "$tmp/cmake.out" | grep -v "bindings/lua/" | sed 's/^/test_lua: (core) /' >&2 || true
    if grep -E "warning|error" "$tmp/cmake.out" | grep "bindings/lua/" >&2; then
        echo "test_lua: $label: the binding's build is not warning-clean" >&2
        return 2
    fi
}

# suite BUILD_DIR LABEL SPECS_LABEL CMAKE_OPTIONS... -- ENV...: builds, then runs the specs
suite() {
    local dir="$1" label="$2" specs="$3" opts=() rc=0
    shift 3
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    build "$dir" "$label" "${opts[@]}" || rc=$?
    [ $rc = 0 ] || failed=$((failed + 1))
    [ $rc = 1 ] || run_specs "$specs" "$PWD/$dir/lua" "$@"
}

echo "== Lua module (RelWithDebInfo) =="
suite build-lua "Lua module" "Lua specs" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLSMLOG_SANITIZE=OFF

echo "== luarocks make =="
if check_rock; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "test_lua: luarocks make FAILED" >&2; fi

if [ "${LSMLOG_QUICK:-0}" != 1 ]; then
    echo "== Lua specs (AddressSanitizer + UndefinedBehaviorSanitizer) =="
    # lua5.4 is not instrumented: the runtime comes first with LD_PRELOAD. The
    # specs drop it for external commands (helper.lua), whose own leaks are
    # not ours; Lua children keep it.
    suite build-lua-asan "Lua module with ASan+UBSan" "Lua specs under ASan+UBSan" \
        -DCMAKE_BUILD_TYPE=Debug -DLSMLOG_SANITIZE=ON -- \
        LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

echo "Lua test suites: $passed passed, $failed failed"
[ "$failed" = 0 ]
