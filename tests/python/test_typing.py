"""The package is typed: a usage sample passes ``mypy --strict`` against the
installed package (py.typed, annotations, the extension's stub), and typed
misuse is caught."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lsmlog

HERE = Path(__file__).parent / "typing"

pytestmark = pytest.mark.skipif(
    os.environ.get("LSMLOG_ASAN") == "1", reason="type checking does not exercise the C code"
)


def mypy(tmp_path: Path, name: str) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mypy")
    shutil.copy(HERE / name, tmp_path / name)
    return subprocess.run(
        [sys.executable, "-I", "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_package_ships_its_type_information() -> None:
    pkg = Path(lsmlog.__file__).parent
    assert (pkg / "py.typed").exists()
    assert (pkg / "_lsmlog.pyi").exists()


def test_usage_sample_passes_mypy_strict(tmp_path: Path) -> None:
    r = mypy(tmp_path, "sample.py")
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_package_itself_passes_mypy_strict(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    r = subprocess.run(
        [sys.executable, "-I", "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), "-p", "lsmlog"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_usage_sample_runs(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    r = subprocess.run(
        [sys.executable, "-I", str(HERE / "sample.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "error -1011 2 " in r.stdout  # the missing log: lsmlog.Error with errno ENOENT


def test_mypy_catches_misuse(tmp_path: Path) -> None:
    r = mypy(tmp_path, "misuse.py")
    assert r.returncode == 1, r.stdout + r.stderr
    flagged = {int(line.split(":")[1]) for line in r.stdout.splitlines() if ": error:" in line}
    lines = (HERE / "misuse.py").read_text().splitlines()
    expected = {i + 1 for i, line in enumerate(lines) if "# E:" in line}
    assert expected <= flagged, r.stdout
