"""The Log surface of API.md, used as documented."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import lsmlog
from lsmlog import Log, Record


def now_ms() -> int:
    return int(time.time() * 1000)


def test_version_comes_from_the_header() -> None:
    header = Path(__file__).resolve().parents[2] / "core" / "include" / "lsmlog.h"
    assert f'#define LSMLOG_VERSION "{lsmlog.__version__}"' in header.read_text()


def test_append_returns_dense_offsets_and_reads_back(log: Log) -> None:
    assert log.start == 0 and log.end == 0 and len(log) == 0
    before = now_ms()
    assert log.append(b"hello") == 0
    assert log.append(b"x", timestamp=1700000000000) == 1
    assert log.end == 2 and len(log) == 2
    rec = log[0]
    assert isinstance(rec, Record) and isinstance(rec, tuple)
    assert rec.offset == 0 and rec.value == b"hello"
    assert before <= rec.timestamp <= now_ms() + 1
    assert log[1] == Record(1, 1700000000000, b"x")
    off, ts, value = log[1]  # a named tuple unpacks
    assert (off, ts, value) == (1, 1700000000000, b"x")


def test_extend_is_one_batch_with_contiguous_offsets(log: Log) -> None:
    log.append(b"first")
    first = log.extend([b"a", b"b", b"c"])
    assert first == 1
    assert [r.value for r in log.read()] == [b"first", b"a", b"b", b"c"]
    stamps = {r.timestamp for r in log.read(start=1)}
    assert len(stamps) == 1  # one batch, one "now"
    assert log.extend((v for v in [b"d", b"e"]), timestamp=5) == 4  # any iterable
    assert [(r.offset, r.timestamp) for r in log.read(start=4)] == [(4, 5), (5, 5)]


def test_empty_values_and_large_values(path: Path) -> None:
    with Log(path) as log:
        log.append(b"")
        log.extend([b"", b"", b"z"])
        assert [r.value for r in log] == [b"", b"", b"", b"z"]
        big = os.urandom(32 << 20)  # API.md: values of at least 32 MiB work
        off = log.append(big)
        assert log[off].value == big
        assert [r.value for r in log.read(start=off)] == [big]


def test_negative_indexes_count_back_from_end(log: Log) -> None:
    log.extend([b"a", b"b", b"c"])
    assert log[-1].value == b"c" and log[-1].offset == 2
    assert log[-3].value == b"a"
    with pytest.raises(IndexError):
        log[-4]


def test_slices_are_lists_of_records(log: Log) -> None:
    log.extend([bytes([i]) for i in range(10)])
    assert [r.offset for r in log[2:5]] == [2, 3, 4]
    assert [r.offset for r in log[-3:]] == [7, 8, 9]
    assert [r.offset for r in log[:2]] == [0, 1]
    assert log[5:5] == [] and log[8:3] == []
    assert [r.offset for r in log[7:100]] == [7, 8, 9]


def test_read_ranges_are_half_open(log: Log) -> None:
    log.extend([str(i).encode() for i in range(20)])
    assert [r.offset for r in log.read(5, 8)] == [5, 6, 7]
    assert [r.offset for r in log.read(start=18)] == [18, 19]
    assert list(log.read(30)) == []
    assert list(log.read(5, 5)) == []
    assert [r.offset for r in log] == list(range(20))


def test_read_by_time_and_offset_for_time(log: Log) -> None:
    for i in range(10):
        log.append(b"v%d" % i, timestamp=1000 + 100 * i)
    assert log.offset_for_time(0) == 0
    assert log.offset_for_time(1000) == 0
    assert log.offset_for_time(1001) == 1
    assert log.offset_for_time(1900) == 9
    assert log.offset_for_time(1901) is None
    assert [r.offset for r in log.read(since=1250, until=1600)] == [3, 4, 5]
    assert [r.offset for r in log.read(since=1250)] == list(range(3, 10))
    assert [r.offset for r in log.read(until=1200)] == [0, 1]
    assert [r.offset for r in log.read(2, 4, since=1000)] == [2, 3]
    assert list(log.read(since=5000)) == []


def test_time_lookup_with_non_monotonic_timestamps(log: Log) -> None:
    for ts in (50, 10, 70, 20, 90):
        log.append(b"x", timestamp=ts)
    assert log.offset_for_time(60) == 2  # first in offset order
    assert log.offset_for_time(15) == 0
    assert [r.timestamp for r in log.read(since=60)] == [70, 20, 90]


def test_timestamps_may_be_negative(log: Log) -> None:
    log.append(b"old", timestamp=-86_400_000)
    assert log[0].timestamp == -86_400_000


def test_read_follows_appends_made_while_iterating(log: Log) -> None:
    log.extend([b"a", b"b"])
    seen = []
    for rec in log.read():
        seen.append(rec.value)
        if rec.offset == 0:
            log.append(b"c")
    assert seen == [b"a", b"b", b"c"]


def test_durability_modes_and_flush_sync(tmp_path: Path) -> None:
    for mode in ("buffered", "os", "sync"):
        p = tmp_path / mode
        with Log(p, durability=mode) as log:
            assert log.durability == mode
            log.append(b"1")
            log.extend([b"2", b"3"])
            assert log[2].value == b"3"  # the same handle sees buffered records
            log.flush()
            log.sync()
        with Log(p, readonly=True) as ro:
            assert [r.value for r in ro] == [b"1", b"2", b"3"]


def test_buffered_records_reach_other_handles_after_flush(path: Path) -> None:
    with Log(path, durability="buffered") as w:
        w.append(b"a")
        with Log(path, readonly=True) as r:
            assert r.end == 0
            w.flush()
            assert r.end == 1 and r[0].value == b"a"


def test_reopen_keeps_everything(path: Path) -> None:
    with Log(path) as log:
        log.extend([b"a", b"b"])
    with Log(path) as log:
        assert log.recovery == lsmlog.Recovery(0, 0, 0, 0, "")
        assert log.append(b"c") == 2
        assert [r.value for r in log] == [b"a", b"b", b"c"]


def test_create_false_and_readonly_open_existing(path: Path) -> None:
    Log(path).close()
    with Log(path, create=False) as log:
        log.append(b"x")
    with Log(path, readonly=True) as ro:
        assert ro.readonly and ro[0].value == b"x"


def test_many_readers_and_one_writer(path: Path) -> None:
    with Log(path) as w:
        readers = [Log(path, readonly=True) for _ in range(3)]
        w.append(b"x")
        try:
            assert all(r[0].value == b"x" for r in readers)
        finally:
            for r in readers:
                r.close()


def test_segments_roll_by_size_and_retention_drops_whole_segments(path: Path) -> None:
    with Log(path, segment_bytes=4096) as log:
        for i in range(300):
            log.append(b"%04d" % i + b"." * 60)
        st = log.stats()
        assert st.segments > 3 and st.start == 0 and st.end == 300
        log.truncate_before(150)
        assert 0 < log.start <= 150
        assert log.stats().segments < st.segments
        with pytest.raises(IndexError):
            log[0]
        assert [r.offset for r in log.read()][0] == log.start  # reads skip what is gone
        assert log[299].value.startswith(b"0299")
        size = log.stats().bytes
        dropped = log.retain(max_bytes=size // 2)
        assert dropped >= 1 and log.stats().bytes <= size // 2 + 4096
        assert log.end == 300
        log.truncate_before(10**6)  # the active segment is never dropped
        assert log.stats().segments == 1 and log[299]


def test_retain_by_age(path: Path) -> None:
    old = now_ms() - 3_600_000
    with Log(path, segment_bytes=4096) as log:
        for i in range(100):
            log.append(b"." * 60, timestamp=old)
        for i in range(100):
            log.append(b"." * 60)
        n = log.stats().segments
        dropped = log.retain(max_age_ms=60_000)
        assert dropped >= 1 and log.stats().segments == n - dropped
        # whole segments only: old records stay only in the segment where new ones begin
        assert sum(1 for r in log if r.timestamp == old) < 60
        assert log.retain() == 0  # no limits: nothing to do


def test_segment_ms_rolls_by_age(path: Path) -> None:
    with Log(path, segment_ms=1) as log:
        log.append(b"a")
        time.sleep(0.01)
        log.append(b"b")
        time.sleep(0.01)
        log.append(b"c")
        assert log.stats().segments >= 2


def test_stats_and_verify(path: Path) -> None:
    with Log(path) as log:
        assert log.stats() == lsmlog.LogStats(0, 0, log.stats().segments, log.stats().bytes, None, None)
        log.append(b"a", timestamp=100)
        log.append(b"b", timestamp=50)
        st = log.stats()
        assert (st.start, st.end, st.first_timestamp, st.max_timestamp) == (0, 2, 100, 100)
        assert st.bytes > 0 and st.segments == 1
        assert log.verify() == 2


def test_context_manager_and_close_are_idempotent(path: Path) -> None:
    with Log(path) as log:
        assert not log.closed
        assert log and len(log) == 0  # a handle is truthy, even empty
    assert log.closed and log
    log.close()
    log.close()
    # the writer lock is released: a new writer may open at once
    with Log(path) as again:
        again.append(b"x")


def test_path_like_and_bytes_paths(tmp_path: Path) -> None:
    with Log(tmp_path / "a") as a:
        assert a.path == str(tmp_path / "a")
    with Log(os.fsencode(tmp_path / "b")) as b:
        assert b.path == os.fsencode(tmp_path / "b")
        b.append(b"x")


def test_iterators_close_when_dropped_or_exhausted(path: Path) -> None:
    with Log(path) as log:
        log.extend([b"a", b"b", b"c"])
        it = log.read()
        assert next(it).value == b"a"
        del it  # the generator's finally closes the C iterator
        for _ in log.read():
            break
        partial = log.read()
        next(partial)
        partial.close()
    # closing with no open iterators was possible: nothing was leaked open


def test_an_unclosed_log_is_closed_by_the_collector_with_a_warning(path: Path) -> None:
    import gc
    import warnings

    log = Log(path)
    log.append(b"x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del log
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) and "unclosed lsmlog.Log" in str(w.message) for w in caught)
    with Log(path) as again:  # closed: the lock is free and the record is there
        assert again[0].value == b"x"


def test_the_package_surface() -> None:
    for name in ("Log", "Record", "Recovery", "LogStats", "Codec", "Error", "CorruptionError",
                 "LockedError", "ReadOnlyError", "DB", "Snapshot", "WriteBatch"):
        assert hasattr(lsmlog, name)
    assert set(lsmlog.__all__) <= set(dir(lsmlog))
    assert issubclass(lsmlog.Error, OSError)
    for sub in (lsmlog.CorruptionError, lsmlog.LockedError, lsmlog.ReadOnlyError):
        assert issubclass(sub, lsmlog.Error)
    assert lsmlog.Error.__module__ == "lsmlog"
