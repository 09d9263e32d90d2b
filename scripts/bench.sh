#!/usr/bin/env bash
# Every benchmark side by side, in one run (`make bench`):
#
#   bench_log        the C Log against the machine's ceilings (write, fdatasync, memcpy, CRC32C)
#   bench_peers_c    LevelDB, RocksDB, LMDB, SQLite and the lsmlog Log, db_bench-shaped
#                    and log-shaped workloads (one process per peer)
#   bench_db         the lsmlog DB on the same workloads (skipped while it does not build)
#   bench_python.py  lsmlog.Log from Python against sqlite3, py-lmdb, plyvel, rocksdict
#   bench_lua.lua    the Log from Lua 5.4 against LuaSQL's SQLite driver
#
# then bench/report.py merges their JSON into bench/results/latest.json, prints
# one table of figures and ratios, draws docs/bench.png and rewrites
# docs/benchmarks.md. A peer that cannot run is reported as "skipped: <reason>";
# no figure is ever made up.
#
# Usage: scripts/bench.sh [--n N] [--reps R] [--dir DIR] [--quick] [--install | --no-install]
#   --n N       records per workload (default 1000000); above 1000000 the whole
#               suite runs at 1000000 and again at N, for the scaling table
#   --reps R    repetitions per workload, median reported (default 3)
#   --dir DIR   where the stores are written (default /tmp)
#   --quick     smoke test: N=20000, 1 repetition, installs nothing, leaves
#               docs/ and bench/results/ alone; under a minute on a built tree
#   --install / --no-install   install missing peers with apt and pip (default:
#               yes, except with --quick)
# Exit status: 0 when every benchmark that could run ran; 1 if one failed.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    sed -n '/^# Usage:/,/^# Exit status/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

n=1000000
reps=3
dir=/tmp
quick=0
install=""
cmdline="$*"
while [ $# -gt 0 ]; do
    case "$1" in
    --n) n="${2:-}"; shift 2 || usage ;;
    --reps) reps="${2:-}"; shift 2 || usage ;;
    --dir) dir="${2:-}"; shift 2 || usage ;;
    --quick) quick=1; shift ;;
    --install) install=1; shift ;;
    --no-install) install=0; shift ;;
    *) usage ;;
    esac
done
[[ "$n" =~ ^[0-9]+$ && "$n" -ge 1000 ]] || { echo "bench: --n wants an integer >= 1000" >&2; exit 2; }
[[ "$reps" =~ ^[0-9]+$ && "$reps" -ge 1 && "$reps" -le 9 ]] || { echo "bench: --reps wants 1..9" >&2; exit 2; }
if [ "$quick" = 1 ]; then
    n=20000
    reps=1
fi
[ -n "$install" ] || install=$((1 - quick))
sizes=("$n")
[ "$n" -gt 1000000 ] && sizes=(1000000 "$n")
command="make bench"
[ -n "$cmdline" ] && command="bash scripts/bench.sh $cmdline"

t_start=$(date +%s)
started="$(date -u '+%Y-%m-%d %H:%M UTC')"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
# the commit built (the page names it even if HEAD moves during the run)
commit="$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || commit="$commit + uncommitted changes"
py="${PYTHON:-python3}"
export PIP_ROOT_USER_ACTION=ignore
results=build-release/bench-results
mkdir -p "$results"
buildlog="$results/build.log"
: >"$buildlog"

# ---- what is needed -------------------------------------------------------------------
source scripts/setup.sh # gcc, make, cmake (installed if missing); apt_updated

missing_debs() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || echo "$p"
    done
}
if [ "$install" = 1 ]; then
    mapfile -t debs < <(missing_debs librocksdb-dev libleveldb-dev liblmdb-dev libsqlite3-dev \
        lua5.4 liblua5.4-dev lua-sql-sqlite3)
    if [ ${#debs[@]} -gt 0 ]; then
        if [ "$(id -u)" != 0 ]; then
            echo "bench: not root, not installing ${debs[*]}: those peers will be skipped" >&2
        else
            echo "bench: installing ${debs[*]}" >&2
            { [ "$apt_updated" = 1 ] || DEBIAN_FRONTEND=noninteractive apt-get update -qq; } &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" >>"$buildlog" 2>&1 ||
                echo "bench: apt-get install ${debs[*]} failed: the peers missing will be skipped" >&2
        fi
    fi
    pips=()
    for m in plyvel lmdb rocksdict matplotlib; do
        "$py" -c "import $m" 2>/dev/null || pips+=("$m")
    done
    if [ ${#pips[@]} -gt 0 ]; then
        echo "bench: pip installing ${pips[*]}" >&2
        "$py" -m pip install -q --disable-pip-version-check "${pips[@]}" >>"$buildlog" 2>&1 ||
            echo "bench: pip install ${pips[*]} failed: those peers (or the chart) will be skipped" >&2
    fi
fi

# ---- build (Release) -------------------------------------------------------------------
echo "== build: lsmlog and the benchmarks in Release (build-release/) =="
lua_on=OFF
lua_skip=""
if ! command -v lua5.4 >/dev/null; then
    lua_skip="lua5.4 is not installed (apt-get install lua5.4 liblua5.4-dev)"
elif [ -f /usr/include/lua5.4/lua.h ] || [ -f /usr/local/include/lua5.4/lua.h ]; then
    lua_on=ON
else
    lua_skip="the Lua 5.4 headers are not installed (apt-get install liblua5.4-dev)"
fi
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DLSMLOG_TESTS=OFF -DLSMLOG_EXAMPLES=OFF \
    -DLSMLOG_BENCH=ON -DLSMLOG_LUA="$lua_on" >>"$buildlog" 2>&1 ||
    { tail -30 "$buildlog" >&2; echo "bench: cmake failed" >&2; exit 1; }
grep -E "bench_peers_c: " "$buildlog" | sed 's/^-- /  /' | sort -u || true
jobs="$(nproc)"
cmake --build build-release -j"$jobs" --target bench_log bench_peers_c >>"$buildlog" 2>&1 ||
    { tail -40 "$buildlog" >&2; echo "bench: building bench_log / bench_peers_c failed" >&2; exit 1; }

db_skip=""
if ! nm build-release/liblsmlog.a 2>/dev/null | grep " T lsmlog_db_open$" >/dev/null; then
    db_skip="not built (lsmlog_db_open is not in liblsmlog.a)"
elif ! cmake --build build-release -j"$jobs" --target bench_db >>"$buildlog" 2>&1; then
    db_skip="not built (bench_db did not compile or link against this lsmlog.h; see $buildlog)"
fi
[ -z "$db_skip" ] || echo "  lsmlog DB: skipped: $db_skip"

if [ "$lua_on" = ON ] && ! cmake --build build-release -j"$jobs" --target lsmlog_lua >>"$buildlog" 2>&1; then
    lua_skip="the Lua module did not build (see $buildlog)"
fi
[ -z "$lua_skip" ] || echo "  Lua: skipped: $lua_skip"

py_skip=""
pylib="$PWD/build-release/python/lib"
if ! "$py" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
    py_skip="$py has no headers (Python.h): install its -dev package"
else
    # Built into build-release/python, imported from there: neither an
    # installed lsmlog nor a concurrent test build is measured by mistake.
    rm -rf "$pylib"
    "$py" setup.py -q build --build-base build-release/python --build-lib "$pylib" build_ext >>"$buildlog" 2>&1 ||
        py_skip="the Python extension did not build (see $buildlog)"
fi
[ -z "$py_skip" ] || echo "  Python: skipped: $py_skip"

# ---- run --------------------------------------------------------------------------------
failed=0
status_json() { # status_json FILE LAYER PEER STATUS REASON: a peer that gave no figure, and why
    "$py" - "$@" <<'EOF'
import json, sys
path, layer, peer, status, reason = sys.argv[1:6]
with open(path, "w") as f:
    json.dump({"layer": layer, "peers": [{"peer": peer, "status": status, "reason": reason}], "goals": []}, f)
EOF
}
# ran JSON LAYER PEER COMMAND...: runs a benchmark (its progress on stderr as
# it goes). A failure is counted and, if the benchmark left no JSON, recorded
# as "failed" with its last error line, so the report says so.
ran() {
    local json="$1" layer="$2" peer="$3" err rc=0
    shift 3
    err="$(mktemp)"
    { "$@" 2>&1 1>&3 3>&- | tee "$err" >&2; } 3>&1 || rc=$?
    if [ "$rc" != 0 ]; then
        failed=$((failed + 1))
        echo "bench: $peer FAILED (exit $rc)" >&2
        [ -z "$json" ] || [ -s "$json" ] ||
            status_json "$json" "$layer" "$peer" failed "$(grep -v '^ *\[' "$err" | tail -1)"
    fi
    rm -f "$err"
}

runs=()
for size in "${sizes[@]}"; do
    out="$results/n$size"
    rm -rf "$out"
    mkdir -p "$out"
    runs+=(--run "$out")
    echo
    echo "================ N = $size, $reps repetition(s) ================"
    echo "== bench_log: the C Log against the machine's ceilings =="
    ran "" c-log bench_log ./build-release/bench_log -n "$size" -r "$reps" -d "$dir" --json "$out/log.json"
    echo
    echo "== bench_peers_c (LevelDB, RocksDB, LMDB, SQLite, the lsmlog Log) and bench_db (the lsmlog DB) =="
    # One process per peer and repetition; repetitions outside, peers inside,
    # in alternating order, so drift in the machine's load hits every peer
    # alike. report.py takes the medians over the repetitions' files.
    peers=(lsmlog-log lsmlog-db leveldb rocksdb lmdb sqlite)
    down=() # peers that failed: not run again
    for ((rep = 1; rep <= reps; rep++)); do
        order=("${peers[@]}")
        if [ $((rep % 2)) = 0 ]; then
            order=()
            for ((i = ${#peers[@]} - 1; i >= 0; i--)); do order+=("${peers[i]}"); done
        fi
        for peer in "${order[@]}"; do
            json="$out/peer-$peer-$rep.json"
            [[ " ${down[*]} " == *" $peer "* ]] && continue
            if [ "$peer" = lsmlog-db ]; then
                if [ -n "$db_skip" ]; then
                    [ "$rep" = 1 ] && echo "lsmlog DB: skipped ($db_skip)"
                    status_json "$json" c-kv lsmlog-db skipped "$db_skip"
                    continue
                fi
                cmd=(./build-release/bench_db)
            else
                cmd=(./build-release/bench_peers_c --peer "$peer")
            fi
            local_failed=$failed
            ran "$json" c-kv "$peer" "${cmd[@]}" -n "$size" -r 1 -d "$dir" --json "$json"
            [ "$failed" = "$local_failed" ] || down+=("$peer")
        done
    done
    echo
    echo "== bench_python.py =="
    if [ -z "$py_skip" ]; then
        ran "$out/python.json" python lsmlog.Log env PYTHONPATH="$pylib" LSMLOG_BENCH_PYLIB="$pylib" "$py" bench/bench_python.py \
            --n "$size" --reps "$reps" --dir "$dir" --c-json "$out/log.json" --json "$out/python.json"
    else
        echo "Python: skipped ($py_skip)"
        status_json "$out/python.json" python lsmlog.Log skipped "$py_skip"
    fi
    echo
    echo "== bench_lua.lua =="
    if [ -z "$lua_skip" ]; then
        ran "$out/lua.json" lua "lsmlog (Lua)" env LUA_CPATH="$PWD/build-release/lua/?.so;;" lua5.4 bench/bench_lua.lua \
            --n "$size" --reps "$reps" --dir "$dir" --json "$out/lua.json"
    else
        echo "Lua: skipped ($lua_skip)"
        status_json "$out/lua.json" lua "lsmlog (Lua)" skipped "$lua_skip"
    fi
done

# ---- report -------------------------------------------------------------------------------
echo
echo "================ report ================"
report=("$py" bench/report.py "${runs[@]}" --command "$command" --reps "$reps" --data-dir "$dir"
    --load-start "$load_start" --started "$started" --commit "$commit")
if [ "$quick" = 1 ]; then
    report+=(--out "$results/quick.json")
else
    report+=(--out bench/results/latest.json --chart docs/bench.png --doc docs/benchmarks.md)
fi
ran "" report report "${report[@]}"

echo
echo "bench: done in $(($(date +%s) - t_start)) s; $failed failed"
[ "$failed" = 0 ]
