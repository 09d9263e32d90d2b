"""Tailing: timeouts, other processes, Ctrl-C, asyncio."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path
from typing import List

import pytest

import lsmlog
from lsmlog import Log

from conftest import SLOW, finish, spawn_child


def test_tail_from_start_then_times_out(log: Log) -> None:
    log.extend([b"a", b"b"])
    t0 = time.monotonic()
    got = [r.value for r in log.tail(start=0, timeout=0.3)]
    elapsed = time.monotonic() - t0
    assert got == [b"a", b"b"]
    assert 0.25 <= elapsed < 0.3 + 1.0 * SLOW


def test_tail_defaults_to_the_end(log: Log) -> None:
    log.extend([b"old", b"old"])
    assert list(log.tail(timeout=0)) == []
    assert [r.offset for r in log.tail(timeout=0, start=1)] == [1]


def test_tail_timeout_counts_from_the_last_record(log: Log) -> None:
    def writer() -> None:
        for i in range(5):
            time.sleep(0.1)
            log.append(b"%d" % i)

    t = threading.Thread(target=writer)
    t.start()
    got = [r.value for r in log.tail(timeout=0.5 * SLOW)]  # 0.5 s > each gap
    t.join()
    assert got == [b"0", b"1", b"2", b"3", b"4"]


def test_tail_with_no_timeout_is_ended_by_break(log: Log) -> None:
    def writer() -> None:
        time.sleep(0.1)
        log.extend([b"x", b"y", b"stop"])

    t = threading.Thread(target=writer)
    t.start()
    got = []
    for rec in log.tail(timeout=None):
        got.append(rec.value)
        if rec.value == b"stop":
            break
    t.join()
    assert got == [b"x", b"y", b"stop"]


def test_tail_on_a_buffered_writer_sees_its_own_records(path: Path) -> None:
    with Log(path, durability="buffered") as log:
        log.append(b"a")
        assert [r.value for r in log.tail(start=0, timeout=0.1)] == [b"a"]


def test_tail_across_retention(path: Path) -> None:
    with Log(path, segment_bytes=4096) as log:
        for i in range(200):
            log.append(b"." * 60)
        t = log.tail(start=0, timeout=0.2)
        assert next(t).offset == 0
        log.truncate_before(150)  # the tail's next segments go
        offsets = [r.offset for r in t]
        assert offsets[-1] == 199 and offsets == sorted(offsets)


READER = """
import sys, lsmlog
with lsmlog.Log(sys.argv[1], readonly=True) as log:
    print("ready", flush=True)
    for rec in log.tail(start=0, timeout=float(sys.argv[2])):
        print(rec.offset, rec.value.decode(), flush=True)
        if rec.value == b"last":
            break
"""


def test_reader_in_another_process_sees_appends(path: Path) -> None:
    with Log(path) as log:
        log.append(b"before")
        child = spawn_child(READER, str(path), str(10 * SLOW))
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        for i in range(50):
            log.append(b"v%d" % i)
            if i % 10 == 0:
                time.sleep(0.02)
        log.append(b"last")
        out, err = finish(child)
    assert child.returncode == 0, err
    lines = out.split("\n")
    expected = ["0 before"] + [f"{i + 1} v{i}" for i in range(50)] + ["51 last"]
    assert lines[: len(expected)] == expected


def test_writer_in_another_process_reader_here(path: Path) -> None:
    Log(path).close()
    writer = spawn_child(
        """
        import sys, time, lsmlog
        with lsmlog.Log(sys.argv[1]) as log:
            for i in range(30):
                log.append(b"%d" % i)
                time.sleep(0.005)
        """,
        str(path),
    )
    with Log(path, readonly=True) as ro:
        got = []
        for rec in ro.tail(start=0, timeout=5 * SLOW):
            got.append(int(rec.value))
            if len(got) == 30:
                break
    writer.wait(timeout=30)
    assert got == list(range(30))


TAILER = """
import sys, time, lsmlog
log = lsmlog.Log(sys.argv[1], readonly=sys.argv[2] == "ro")
print("ready", flush=True)
t0 = time.monotonic()
try:
    for rec in log.tail(timeout=None):
        pass
except KeyboardInterrupt:
    print("interrupted after %.3f" % (time.monotonic() - t0), flush=True)
    log.close()
    sys.exit(0)
sys.exit(3)
"""


@pytest.mark.parametrize("mode", ["ro", "rw"])
def test_ctrl_c_stops_a_tail_promptly(mode: str, path: Path) -> None:
    Log(path).close()
    child = spawn_child(TAILER, str(path), mode)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    time.sleep(0.3)  # let it settle into the wait
    sent = time.monotonic()
    child.send_signal(signal.SIGINT)
    out, err = finish(child)
    took = time.monotonic() - sent
    assert child.returncode == 0, err
    assert out.startswith("interrupted"), (out, err)
    assert took < 1.0 * SLOW


def test_close_from_another_thread_ends_a_tail(path: Path) -> None:
    log = Log(path)
    errors: List[BaseException] = []

    def tail() -> None:
        try:
            for _ in log.tail(timeout=None):
                pass
        except ValueError as e:
            errors.append(e)

    t = threading.Thread(target=tail)
    t.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    log.close()  # waits for the tail's wait slice, then closes its iterator
    t.join(timeout=5)
    assert not t.is_alive()
    assert time.monotonic() - t0 < 1.0 * SLOW
    assert len(errors) == 1 and "closed" in str(errors[0])


def test_atail_does_not_block_the_event_loop(log: Log) -> None:
    async def main() -> None:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        def writer() -> None:
            for i in range(10):
                time.sleep(0.03)
                log.append(b"%d" % i)

        tick_task = asyncio.ensure_future(ticker())
        threading.Thread(target=writer).start()
        got = []
        async for rec in log.atail(start=0, timeout=0.5 * SLOW):
            got.append(int(rec.value))
        stop.set()
        await tick_task
        assert got == list(range(10))
        assert ticks >= 20  # the loop kept running while atail waited

    asyncio.run(main())


def test_atail_timeout_and_cancel(log: Log) -> None:
    async def main() -> None:
        t0 = time.monotonic()
        got = [r async for r in log.atail(timeout=0.3)]
        assert got == [] and 0.25 <= time.monotonic() - t0 < 0.3 + 1.0 * SLOW

        async def forever() -> None:
            async for _ in log.atail(timeout=None):
                pass

        task = asyncio.ensure_future(forever())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    time.sleep(0.3)  # a cancelled slice finishes in its worker thread
    log.append(b"still usable")


def test_reader_keeps_following_after_retention_drops_its_next_segment(path: Path) -> None:
    with Log(path, segment_bytes=4096) as w:
        for _ in range(100):
            w.append(b"." * 60)
        with Log(path, readonly=True) as ro:
            assert ro.end == 100
            for _ in range(300):
                w.append(b"." * 60)
            w.truncate_before(w.end)  # drops every sealed segment, the reader's next one too
            w.append(b"new")
            assert ro.end == w.end
            assert [r.value for r in ro.tail(start=w.end - 1, timeout=1)] == [b"new"]
