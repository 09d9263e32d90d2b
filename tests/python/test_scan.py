"""Scans: Log.read() and DB.items()/keys()/values() hand out the C iterators
themselves, which step the core in chunks with the GIL released once per
chunk (bindings/python/pychunk.c). What must hold whatever the chunking:
every record once and in order, records appended during a read are seen,
values of any size come back whole, closing the handle mid-chunk raises
ValueError (never touches freed memory), errors come after the valid records
before them, Ctrl-C stops a scan run from C, and the iterators behave as the
generators they replace (close(), exhausted for good)."""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Dict, List

import pytest

import lsmlog
from lsmlog import DB, Log, Record

from conftest import SLOW, run_child, segment_files

BIG = 100 << 10  # larger than a chunk's buffer (64 KiB): handed out without a copy into it


def mixed_values(n: int, seed: int) -> List[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        size = rng.choice([0, 1, 100, 3000, 40000, BIG, 70000])
        out.append(b"%d:" % i + bytes([i % 251]) * size)
    return out


# ---- the Log ----------------------------------------------------------------------


def test_read_returns_records_with_generator_manners(log: Log) -> None:
    log.extend([b"a", b"b", b"c"], timestamp=5)
    it = log.read()
    assert iter(it) is it
    first = next(it)
    assert isinstance(first, Record) and type(first) is Record
    assert first == (0, 5, b"a") and first._fields == ("offset", "timestamp", "value")
    assert first._replace(value=b"z") == Record(0, 5, b"z")
    assert list(it) == [Record(1, 5, b"b"), Record(2, 5, b"c")]
    log.append(b"d")
    assert list(it) == []  # exhausted for good, as a generator
    partial = log.read()
    next(partial)
    partial.close()
    partial.close()  # a second close is a no-op
    assert list(partial) == []


def test_records_built_in_c_are_proper_tuples(log: Log) -> None:
    log.extend([b"a", b"b"], timestamp=7)
    recs = list(log.read()) + list(log.tail(start=0, timeout=0))
    for r in recs:
        # the hash (cached by tuples since Python 3.14) is the tuple's
        assert hash(r) == hash(tuple(r)) == hash(Record(*r)) and r == tuple(r)
    assert len({recs[0], recs[2], (0, 7, b"a")}) == 1 and {recs[1]: 1}[(1, 7, b"b")] == 1
    assert recs[0].timestamp is recs[1].timestamp  # one int for a batch's timestamp
    assert repr(recs[0]) == "Record(offset=0, timestamp=7, value=b'a')"


def test_read_of_every_size_across_chunks_and_segments(path: Path) -> None:
    values = mixed_values(400, seed=1)
    with Log(path, segment_bytes=1 << 20) as log:
        for i in range(0, len(values), 7):
            log.extend(values[i : i + 7], timestamp=1000 + i)
        got = list(log.read())
        assert [r.value for r in got] == values
        assert [r.offset for r in got] == list(range(len(values)))
        assert [r.timestamp for r in got] == [1000 + (i // 7) * 7 for i in range(len(values))]
        assert [r.value for r in log.read(123, 321)] == values[123:321]
        t = log.tail(start=0, timeout=0)
        assert [r.value for r in t] == values


def test_read_sees_records_appended_while_it_runs(log: Log) -> None:
    log.extend([b"%d" % i for i in range(1000)])
    seen = []
    for rec in log.read():
        seen.append(rec.offset)
        if rec.offset in (3, 500, 999):
            log.extend([b"more"] * 10)  # behind what a chunk has stepped, or at the end
    assert seen == list(range(1030))


@pytest.mark.parametrize("steps", range(8))
def test_closing_the_log_mid_chunk(path: Path, steps: int) -> None:
    # small, big, small, big...: the big ones stay lent by the core, so the
    # close comes with copied records or a lent one still to hand out
    log = Log(path)
    log.extend([b"s" * 10 if i % 2 == 0 else b"B" * BIG for i in range(16)])
    it = log.read()
    t = log.tail(start=0, timeout=0)
    for _ in range(steps):
        next(it)
        next(t)
    log.close()
    with pytest.raises(ValueError, match="closed"):
        next(it)
    assert list(it) == []  # read(): ended, as a generator after an exception
    with pytest.raises(ValueError, match="closed"):
        next(t)


def test_closing_the_log_while_another_thread_scans(path: Path) -> None:
    log = Log(path)
    for _ in range(50):
        log.extend([b"v" * 100] * 1000)
    started = threading.Event()
    outcome: List[str] = []

    def scan() -> None:
        try:
            while True:
                for _ in log.read():
                    started.set()
        except ValueError as e:
            outcome.append(str(e))

    th = threading.Thread(target=scan)
    th.start()
    assert started.wait(30 * SLOW)
    log.close()  # waits for the chunk being stepped, then closes the iterator
    th.join(30 * SLOW)
    assert not th.is_alive() and outcome and "closed" in outcome[0]


def test_damage_is_raised_after_the_valid_records_before_it(path: Path) -> None:
    with Log(path, segment_bytes=4096) as log:
        for i in range(200):
            log.append(b"v%03d" % i + b"." * 50)
    second = segment_files(path)[1]
    data = bytearray(second.read_bytes())
    data[80] ^= 0xFF  # inside the first batch of the second segment
    second.write_bytes(bytes(data))
    with Log(path) as log:
        it = log.read()
        offsets = []
        with pytest.raises(lsmlog.CorruptionError, match=second.name):
            for rec in it:
                offsets.append(rec.offset)
        assert offsets == list(range(len(offsets))) and len(offsets) > 10
        with pytest.raises(lsmlog.CorruptionError):
            log[len(offsets)]  # the first record set aside is the damaged one
        assert list(it) == []
        assert log[150].value.startswith(b"v150")


INTERRUPTED_SCAN = """
import collections, itertools, sys, threading, time, _thread, lsmlog
n = int(sys.argv[2])
with lsmlog.Log(sys.argv[1]) as log:
    for _ in range(n // 10000):
        log.extend([b"x" * 8] * 10000)
    counter = itertools.count()
    go = threading.Event()
    def ctrl_c():
        go.wait()
        time.sleep(0.02)
        _thread.interrupt_main()  # as Ctrl-C
    threading.Thread(target=ctrl_c).start()
    it = log.read()
    try:
        go.set()
        collections.deque(zip(it, counter), maxlen=0)  # the whole scan in C
        print("finished", flush=True)
    except KeyboardInterrupt:
        done = next(counter)
        print("interrupted", done, n, next(it).offset == done, flush=True)
"""


def test_ctrl_c_stops_a_scan_that_runs_no_bytecode(tmp_path: Path) -> None:
    n = 2_000_000
    r = run_child(INTERRUPTED_SCAN, str(tmp_path / "log"), str(n), timeout=120)
    assert r.returncode == 0, r.stderr
    words = r.stdout.split()
    assert words[0] == "interrupted", r.stdout
    assert 0 < int(words[1]) < n and words[3] == "True", r.stdout


def test_extend_takes_values_as_they_are(log: Log) -> None:
    assert log.extend((b"a", bytearray(b"b"), memoryview(b"c"))) == 0
    assert log.extend(v for v in [b"d"]) == 3
    with pytest.raises(TypeError, match=r"value 1: .*str.*codec='utf-8'"):
        log.extend([b"e", "f"])
    with pytest.raises(TypeError, match="value 2"):
        log.extend([b"e", b"f", 3])
    assert [r.value for r in log.read()] == [b"a", b"b", b"c", b"d"]


def test_raw_iter_record_type_is_checked(log: Log) -> None:
    log.append(b"a")
    with pytest.raises(TypeError, match="record"):
        log._raw.iter(record=list)
    with pytest.raises(TypeError, match="record"):
        log._raw.iter(record=Record(0, 0, b""))  # an instance, not a type
    assert next(log._raw.iter()) == (0, log[0].timestamp, b"a")
    assert type(next(log._raw.iter(record=Record))) is Record


# ---- the DB -----------------------------------------------------------------------


def test_db_scans_of_every_size(path: Path) -> None:
    rng = random.Random(2)
    model: Dict[bytes, bytes] = {}
    with DB(path, memtable_bytes=1 << 20) as db:
        for i in range(300):
            k = b"k%04d" % i + b"K" * rng.choice([0, 10, 60000])
            v = b"v" * rng.choice([0, 5, 1000, 70000, BIG])
            db[k] = v
            model[k] = v
            if i == 150:
                db.flush_memtable()  # some in tables, some in the memtable
        keys = sorted(model)
        assert list(db.items()) == [(k, model[k]) for k in keys]
        assert list(db.keys()) == keys
        assert list(db.values()) == [model[k] for k in keys]
        assert list(reversed(db.items())) == [(k, model[k]) for k in reversed(keys)]
        assert list(db.items(start=keys[10], stop=keys[200])) == [(k, model[k]) for k in keys[10:200]]
        assert len(db) == len(keys)


def test_db_scan_manners_and_close_mid_scan(path: Path) -> None:
    db = DB(path)
    with db.batch() as b:
        for i in range(300):
            b.put(b"k%05d" % i, b"v" * (BIG if i % 3 == 0 else 10))
    it = iter(db.items())
    assert iter(it) is it
    assert next(it) == (b"k00000", b"v" * BIG)
    done = iter(db.keys(stop=b"k00002"))
    assert list(done) == [b"k00000", b"k00001"]
    db[b"k00000a"] = b"new"
    assert list(done) == []  # ended for good
    for _ in range(5):
        next(it)
    db.close()
    with pytest.raises(ValueError, match="closed"):
        next(it)
    assert list(it) == []
