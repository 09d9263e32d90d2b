"""Crashes and damage: SIGKILL during extend, torn tails, corruption, repair."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

import lsmlog
from lsmlog import Log

from conftest import SLOW, finish, segment_files, spawn_child

WRITER = """
import random, sys, lsmlog
path, durability, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
log = lsmlog.Log(path, durability=durability, segment_bytes=256 << 10)
batch = 0
while True:
    n = rng.randint(1, 40)
    values = [b"%d:%d:%d:" % (batch, i, n) + b"x" * rng.randint(0, 3000) for i in range(n)]
    first = log.extend(values)
    # acknowledged: the extend returned
    sys.stdout.write("%d %d %d\\n" % (batch, first, n))
    sys.stdout.flush()
    batch += 1
"""


def parse(value: bytes) -> Tuple[int, int, int]:
    b, i, n = value.split(b":", 3)[:3]
    return int(b), int(i), int(n)


@pytest.mark.parametrize("durability", ["os", "sync"])
def test_sigkill_during_extend_keeps_every_acknowledged_batch(durability: str, path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"seed {seed}")
    child = spawn_child(WRITER, str(path), durability, str(seed))
    assert child.stdout is not None
    acked: List[Tuple[int, int, int]] = []
    deadline = time.monotonic() + 20 * SLOW
    # let it write until it has rolled a few segments, then kill it mid-stream
    while len(acked) < 300 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        b, first, n = map(int, line.split())
        acked.append((b, first, n))
    child.send_signal(signal.SIGKILL)
    rest, err = finish(child)
    for line in rest.splitlines():  # acknowledged before the kill landed
        if line.count(" ") == 2:
            b, first, n = map(int, line.split())
            acked.append((b, first, n))
    assert child.returncode == -signal.SIGKILL, err
    assert len(acked) >= 50, f"the writer acknowledged only {len(acked)} batches: {err}"

    with Log(path) as log:
        assert log.verify() == log.end
        records = list(log.read())
        # dense offsets from 0: nothing lost in the middle, nothing reused
        assert [r.offset for r in records] == list(range(log.end))
        by_batch: Dict[int, List[Tuple[int, int]]] = {}
        for r in records:
            b, i, n = parse(r.value)
            by_batch.setdefault(b, []).append((i, n))
        # no batch is partial (the last, unacknowledged one included)
        for b, items in by_batch.items():
            n = items[0][1]
            assert [i for i, _ in items] == list(range(n)), f"batch {b} is partial"
        # every acknowledged batch is there, at the offsets it was given
        for b, first, n in acked:
            assert b in by_batch, f"acknowledged batch {b} is lost"
            assert parse(log[first].value)[:2] == (b, 0)
            assert parse(log[first + n - 1].value)[:2] == (b, n - 1)
        assert set(by_batch) <= set(range(len(acked) + 1))
        # and the log goes on where it stopped
        assert log.append(b"after") == len(records)


def test_torn_tail_is_cut_and_reported(path: Path) -> None:
    with Log(path) as log:
        log.extend([b"a", b"b", b"c"])
    seg = segment_files(path)[-1]
    with open(seg, "ab") as f:
        f.write(b"\x13\x37" * 20)  # a half-written batch
    with Log(path) as log:
        rec = log.recovery
        assert rec.truncated_bytes == 40
        assert rec.message != ""
        assert [r.value for r in log] == [b"a", b"b", b"c"]
        assert log.append(b"d") == 3
    with Log(path) as log:
        assert log.recovery.truncated_bytes == 0


def make_segments(path: Path) -> None:
    with Log(path, segment_bytes=4096) as log:
        for i in range(200):
            log.append(b"v%03d" % i + b"." * 50)


def flip(f: Path, pos: int) -> None:
    data = bytearray(f.read_bytes())
    data[pos] ^= 0xFF
    f.write_bytes(bytes(data))


def test_damage_before_the_tail_is_never_returned(path: Path) -> None:
    make_segments(path)
    first = segment_files(path)[0]
    flip(first, 80)  # inside the first batch's body
    with Log(path) as log:
        with pytest.raises(lsmlog.CorruptionError) as e:
            log[0]
        assert first.name in str(e.value) and "byte 40" in str(e.value)
        with pytest.raises(lsmlog.CorruptionError):
            list(log.read())
        with pytest.raises(lsmlog.CorruptionError):
            log.verify()
        assert log[150].value.startswith(b"v150")  # other segments read fine


def test_damage_found_at_open_names_file_and_position(path: Path) -> None:
    make_segments(path)
    for idx in path.glob("*index"):  # without its indexes, open scans the segment
        idx.unlink()
    first = segment_files(path)[0]
    flip(first, 80)
    with pytest.raises(lsmlog.CorruptionError) as e:
        Log(path)
    assert first.name in str(e.value) and "byte" in str(e.value)
    assert isinstance(e.value, lsmlog.Error) and e.value.code == -1002


def test_repair_keeps_every_valid_record_and_reports(path: Path) -> None:
    make_segments(path)
    first = segment_files(path)[0]
    flip(first, 80)
    with Log(path, repair=True) as log:
        rep = log.recovery
        assert rep.dropped_batches == 1 and rep.dropped_bytes > 0
        assert first.name in rep.message
        with pytest.raises(IndexError):
            log[0]  # set aside: the offset stays missing
        values = [r.value for r in log]
        assert len(values) == 199 and values[0].startswith(b"v001")
        assert log.verify() == 199
        assert log.append(b"new") == 200  # offsets are never reused
    assert (path / "lost").is_dir()


def test_verify_finds_damage_made_while_open(path: Path) -> None:
    make_segments(path)
    with Log(path) as log:
        assert log.verify() == 200
        flip(segment_files(path)[1], 100)
        with pytest.raises(lsmlog.CorruptionError):
            log.verify()


def test_corrupt_segment_header(path: Path) -> None:
    make_segments(path)
    for idx in path.glob("*index"):
        idx.unlink()
    flip(segment_files(path)[1], 3)  # the magic
    with pytest.raises(lsmlog.CorruptionError):
        Log(path)


def test_readonly_open_during_a_write_stream(path: Path) -> None:
    """Readers opened while a writer streams never see a partial batch."""
    child = spawn_child(WRITER, str(path), "os", "7")
    assert child.stdout is not None
    try:
        child.stdout.readline()
        for _ in range(5):
            with Log(path, readonly=True) as ro:
                for r in ro.read():
                    b, i, n = parse(r.value)
                    assert 0 <= i < n
                end = ro.end
                if end:
                    last = parse(ro[end - 1].value)
                    assert last[1] == last[2] - 1  # a batch is visible whole
            time.sleep(0.02)
    finally:
        child.kill()
        finish(child)
