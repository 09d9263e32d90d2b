"""Shared fixtures and helpers for the lsmlog Python tests.

The tests import the *installed* package (scripts/test_python.sh installs it):
the source tree's python/lsmlog has no compiled extension.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

import lsmlog

# Under the sanitizer run everything is slower; tests scale their waits.
SLOW = 3.0 if os.environ.get("LSMLOG_ASAN") == "1" else 1.0


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A log directory that does not exist yet."""
    return tmp_path / "log"


@pytest.fixture
def log(path: Path) -> Iterator[lsmlog.Log]:
    with lsmlog.Log(path) as lg:
        yield lg


def child_code(code: str) -> List[str]:
    """argv running `code` (dedented) in a fresh interpreter. -I (isolated):
    the working directory is not put on sys.path, so the installed package is
    imported whatever lies in the directory (the Lua build leaves a
    lsmlog.so in the repository's root)."""
    return [sys.executable, "-I", "-c", textwrap.dedent(code)]


def run_child(code: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        child_code(code) + list(args),
        capture_output=True,
        text=True,
        timeout=timeout * SLOW,
        cwd=tempfile.gettempdir(),
    )


def spawn_child(code: str, *args: str) -> "subprocess.Popen[str]":
    return subprocess.Popen(
        child_code(code) + list(args),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        cwd=tempfile.gettempdir(),
    )


def finish(child: "subprocess.Popen[str]", timeout: float = 30.0) -> Tuple[str, str]:
    """The rest of a spawned child's stdout and stderr once it exits. (Not
    communicate(): after a readline() it would lose what the text wrapper
    already buffered.)"""
    assert child.stdout is not None and child.stderr is not None
    out = child.stdout.read()
    err = child.stderr.read()
    child.wait(timeout=timeout * SLOW)
    return out, err


def segment_files(p: Path) -> List[Path]:
    return sorted(p.glob("*.log"))
