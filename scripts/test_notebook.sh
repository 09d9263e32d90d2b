#!/usr/bin/env bash
# Executes examples/notebooks/stream_quickstart.ipynb headlessly, cell by
# cell, in a fresh Jupyter kernel (nbclient + ipykernel): every cell asserts
# its own result, so a failing cell fails this script (exit 1).
#
# Installs what it needs from PyPI (nbclient, nbformat, ipykernel, pandas,
# matplotlib) into the environment scripts/test_python.sh uses ($PYTHON, or
# python3), and builds and installs the package there (pip install .). A
# Debian python3 is "externally managed" (PEP 668: pip refuses to install
# into it), so for it the script makes a virtual environment in
# build-notebook/venv instead, installing python3-venv and python3-dev with
# apt when missing (as scripts/demo.sh does).
#
# The kernel runs in build-notebook/run/, which keeps the executed notebook
# (stream_quickstart.ipynb, with its outputs) and the plot it saves.
# --update-docs copies that plot to docs/jupyter_plot.png.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

update_docs=0
case "${1:-}" in
    --update-docs) update_docs=1 ;;
    "") ;;
    *) echo "usage: scripts/test_notebook.sh [--update-docs]" >&2; exit 2 ;;
esac

notebook=examples/notebooks/stream_quickstart.ipynb
out=build-notebook
py="${PYTHON:-python3}"
export PIP_ROOT_USER_ACTION=ignore

need_pkg "$py" python3
need_apt_pkg() { # need_apt_pkg PACKAGE: a Debian package with no command to look for
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "test_notebook.sh: $1 is missing: install it (apt-get install $1)" >&2
        exit 1
    fi
    echo "setup: installing $1" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

# Externally managed: not a virtual environment, and the interpreter's
# standard library holds the EXTERNALLY-MANAGED marker (PEP 668).
if "$py" -c 'import os, sys, sysconfig
sys.exit(not (sys.prefix == sys.base_prefix and os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))))'; then
    if ! "$py" -c 'import ensurepip, venv' 2>/dev/null; then need_apt_pkg python3-venv; fi
    [ -x "$out/venv/bin/python" ] || "$py" -m venv "$out/venv"
    py="$PWD/$out/venv/bin/python"
    echo "== notebook: $("$py" --version) in $out/venv ($("${PYTHON:-python3}" -c 'import sys; print(sys.executable)') is externally managed) =="
else
    "$py" -m pip --version >/dev/null 2>&1 ||
        { echo "test_notebook.sh: $py has no pip: install it (e.g. apt-get install python3-pip)" >&2; exit 1; }
    echo "== notebook: $("$py" --version) at $("$py" -c 'import sys; print(sys.executable)') =="
fi
if ! "$py" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
    need_apt_pkg python3-dev
fi

echo "== notebook: installing nbclient, ipykernel, pandas, matplotlib; building the package =="
"$py" -m pip install -q --disable-pip-version-check nbclient nbformat ipykernel numpy "pandas>=2.0" matplotlib
log="$(mktemp)"
if ! "$py" -m pip install -v --disable-pip-version-check --no-deps --force-reinstall ./ >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "test_notebook.sh: building the package FAILED" >&2
    exit 1
fi
rm -f "$log"

# A kernel spec of our own, naming this interpreter by its absolute path, so
# that no other "python3" kernel a user has installed is picked up.
rm -rf "$out/run" "$out/jupyter"
mkdir -p "$out/run"
"$py" -m ipykernel install --prefix "$PWD/$out/jupyter" --name lsmlog-notebook-test >/dev/null 2>&1 ||
    { echo "test_notebook.sh: installing the kernel spec FAILED" >&2; exit 1; }
export JUPYTER_PATH="$PWD/$out/jupyter/share/jupyter"
# import matplotlib and pandas once before timing: a fresh environment
# builds matplotlib's font cache on the first import
"$py" -c 'import matplotlib.pyplot, pandas' >/dev/null 2>&1 || true

echo "== notebook: executing $notebook =="
"$py" - "$notebook" "$out/run" <<'EOF'
import re
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

path, run_dir = sys.argv[1], sys.argv[2]
nb = nbformat.read(path, as_version=4)
client = NotebookClient(
    nb,
    kernel_name="lsmlog-notebook-test",
    timeout=120,  # per cell
    resources={"metadata": {"path": run_dir}},  # the kernel's working directory
)
t0 = time.monotonic()
ok = True
try:
    client.execute()
except (CellExecutionError, CellTimeoutError) as e:
    print(re.sub(r"\x1b\[[0-9;]*m", "", str(e)), file=sys.stderr)  # without the colours
    ok = False
seconds = time.monotonic() - t0
nbformat.write(nb, f"{run_dir}/stream_quickstart.ipynb")  # with outputs, for a look
cells = [c for c in nb.cells if c.cell_type == "code"]
ran = sum(1 for c in cells if c.get("execution_count"))
if not ok:
    print(f"notebook: FAILED after {ran} of {len(cells)} code cells ({seconds:.1f} s); "
          f"the executed notebook is {run_dir}/stream_quickstart.ipynb", file=sys.stderr)
    sys.exit(1)
print(f"notebook: {ran} of {len(cells)} code cells passed in {seconds:.1f} s (kernel start included)")
sys.exit(0 if ran == len(cells) else 1)
EOF

[ -s "$out/run/stream_quickstart.png" ] || { echo "test_notebook.sh: the notebook saved no plot" >&2; exit 1; }
if [ "$update_docs" = 1 ]; then
    cp "$out/run/stream_quickstart.png" docs/jupyter_plot.png
    echo "notebook: docs/jupyter_plot.png updated"
fi
echo "notebook: passed"
