#!/usr/bin/env bash
# The main job: installs the Python package (pip install ., into a virtual
# environment in build-demo/venv) and runs `python -m lsmlog demo`: sensor
# events streamed into a Log, tailed by a second reader, aggregated into a DB,
# with throughputs. Usage: scripts/demo.sh [DIR] [demo options...]
#   scripts/demo.sh --c [DIR]   the C stream demo (examples/stream_demo.c) instead
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

if [ "${1:-}" = --c ]; then
    shift
    cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=Release -DLSMLOG_TESTS=OFF -DLSMLOG_EXAMPLES=ON >/dev/null
    cmake --build build-demo -j"$(nproc)" --target stream_demo >/dev/null
    dir="${1:-$(mktemp -d /tmp/lsmlog-demo.XXXXXX)/events}"
    exec ./build-demo/stream_demo "$dir"
fi

need_apt_pkg() { # need_apt_pkg PACKAGE: a Debian package with no command to look for
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "demo: Python's $1 part is missing: install it (apt-get install $1)" >&2
        exit 1
    fi
    echo "setup: installing $1" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

py="${PYTHON:-python3}"
need_pkg "$py" python3
# a fresh Debian has python3 without venv/ensurepip and without its headers
if ! "$py" -c 'import ensurepip, venv' 2>/dev/null; then
    need_apt_pkg python3-venv
fi
if ! "$py" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
    need_apt_pkg python3-dev
fi

venv=build-demo/venv
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
echo "demo: building and installing the package (pip install .) into $venv" >&2
log="$(mktemp)"
if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-deps --force-reinstall . >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "demo: pip install . FAILED" >&2
    exit 1
fi
rm -f "$log"
# a DIR given relative to here stays so from /tmp, where the demo runs (-I and
# another directory: the installed package, not the source tree's)
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then set -- "$(realpath -m "$1")" "${@:2}"; fi
root="$PWD"
cd /tmp
exec "$root/$venv/bin/python" -I -m lsmlog demo "$@"
