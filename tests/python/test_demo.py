"""The main job: ``python -m lsmlog demo DIR`` runs end to end in a child
process, and the command line refuses what it cannot do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lsmlog import DB, Log

from conftest import SLOW


def demo(*args: str, timeout: float = 120.0) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [sys.executable, "-I", "-m", "lsmlog", *args],
        capture_output=True, text=True, timeout=timeout * SLOW,
    )


def test_demo_runs_and_checks_itself(tmp_path: Path) -> None:
    r = demo("demo", str(tmp_path / "run"), "--events", "20000", "--seconds", "5", "--sensors", "5", "--seed", "7")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "appended" in out and "tailed" in out and "updates" in out and "/s" in out
    assert "sensor-04" in out and "<lsmlog.Log " in out and "<lsmlog.DB " in out
    assert "match the stream" in out and out.rstrip().endswith("OK")
    # what it left behind is a Log and a DB that open again
    with Log(tmp_path / "run" / "events", readonly=True) as log:
        events = log.end
        assert events > 0
    with DB(tmp_path / "run" / "aggregates", key_codec="utf-8", value_codec="json") as db:
        assert sorted(db) == [f"sensor-0{i}" for i in range(5)]
        assert sum(a["count"] for a in db.values()) == events


def test_demo_refuses_a_directory_that_holds_a_run(tmp_path: Path) -> None:
    Log(tmp_path / "events").close()
    r = demo("demo", str(tmp_path))
    assert r.returncode == 2 and "already holds" in r.stdout


def test_demo_in_a_temporary_directory_by_default() -> None:
    r = demo("demo", "--events", "500", "--sensors", "2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "lsmlog-demo-" in r.stdout


def test_command_line_without_a_command_prints_help() -> None:
    r = demo()
    assert r.returncode == 2 and "demo" in r.stderr
    r = demo("--version")
    assert r.returncode == 0 and "lsmlog " in r.stdout
    r = demo("nosuchcommand")
    assert r.returncode == 2
