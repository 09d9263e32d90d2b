"""The command line (docs/cli.md): ``python -m lsmlog info|verify|dump|tail|compact``
run in child processes against a Log and a DB, damage, misuse and exit codes;
and the notebook view (``_repr_html_``) holding the figures ``info`` shows."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from lsmlog import DB, Log

from conftest import SLOW

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
N = 300  # records in the Log fixture, one a second from T0
KEYS = 2000  # keys in the DB fixture


def cli(*args: str, timeout: float = 60.0, cwd: Any = None) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [sys.executable, "-I", "-m", "lsmlog", *args],
        capture_output=True, text=True, timeout=timeout * SLOW, cwd=cwd,
    )


def spawn(*args: str) -> "subprocess.Popen[str]":
    return subprocess.Popen(
        [sys.executable, "-I", "-m", "lsmlog", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
    )


def lines(out: str) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def clean(r: "subprocess.CompletedProcess[str]") -> None:
    """An expected failure: a message, no traceback."""
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip(), "no message on stderr"


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    """A Log of N json records in several segments, one a second from T0,
    then a text value and a binary value."""
    p = tmp_path / "events"
    with Log(p, segment_bytes=4096, codec="json") as log:
        for i in range(N):
            log.append({"sensor": f"s{i % 3}", "seq": i, "temp": 20 + i / 10}, timestamp=T0 + i * 1000)
    with Log(p) as log:
        log.append(b"plain text", timestamp=T0 + N * 1000)
        log.append(b"\xff\x00binary", timestamp=T0 + N * 1000)
    return p


@pytest.fixture
def dbdir(tmp_path: Path) -> Path:
    """A DB of KEYS keys in several tables, plus a binary key."""
    p = tmp_path / "kv"
    with DB(p, memtable_bytes=4096) as db:
        for i in range(KEYS):
            db[b"key%05d" % i] = json.dumps({"n": i}).encode()
        db[b"\xff\xfe"] = b"\x00\x01binary"
        db.flush_memtable()
    return p


# ---- help and the command line itself -------------------------------------------


def test_help_lists_every_command_and_the_exit_codes() -> None:
    r = cli("--help")
    assert r.returncode == 0, r.stderr
    for command in ("info", "verify", "dump", "tail", "compact", "demo"):
        assert command in r.stdout
    assert "exit status" in r.stdout and "damage" in r.stdout
    for command, option in (("info", "--json"), ("verify", "--quiet"), ("dump", "--since"),
                            ("tail", "--timeout"), ("compact", "--no-progress")):
        r = cli(command, "--help")
        assert r.returncode == 0 and option in r.stdout, r.stdout + r.stderr
        assert "``" not in r.stdout


def test_usage_errors_exit_2() -> None:
    r = cli()
    assert r.returncode == 2 and "COMMAND" in r.stderr
    r = cli("info")  # no directory
    assert r.returncode == 2 and "dir" in r.stderr
    r = cli("dump", "x", "--limit", "-3")
    assert r.returncode == 2 and "--limit" in r.stderr


def test_console_script_is_installed() -> None:
    script = Path(sysconfig.get_path("scripts")) / "lsmlog"
    if not script.exists():  # e.g. a --user install puts it elsewhere
        pytest.skip(f"no console script at {script}")
    r = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60 * SLOW)
    assert r.returncode == 0 and r.stdout.startswith("lsmlog ")
    r = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60 * SLOW)
    assert r.returncode == 0 and r.stdout.startswith("usage: lsmlog ")


@pytest.mark.parametrize("command", ["info", "verify", "dump", "tail", "compact"])
def test_missing_directory_is_a_clean_error(tmp_path: Path, command: str) -> None:
    r = cli(command, str(tmp_path / "nope"))
    assert r.returncode == 3, r.stdout + r.stderr
    clean(r)
    assert "no such directory" in r.stderr and "nope" in r.stderr
    assert not (tmp_path / "nope").exists()  # nothing was created


def test_a_directory_that_is_no_store_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "notes.log").write_text("not a segment")
    r = cli("info", str(tmp_path))
    assert r.returncode == 3
    clean(r)
    assert "neither" in r.stderr
    r = cli("verify", str(tmp_path / "notes.log"))
    assert r.returncode == 3 and "not a directory" in r.stderr


# ---- info -------------------------------------------------------------------------


def test_info_log(logdir: Path) -> None:
    r = cli("info", str(logdir))
    assert r.returncode == 0, r.stderr
    with Log(logdir, readonly=True) as log:
        st = log.stats()
    out = r.stdout
    assert out.startswith(f"Log {logdir}")
    assert f"[{st.start}, {st.end})" in out and f"records          {N + 2}" in out
    assert re.search(rf"segments\s+{st.segments}\n", out)
    assert f"{st.bytes} bytes" in out and "2023-11-14T22:13:20.000Z" in out
    segments = sorted(p.name for p in logdir.glob("*.log"))
    assert st.segments == len(segments) > 2
    for name in segments:
        assert name in out

    info = json.loads(cli("info", "--json", str(logdir)).stdout)
    assert info["kind"] == "Log"
    assert (info["start"], info["end"], info["segments"], info["bytes"]) == (st.start, st.end, st.segments, st.bytes)
    assert info["first_timestamp"] == T0 and info["max_timestamp"] == T0 + N * 1000
    assert [s["file"] for s in info["segment_files"]] == segments
    assert sum(s["offsets"] for s in info["segment_files"]) == N + 2
    assert sum(s["bytes"] for s in info["segment_files"]) == st.bytes


def test_info_db(dbdir: Path) -> None:
    r = cli("info", "--count", str(dbdir))
    assert r.returncode == 0, r.stderr
    with DB(dbdir, readonly=True) as db:
        st = db.stats()
    out = r.stdout
    assert out.startswith(f"DB {dbdir}")
    assert f"sequence number  {st['last_seq']}" in out
    assert f"tables           {st['files']} (" in out and f"{st['bytes']} bytes" in out
    assert f"keys             {KEYS + 1}" in out
    for lv in st["levels"]:
        assert re.search(rf"L{lv['level']}\s+{lv['files']}\s+{lv['bytes']}\s", out)

    info = json.loads(cli("info", "--json", str(dbdir)).stdout)
    assert info["kind"] == "DB" and info["keys"] is None  # counted only with --count
    assert info["last_seq"] == st["last_seq"] and info["files"] == st["files"] > 1
    assert info["levels"] == st["levels"] and info["bytes"] == st["bytes"]
    assert info["wal_bytes"] > 0 and info["manifest"].startswith("manifest-")


# ---- the notebook view holds the figures info shows ----------------------------------


def test_log_repr_html_holds_the_figures_of_info(logdir: Path) -> None:
    info = json.loads(cli("info", "--json", str(logdir)).stdout)
    with Log(logdir, readonly=True) as log:
        page = log._repr_html_()
        text = repr(log)
    cells = dict(re.findall(r"<th[^>]*>([^<]*)</th><td[^>]*>([^<]*)</td>", page))
    assert cells["offsets"] == f"[{info['start']}, {info['end']})"
    assert cells["records"] == str(info["records"])
    assert cells["segments"] == str(info["segments"])
    assert cells["size"].startswith(f"{info['bytes']} bytes")
    assert f"({info['first_timestamp']})" in cells["first timestamp"]
    assert f"({info['max_timestamp']})" in cells["max timestamp"]
    assert cells["state"] == "read-only"
    assert f"offsets [{info['start']}, {info['end']})" in text and f"{info['segments']} segments" in text


def test_db_repr_html_holds_the_figures_of_info(dbdir: Path) -> None:
    info = json.loads(cli("info", "--json", str(dbdir)).stdout)
    with DB(dbdir, readonly=True) as db:
        page = db._repr_html_()
        text = repr(db)
    cells = dict(re.findall(r"<th[^>]*>([^<]*)</th><td[^>]*>([^<]*)</td>", page))
    assert cells["sequence number"] == str(info["last_seq"])
    assert cells["tables"].startswith(f"{info['files']} (")
    assert cells["size"].startswith(f"{info['bytes']} bytes")
    used = [lv for lv in info["levels"] if lv["files"]]
    assert used
    for lv in used:
        assert cells[f"level {lv['level']}"].startswith(f"{lv['files']} tables, {lv['bytes']} bytes")
        assert f"L{lv['level']} {lv['files']}" in cells["tables"]
    assert f"seq {info['last_seq']}" in text and f"{info['bytes']} bytes" in text


# ---- verify -------------------------------------------------------------------------


def test_verify_intact_log_and_db(logdir: Path, dbdir: Path) -> None:
    r = cli("verify", str(logdir))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"OK: {N + 2} records" in r.stdout and "intact" in r.stdout
    r = cli("verify", str(dbdir))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"scan: {KEYS + 1} keys" in r.stdout and "write-ahead log:" in r.stdout and "manifest:" in r.stdout
    assert "OK:" in r.stdout
    r = cli("verify", "-q", str(dbdir))
    assert r.returncode == 0 and r.stdout == ""


def test_verify_beside_a_writer(logdir: Path, dbdir: Path) -> None:
    """Read-only opens take no lock: verify runs while a writer has each store open."""
    with Log(logdir) as log, DB(dbdir) as db:
        log.append(b"more")
        db[b"more"] = b"x"
        r = cli("verify", str(logdir))
        assert r.returncode == 0 and f"OK: {N + 3} records" in r.stdout, r.stdout + r.stderr
        r = cli("verify", str(dbdir))
        assert r.returncode == 0 and f"scan: {KEYS + 2} keys" in r.stdout, r.stdout + r.stderr


def flip(path: Path, pos: int) -> None:
    with open(path, "r+b") as f:
        f.seek(pos)
        b = f.read(1)
        f.seek(pos)
        f.write(bytes([b[0] ^ 0x5A]))


def test_verify_names_the_damaged_segment_and_position(logdir: Path) -> None:
    segments = sorted(logdir.glob("*.log"))
    victim = segments[1]  # sealed: its index files are intact, so opening works
    assert (logdir / (victim.stem + ".index")).exists()
    flip(victim, victim.stat().st_size // 2)
    r = cli("verify", str(logdir))
    assert r.returncode == 1, r.stdout + r.stderr
    clean(r)
    assert "DAMAGED" in r.stderr and victim.name in r.stderr
    assert re.search(r"byte \d+", r.stderr), r.stderr
    assert "repair=True" in r.stderr
    assert "OK" not in r.stdout
    # reading through the damage fails the same way; before it, reading works
    r = cli("dump", str(logdir))
    assert r.returncode == 1 and victim.name in r.stderr
    clean(r)
    r = cli("dump", str(logdir), "--stop", str(int(victim.stem)))
    assert r.returncode == 0 and len(r.stdout.splitlines()) == int(victim.stem)


def test_verify_names_a_damaged_table(dbdir: Path) -> None:
    tables = sorted(dbdir.glob("*.sst"))
    assert tables
    victim = tables[0]
    flip(victim, 20)  # inside the first data block
    r = cli("verify", str(dbdir))
    assert r.returncode == 1, r.stdout + r.stderr
    clean(r)
    assert "DAMAGED" in r.stderr and victim.name in r.stderr
    assert re.search(r"byte \d+", r.stderr), r.stderr


def test_verify_names_a_damaged_write_ahead_log(tmp_path: Path) -> None:
    p = tmp_path / "kv"
    with DB(p) as db:  # a big memtable: everything stays in the write-ahead log
        for i in range(200):
            db[b"k%03d" % i] = b"v" * 50
    wal = sorted((p / "wal").glob("*.log"))[0]
    flip(wal, 200)  # early in the segment: not a torn tail but damage before it
    r = cli("verify", str(p))
    assert r.returncode == 1, r.stdout + r.stderr
    clean(r)
    assert wal.name in r.stderr and re.search(r"byte \d+", r.stderr)


# ---- dump ---------------------------------------------------------------------------


def test_dump_log_as_json_lines(logdir: Path) -> None:
    r = cli("dump", str(logdir))
    assert r.returncode == 0, r.stderr
    recs = lines(r.stdout)
    assert [d["offset"] for d in recs] == list(range(N + 2))
    assert recs[0] == {"offset": 0, "timestamp": T0, "time": "2023-11-14T22:13:20.000Z",
                       "value": {"sensor": "s0", "seq": 0, "temp": 20}}
    assert recs[N]["value"] == "plain text"  # not JSON: a string
    assert base64.b64decode(recs[N + 1]["value_b64"]) == b"\xff\x00binary"  # not UTF-8: base64

    assert [d["offset"] for d in lines(cli("dump", str(logdir), "--start", "10", "--stop", "13").stdout)] == [10, 11, 12]
    assert [d["offset"] for d in lines(cli("dump", str(logdir), "--start", "290", "--limit", "2").stdout)] == [290, 291]
    # by time: ms since the epoch or ISO 8601
    got = lines(cli("dump", str(logdir), "--since", str(T0 + 5000), "--until", str(T0 + 8000)).stdout)
    assert [d["offset"] for d in got] == [5, 6, 7]
    got = lines(cli("dump", str(logdir), "--since", "2023-11-14T22:13:25Z", "--until", "2023-11-14T22:13:27").stdout)
    assert [d["offset"] for d in got] == [5, 6]
    assert cli("dump", str(logdir), "--since", "now-1m").stdout == ""  # all of it is from 2023
    # values as text or base64
    got = lines(cli("dump", str(logdir), "--stop", "1", "--values", "text").stdout)
    assert json.loads(got[0]["value"]) == {"sensor": "s0", "seq": 0, "temp": 20}
    got = lines(cli("dump", str(logdir), "--stop", "1", "--values", "base64").stdout)
    assert json.loads(base64.b64decode(got[0]["value_b64"])) == {"sensor": "s0", "seq": 0, "temp": 20}


def test_dump_log_raw(logdir: Path) -> None:
    r = subprocess.run([sys.executable, "-I", "-m", "lsmlog", "dump", str(logdir), "--format", "raw",
                        "--start", str(N)], capture_output=True, timeout=60 * SLOW)
    assert r.returncode == 0 and r.stdout == b"plain text\n\xff\x00binary\n"
    r = subprocess.run([sys.executable, "-I", "-m", "lsmlog", "dump", str(logdir), "--format", "raw", "-0",
                        "--start", "0", "--limit", "2"], capture_output=True, timeout=60 * SLOW)
    values = r.stdout.split(b"\0")
    assert r.returncode == 0 and values[2] == b"" and json.loads(values[1]) == {"sensor": "s1", "seq": 1, "temp": 20.1}


def test_dump_db(dbdir: Path) -> None:
    r = cli("dump", str(dbdir))
    assert r.returncode == 0, r.stderr
    items = lines(r.stdout)
    assert len(items) == KEYS + 1
    assert items[0] == {"key": "key00000", "value": {"n": 0}}
    assert base64.b64decode(items[-1]["key_b64"]) == b"\xff\xfe"  # keys in bytewise order
    got = lines(cli("dump", str(dbdir), "--start", "key00010", "--stop", "key00013").stdout)
    assert [d["key"] for d in got] == ["key00010", "key00011", "key00012"]
    got = lines(cli("dump", str(dbdir), "--prefix", "key0199", "--reverse", "--limit", "3").stdout)
    assert [d["key"] for d in got] == ["key01999", "key01998", "key01997"]
    got = lines(cli("dump", str(dbdir), "--start", "fffe", "--hex").stdout)
    assert len(got) == 1 and got[0]["value"] == "\x00\x01binary"
    r = subprocess.run([sys.executable, "-I", "-m", "lsmlog", "dump", str(dbdir), "--format", "raw",
                        "--prefix", "ff", "--hex"], capture_output=True, timeout=60 * SLOW)
    assert r.returncode == 0 and r.stdout == b"\xff\xfe\t\x00\x01binary\n"


def test_dump_options_of_the_other_store_are_usage_errors(logdir: Path, dbdir: Path) -> None:
    for args in ((str(dbdir), "--since", "0"), (str(logdir), "--prefix", "a"), (str(logdir), "--start", "key"),
                 (str(dbdir), "--start", "zz", "--hex"), (str(logdir), "--since", "yesterday")):
        r = cli("dump", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        clean(r)


def test_dump_into_a_closed_pipe_is_quiet(logdir: Path) -> None:
    p = spawn("dump", str(logdir))
    assert p.stdout is not None and p.stderr is not None
    assert json.loads(p.stdout.readline())["offset"] == 0
    p.stdout.close()  # as `| head -1` does
    err = p.stderr.read()
    assert p.wait(timeout=60 * SLOW) == 0 and "Traceback" not in err


# ---- tail ---------------------------------------------------------------------------


def test_tail_with_a_timeout_prints_what_is_there_and_exits_0(logdir: Path) -> None:
    t = time.monotonic()
    r = cli("tail", str(logdir), "--start", "295", "--timeout", "0.5")
    assert r.returncode == 0, r.stderr
    assert [d["offset"] for d in lines(r.stdout)] == [295, 296, 297, 298, 299, N, N + 1]
    assert time.monotonic() - t >= 0.5
    r = cli("tail", str(logdir), "-n", "2", "--timeout", "0")
    assert r.returncode == 0 and [d["offset"] for d in lines(r.stdout)] == [N, N + 1]
    r = cli("tail", str(logdir), "--timeout", "0.2")  # from the end: nothing new
    assert r.returncode == 0 and r.stdout == ""
    r = cli("tail", str(logdir), "--start", "0", "--limit", "3")  # no timeout: the limit ends it
    assert r.returncode == 0 and [d["offset"] for d in lines(r.stdout)] == [0, 1, 2]


def test_tail_follows_a_writer_and_ctrl_c_exits_0(logdir: Path) -> None:
    with Log(logdir, codec="json") as log:
        p = spawn("tail", str(logdir), "-n", "1")
        assert p.stdout is not None and p.stderr is not None
        try:
            assert json.loads(p.stdout.readline())["offset"] == N + 1
            for i in range(3):
                off = log.append({"live": i})
                got = json.loads(p.stdout.readline())
                assert got["offset"] == off and got["value"] == {"live": i}
            p.send_signal(signal.SIGINT)
            assert p.wait(timeout=10 * SLOW) == 0
            assert p.stdout.read() == ""
            err = p.stderr.read()
            assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_tail_a_db_is_a_usage_error(dbdir: Path) -> None:
    r = cli("tail", str(dbdir), "--timeout", "0")
    assert r.returncode == 2 and "is a DB" in r.stderr
    clean(r)


# ---- compact --------------------------------------------------------------------------


def test_compact_db_with_a_progress_bar(dbdir: Path) -> None:
    with DB(dbdir) as db:
        for i in range(0, KEYS, 2):  # overwrites and deletes for compaction to drop
            db[b"key%05d" % i] = b"new"
        for i in range(1, KEYS, 4):
            db.delete(b"key%05d" % i)
    pytest.importorskip("tqdm")
    r = cli("compact", str(dbdir), "--progress")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "compacting DB" in r.stdout and "done in" in r.stdout
    assert "compact" in r.stderr and "100%" in r.stderr  # the tqdm bar
    with DB(dbdir, readonly=True) as db:
        assert db[b"key00000"] == b"new" and b"key00001" not in db and db[b"key00003"] == b'{"n": 3}'
        assert len(db) == KEYS + 1 - len(range(1, KEYS, 4))
        st = db.stats()
    assert sum(lv["files"] for lv in st["levels"][:1]) == 0  # level 0 emptied
    r = cli("compact", str(dbdir), "--no-progress", "--start", "key00100", "--stop", "key00200")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert cli("verify", str(dbdir)).returncode == 0


def test_compact_a_log_does_not_apply(logdir: Path) -> None:
    r = cli("compact", str(logdir))
    assert r.returncode == 2 and "is a Log" in r.stderr and "retain" in r.stderr
    clean(r)


def test_compact_a_db_open_in_a_writer_is_a_clean_error(dbdir: Path) -> None:
    with DB(dbdir) as db:
        r = cli("compact", str(dbdir), "--no-progress")
        assert r.returncode == 3 and "locked" in r.stderr
        clean(r)
        db[b"still"] = b"mine"
        r = cli("info", str(dbdir))  # read-only commands never conflict
        assert r.returncode == 0 and "sequence number" in r.stdout


def test_commands_run_from_any_directory(tmp_path: Path, logdir: Path) -> None:
    os.makedirs(tmp_path / "elsewhere")
    r = cli("info", os.path.relpath(logdir, tmp_path / "elsewhere"), cwd=tmp_path / "elsewhere")
    assert r.returncode == 0 and "segments" in r.stdout
