#!/usr/bin/env bash
# The Python package's tests: installs what they need (pytest, mypy, numpy,
# pandas, ... from PyPI), builds and installs the package, runs pytest; then,
# unless LSMLOG_QUICK=1, rebuilds the extension with AddressSanitizer +
# UndefinedBehaviorSanitizer, runs pytest again under it, and puts the normal
# build back. Exits non-zero on any failure and on a run that collected no test.
# PYTHON=python3.x picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
py="${PYTHON:-python3}"
pip_q=("$py" -m pip install -q --disable-pip-version-check)
export PIP_ROOT_USER_ACTION=ignore
failed=0
passed=0

"$py" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' ||
    { echo "test_python.sh: $py has no headers (Python.h): install its -dev package" >&2; exit 1; }

echo "== Python: installing the test requirements =="
"${pip_q[@]}" "pytest>=7" pytest-timeout "mypy>=1.0" numpy "pandas>=2.0" tqdm

install_package() { # install_package [sanitize]: a fresh build in its own directory, warning-clean
    local dir=build-python out
    [ "${1:-}" = sanitize ] && dir=build-python-asan
    rm -rf "$dir"
    out="$(mktemp)"
    if ! LSMLOG_SANITIZE="$([ "${1:-}" = sanitize ] && echo 1 || echo 0)" \
        "$py" -m pip install -v --disable-pip-version-check --force-reinstall --no-deps ./ >"$out" 2>&1; then
        cat "$out" >&2
        rm -f "$out"
        echo "test_python.sh: building the package FAILED" >&2
        return 1
    fi
    if grep -E '\.[ch]:[0-9]+:[0-9]+: (warning|error)' "$out" >&2; then
        echo "test_python.sh: the extension's build is not warning-clean" >&2
        failed=$((failed + 1))
    fi
    rm -f "$out"
}

run_pytest() { # run_pytest LABEL [ENV=VALUE ...]: counts the run as passed or failed
    local label="$1" rc=0
    shift
    # -I: the working directory stays off sys.path (the Lua build leaves a
    # lsmlog.so in the repository's root), so the installed package is tested.
    env "$@" "$py" -I -m pytest tests/python -q -p no:cacheprovider || rc=$?
    if [ "$rc" = 0 ]; then
        passed=$((passed + 1))
    else
        [ "$rc" = 5 ] && echo "test_python.sh: $label collected no test" >&2
        echo "test_python.sh: $label FAILED (pytest exit $rc)" >&2
        failed=$((failed + 1))
    fi
}

echo "== Python: build and install =="
install_package
echo "== Python tests =="
run_pytest "Python tests"

if [ "${LSMLOG_QUICK:-0}" != 1 ]; then
    echo "== Python tests (extension under AddressSanitizer + UndefinedBehaviorSanitizer) =="
    # whatever happens next, do not leave the sanitized build installed
    trap 'echo "test_python.sh: restoring the normal build" >&2; install_package || true' EXIT
    install_package sanitize
    ext="$("$py" -I -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')"/lsmlog/_lsmlog*.so
    # (grep reads all of ldd's output: with -q it could stop early, and under
    # pipefail the SIGPIPE that ldd then gets would fail the check)
    # shellcheck disable=SC2086
    ldd $ext | grep libasan >/dev/null || { echo "test_python.sh: the extension is not built with ASan" >&2; exit 1; }
    # CPython is not built with ASan: the runtime is preloaded. CPython itself
    # leaks at exit, so leak checking is off.
    run_pytest "Python tests under ASan+UBSan" \
        LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
        ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        LSMLOG_ASAN=1
    echo "== Python: restoring the normal build =="
    install_package
    trap - EXIT
fi

echo "python: $passed passed, $failed failed"
[ "$failed" = 0 ]
