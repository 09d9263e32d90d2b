"""One handle, many threads: appends release the GIL and group-commit."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Dict, List, Set

import pytest

from lsmlog import Log

from conftest import SLOW

PER_THREAD = 500


@pytest.mark.parametrize("durability", ["os", "sync", "buffered"])
def test_four_appenders_and_a_tailer(durability: str, path: Path) -> None:
    total = 4 * PER_THREAD
    seen: List[int] = []
    values: Dict[int, bytes] = {}
    with Log(path, durability=durability, segment_bytes=64 << 10) as log:
        acked: Dict[int, List[int]] = {t: [] for t in range(4)}

        def appender(t: int) -> None:
            for i in range(PER_THREAD):
                if i % 10 == 9:  # some batches too
                    first = log.extend([b"%d:%d" % (t, i), b"%d:%d+" % (t, i)])
                    acked[t] += [first, first + 1]
                else:
                    acked[t].append(log.append(b"%d:%d" % (t, i)))

        def tailer() -> None:
            for rec in log.tail(start=0, timeout=10 * SLOW):
                seen.append(rec.offset)
                values[rec.offset] = rec.value
                if len(seen) == total + 4 * (PER_THREAD // 10):
                    break

        threads = [threading.Thread(target=appender, args=(t,)) for t in range(4)]
        reader = threading.Thread(target=tailer)
        reader.start()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        reader.join(timeout=60)
        assert not reader.is_alive()
        n = total + 4 * (PER_THREAD // 10)
        assert log.end == n
        # no offset lost or duplicated, in the tail and in the acknowledgements
        assert seen == list(range(n))
        all_acked = sorted(o for offs in acked.values() for o in offs)
        assert all_acked == list(range(n))
        # each thread's records appear in its own order
        for t, offs in acked.items():
            assert offs == sorted(offs)
            for off in offs:
                assert values[off].startswith(b"%d:" % t)
        assert len(set(values.values())) == n


def test_reads_and_lookups_while_appending(path: Path) -> None:
    with Log(path, segment_bytes=16 << 10) as log:
        stop = threading.Event()
        errors: List[BaseException] = []

        def appender() -> None:
            i = 0
            while not stop.is_set():
                log.append(b"%d" % i, timestamp=i)
                i += 1

        def reader() -> None:
            try:
                while not stop.is_set():
                    end = log.end
                    if end:
                        assert log[end - 1].offset == end - 1
                        assert int(log[0].value) == 0
                        assert log.offset_for_time(end - 1) == end - 1
                        n = sum(1 for _ in log.read(0, end))
                        assert n == end
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        ts = [threading.Thread(target=appender)] + [threading.Thread(target=reader) for _ in range(2)]
        for t in ts:
            t.start()
        time.sleep(0.5)
        stop.set()
        for t in ts:
            t.join()
        assert errors == []
        assert log.verify() == log.end


def test_close_while_other_threads_append(path: Path) -> None:
    log = Log(path)
    outcomes: Set[str] = set()
    go = threading.Event()

    def appender() -> None:
        go.wait()
        while True:
            try:
                log.append(b"x")
            except ValueError:
                outcomes.add("closed")
                return

    ts = [threading.Thread(target=appender) for _ in range(4)]
    for t in ts:
        t.start()
    go.set()
    time.sleep(0.1)
    log.close()  # waits for the appends in flight; later ones see ValueError
    for t in ts:
        t.join(timeout=10)
    assert outcomes == {"closed"}
    with Log(path) as again:
        n = again.end
        assert n > 0 and again.verify() == n


def test_close_while_another_thread_iterates(path: Path) -> None:
    with Log(path) as w:
        w.extend([b"r%d" % i for i in range(20000)])
    log = Log(path)
    result: List[str] = []

    def reader() -> None:
        try:
            for _ in log.read():
                pass
            result.append("done")
        except ValueError:
            result.append("closed")

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.005)
    log.close()
    t.join(timeout=10)
    assert result and result[0] in ("done", "closed")


def test_concurrent_closes(path: Path) -> None:
    log = Log(path)
    log.append(b"x")
    ts = [threading.Thread(target=log.close) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert log.closed
    Log(path).close()  # the lock is free
