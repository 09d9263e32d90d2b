"""The DB surface of API.md: mapping protocol, put/get/delete, TTL, batches,
ranges, snapshots, compaction with progress, stats, codecs, repr, large values."""

from __future__ import annotations

import array
import shutil
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

import lsmlog
from lsmlog import DB


@pytest.fixture
def db(path: Path) -> Iterator[DB]:
    with DB(path) as d:
        yield d


def fill(db: DB, n: int, value_size: int = 100) -> None:
    with db.batch() as b:
        for i in range(n):
            b.put(b"k%06d" % i, b"v%06d" % i + b"." * value_size)


# ---- the mapping ---------------------------------------------------------------


def test_db_is_a_mutable_mapping(db: DB) -> None:
    assert isinstance(db, MutableMapping)
    db[b"k"] = b"v"
    assert db[b"k"] == b"v"
    assert b"k" in db and b"other" not in db
    assert db.get(b"k") == b"v" and db.get(b"other") is None and db.get(b"other", 7) == 7
    del db[b"k"]
    assert b"k" not in db
    with pytest.raises(KeyError):
        db[b"k"]
    with pytest.raises(KeyError):
        del db[b"k"]


def test_empty_key_and_value(db: DB) -> None:
    db[b""] = b""
    assert db[b""] == b"" and b"" in db
    assert list(db.items()) == [(b"", b"")]


def test_overwrite_and_delete_of_absent_key_is_a_noop(db: DB) -> None:
    db.put(b"a", b"1")
    db.put(b"a", b"2")
    assert db[b"a"] == b"2"
    db.delete(b"missing")  # RocksDB's Delete: no error
    db.delete(b"a")
    db.delete(b"a")
    assert b"a" not in db


def test_get_default_with_and_without_codecs(tmp_path: Path) -> None:
    # get() of a DB without codecs is the extension's method bound to the
    # instance; it must answer exactly as the Python one of a DB with codecs
    sentinel = object()
    with DB(tmp_path / "plain") as plain, DB(tmp_path / "coded", key_codec="utf-8") as coded:
        plain.put(b"k", b"v")
        coded.put("k", b"v")
        for d, k, absent in ((plain, b"k", b"nope"), (coded, "k", "nope")):
            assert d.get(k) == b"v" and d.get(k, sentinel) == b"v"
            assert d.get(absent) is None
            assert d.get(absent, sentinel) is sentinel
            assert d.get(absent, default=sentinel) is sentinel
            with pytest.raises(TypeError):
                d.get(k, sentinel, None)  # type: ignore[call-arg]
            with pytest.raises(TypeError):
                d.get(k, dflt=1)  # type: ignore[call-arg]
        assert plain.get(bytearray(b"k")) == b"v" and plain.get(memoryview(b"k")) == b"v"
        with pytest.raises(TypeError, match="key_codec='utf-8'"):
            plain.get("k")
    with pytest.raises(ValueError, match="closed"):
        plain.get(b"k")


def test_len_iter_bool_and_mixins(db: DB) -> None:
    assert len(db) == 0 and not db and list(db) == []
    db.update({b"b": b"2", b"a": b"1", b"c": b"3"})
    assert len(db) == 3 and bool(db)
    assert list(db) == [b"a", b"b", b"c"]  # sorted, bytewise
    assert list(reversed(db)) == [b"c", b"b", b"a"]
    assert db.setdefault(b"d", b"4") == b"4" and db.setdefault(b"d", b"x") == b"4"
    assert db.pop(b"d") == b"4" and db.pop(b"d", None) is None
    assert dict(db) == {b"a": b"1", b"b": b"2", b"c": b"3"}
    assert db == {b"a": b"1", b"b": b"2", b"c": b"3"}
    k, v = db.popitem()
    assert (k, v) == (b"a", b"1") and len(db) == 2
    db.clear()
    assert len(db) == 0 and not db


def test_clear_many_keys(db: DB) -> None:
    fill(db, 2500, 10)
    db.clear()
    assert len(db) == 0


def test_buffer_protocol_keys_and_values(db: DB) -> None:
    np = pytest.importorskip("numpy")
    db[bytearray(b"ba")] = memoryview(b"mv")
    db[memoryview(b"xx")[1:]] = array.array("B", [1, 2, 3])
    arr = np.arange(4, dtype=np.uint8)
    db[b"np"] = arr
    db[b"strided"] = np.arange(8, dtype=np.uint8)[::2]  # non-contiguous: copied
    assert db[b"ba"] == b"mv"
    assert db[b"x"] == b"\x01\x02\x03"
    assert db[b"np"] == arr.tobytes()
    assert db[b"strided"] == bytes([0, 2, 4, 6])
    assert db[np.frombuffer(b"np", dtype=np.uint8)] == arr.tobytes()
    assert isinstance(db[b"ba"], bytes)


def test_reopen_keeps_everything(path: Path) -> None:
    with DB(path) as db:
        fill(db, 500)
        db.delete(b"k000007")
        db[b"k000009"] = b"new"
    with DB(path) as db:
        assert len(db) == 499
        assert b"k000007" not in db and db[b"k000009"] == b"new"
        assert db[b"k000499"].startswith(b"v000499")
        assert db.recovery.message == ""


def test_repair_salvages_a_damaged_table(path: Path) -> None:
    with DB(path) as db:
        fill(db, 3000)
        db.compact()  # every write in tables
    # the write-ahead log still holds every write: without it, what the
    # damage takes is gone for good, and the test sees what repair loses
    shutil.rmtree(path / "wal")
    table = max(path.glob("*.sst"), key=lambda p: p.stat().st_size)
    data = bytearray(table.read_bytes())
    data[300] ^= 0x20  # in the first data block
    table.write_bytes(data)
    with DB(path) as db:
        with pytest.raises(lsmlog.CorruptionError) as e:
            list(db.items())
        assert table.name in str(e.value)
    with DB(path, repair=True) as db:
        rec = db.recovery
        assert table.name in rec.message and rec.dropped_batches > 0 and rec.dropped_bytes > 0
        items = dict(db.items())
        assert 0 < len(items) < 3000
        for k, v in items.items():  # what is there is right; what is not was lost
            assert v == b"v" + k[1:] + b"." * 100
        db[b"after"] = b"repair"
    assert (path / "lost" / table.name).exists()
    with DB(path) as db:  # opens plainly now, with the same data
        assert db.recovery.message == ""
        assert db[b"after"] == b"repair"
        assert {k: v for k, v in db.items() if k != b"after"} == items


def test_values_of_32_mib(path: Path) -> None:
    big = bytes(range(256)) * (32 * 1024 * 1024 // 256)
    with DB(path) as db:
        db[b"big"] = big
        db.put(b"big2", memoryview(big)[: len(big) - 1])
        assert db[b"big"] == big
        assert [k for k in db] == [b"big", b"big2"]
        db.flush_memtable()
        assert db[b"big"] == big
        assert dict(db.items())[b"big2"] == big[:-1]
    with DB(path) as db:
        assert db[b"big"] == big and len(db[b"big2"]) == len(big) - 1


def test_key_too_long_is_a_value_error(db: DB) -> None:
    db[b"k" * 65536] = b"ok"  # 64 KiB is the limit
    with pytest.raises(ValueError):
        db[b"k" * 65537] = b"no"


# ---- TTL -----------------------------------------------------------------------


def test_ttl_expiry(db: DB) -> None:
    db.put(b"old", b"forever")
    db.put(b"old", b"short", ttl=0.05)
    db.put(b"stays", b"1", ttl=60)
    with db.batch() as b:
        b.put(b"batched", b"x", ttl=0.05)
    assert db[b"old"] == b"short" and db[b"batched"] == b"x"
    time.sleep(0.2)
    # gone, and its older value with it
    assert b"old" not in db and db.get(b"old") is None and b"batched" not in db
    assert list(db.keys()) == [b"stays"]
    db.compact()
    assert list(db.keys()) == [b"stays"] and db[b"stays"] == b"1"


# ---- batches -------------------------------------------------------------------


def test_batch_is_applied_on_clean_exit(db: DB) -> None:
    db[b"gone"] = b"x"
    with db.batch() as b:
        b.put(b"a", b"1")
        b[b"b"] = b"2"
        b.delete(b"gone")
        assert len(b) == 3 and b"a" not in db  # nothing before the end
    assert b.state == "committed"
    assert dict(db) == {b"a": b"1", b"b": b"2"}


def test_batch_is_discarded_on_exception(db: DB) -> None:
    with pytest.raises(RuntimeError):
        with db.batch() as b:
            b.put(b"a", b"1")
            raise RuntimeError("stop")
    assert b.state == "discarded"
    assert b"a" not in db


def test_batch_commit_and_discard_by_hand(db: DB) -> None:
    b = db.batch()
    b.put(b"a", b"1")
    b.commit()
    assert db[b"a"] == b"1"
    b2 = db.batch()
    b2.put(b"z", b"1")
    b2.discard()
    assert b"z" not in db
    empty = db.batch()
    empty.commit()  # a no-op
    assert "committed" in repr(empty)


def test_batch_later_operations_win(db: DB) -> None:
    with db.batch() as b:
        b.put(b"k", b"1")
        b.delete(b"k")
        b.put(b"j", b"1")
        b.put(b"j", b"2")
    assert b"k" not in db and db[b"j"] == b"2"


# ---- ranges ----------------------------------------------------------------------


def test_items_keys_values_with_ranges(db: DB) -> None:
    for k in [b"a", b"ab", b"abc", b"b", b"ba", b"c", b"m", b"z"]:
        db[k] = k.upper()
    assert list(db.keys(start=b"ab", stop=b"c")) == [b"ab", b"abc", b"b", b"ba"]
    assert list(db.keys(start=b"ab", stop=b"c", reverse=True)) == [b"ba", b"b", b"abc", b"ab"]
    assert list(db.items(prefix=b"a")) == [(b"a", b"A"), (b"ab", b"AB"), (b"abc", b"ABC")]
    assert list(db.values(prefix=b"b", reverse=True)) == [b"BA", b"B"]
    assert list(db.keys(b"m")) == [b"m", b"z"]  # start is positional
    assert list(db.keys(stop=b"")) == []  # the empty stop: nothing is below it
    assert list(db.keys(start=b"", stop=b"ab")) == [b"a"]
    assert list(db.keys(start=b"x", stop=b"b")) == []
    assert list(db.keys(prefix=b"q")) == []
    assert list(db.keys(start=b"b", prefix=b"a")) == []
    view = db.keys(start=b"b")
    assert len(view) == 5 and b"m" in view and b"a" not in view and b"zz" not in view
    assert list(reversed(view)) == [b"z", b"m", b"c", b"ba", b"b"]
    items = db.items(prefix=b"a")
    assert (b"ab", b"AB") in items and (b"ab", b"x") not in items and (b"b", b"B") not in items
    assert len(db.values(stop=b"b")) == 3
    assert "start=b'b'" in repr(view)


def test_view_reads_the_db_as_of_each_iteration(db: DB) -> None:
    view = db.keys()
    assert list(view) == []
    db[b"a"] = b"1"
    assert list(view) == [b"a"]


def test_iterator_sees_the_db_as_of_its_opening(db: DB) -> None:
    fill(db, 10)
    it = iter(db.items())
    first = next(it)
    db[b"k000005"] = b"changed"
    db[b"zzz"] = b"new"
    del db[b"k000009"]
    rest = list(it)
    assert first[0] == b"k000000"
    assert len(rest) == 9 and dict(rest)[b"k000005"].startswith(b"v000005")
    assert b"zzz" not in dict(rest) and b"k000009" in dict(rest)


def test_scan_across_memtable_and_tables(path: Path) -> None:
    with DB(path, memtable_bytes=128 << 10) as db:
        fill(db, 3000)  # several tables
        for i in range(0, 3000, 3):
            db.delete(b"k%06d" % i)
        db.flush_memtable()
        for i in range(1, 3000, 3):
            db[b"k%06d" % i] = b"new"
        expected = [b"k%06d" % i for i in range(3000) if i % 3]
        assert list(db) == expected
        assert list(db.keys(reverse=True)) == expected[::-1]
        assert db.stats()["files"] >= 1  # (the background may have merged them already)
        db.compact()
        assert list(db) == expected
        assert db[b"k000001"] == b"new" and db[b"k000002"].startswith(b"v000002")


def test_abandoned_iterator_is_closed_by_the_collector(db: DB) -> None:
    fill(db, 10)
    for _ in range(100):
        it = iter(db.items())
        next(it)
        del it
    db.close()  # no open child left behind: close does not fail


# ---- snapshots ------------------------------------------------------------------


def test_snapshot_is_a_frozen_view(db: DB) -> None:
    fill(db, 100)
    with db.snapshot() as snap:
        db[b"k000001"] = b"changed"
        db[b"new"] = b"1"
        del db[b"k000002"]
        db.flush_memtable()
        db.compact()
        assert snap[b"k000001"].startswith(b"v000001")
        assert snap.get(b"new") is None and b"new" not in snap
        assert b"k000002" in snap
        assert len(snap) == 100 and len(db) == 100
        assert list(snap.keys(stop=b"k000003")) == [b"k000000", b"k000001", b"k000002"]
        assert next(iter(snap.items(reverse=True)))[0] == b"k000099"
        assert snap.db is db and not snap.closed and "open" in repr(snap)
        with pytest.raises(KeyError):
            snap[b"new"]
    assert snap.closed
    with pytest.raises(ValueError):
        snap.get(b"k000001")
    snap.close()  # a second close is a no-op


def test_iterator_of_a_snapshot_outlives_it(db: DB) -> None:
    db[b"a"] = b"1"
    snap = db.snapshot()
    it = iter(snap.items())
    db[b"b"] = b"2"
    snap.close()
    assert list(it) == [(b"a", b"1")]


# ---- compaction, stats ----------------------------------------------------------


def test_compact_with_a_progress_callback(path: Path) -> None:
    with DB(path, memtable_bytes=256 << 10) as db:
        for round_ in range(3):
            fill(db, 6000, 200)  # ~1.3 MiB a round, overwritten
        calls: List[Tuple[int, int]] = []
        db.compact(progress=lambda done, total: calls.append((done, total)))
        assert len(calls) >= 2, calls
        dones = [d for d, _ in calls]
        assert dones == sorted(dones)
        assert calls[-1][0] == calls[-1][1] > 0
        st = db.stats()
        assert st["compactions"] >= 1
        assert [lv["files"] for lv in st["levels"]][0] == 0  # level 0 emptied
        assert len(db) == 6000


def test_compact_a_range(db: DB) -> None:
    fill(db, 1000)
    db.compact(start=b"k000100", stop=b"k000200")
    db.compact(b"k000900")
    db.compact(stop=b"k000001")
    assert len(db) == 1000


def test_compact_progress_true_shows_a_bar(db: DB, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    fill(db, 100)
    db.compact(progress=True)
    assert "compact" in capsys.readouterr().err


def test_compact_callback_that_raises_cancels_and_propagates(path: Path) -> None:
    class Stop(Exception):
        pass

    with DB(path, memtable_bytes=256 << 10) as db:
        fill(db, 6000, 200)
        fill(db, 6000, 200)
        calls: List[int] = []

        def cb(done: int, total: int) -> None:
            calls.append(done)
            if len(calls) == 2:
                raise Stop("enough")

        with pytest.raises(Stop, match="enough"):
            db.compact(progress=cb)
        assert len(calls) == 2  # not called again after it raised
        # the DB is intact and usable; a later compaction runs to the end
        assert len(db) == 6000
        db[b"after"] = b"1"
        db.compact()
        assert len(db) == 6001


def test_compact_keyboard_interrupt_propagates(path: Path) -> None:
    with DB(path, memtable_bytes=256 << 10) as db:
        fill(db, 6000, 200)

        def cb(done: int, total: int) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            db.compact(progress=cb)
        assert len(db) == 6000


def test_stats(path: Path) -> None:
    with DB(path, memtable_bytes=128 << 10) as db:
        st = db.stats()
        assert st["last_seq"] == 0 and st["files"] == 0 and st["write_amplification"] == 0
        fill(db, 2000)
        db.flush_memtable()
        st = db.stats()
        assert len(st["levels"]) == 7
        assert st["files"] == sum(lv["files"] for lv in st["levels"]) >= 1
        assert st["bytes"] == sum(lv["bytes"] for lv in st["levels"]) > 0
        assert st["last_seq"] == 2000 and st["flushes"] >= 1
        assert st["write_amplification"] > 1.0
        for key in ("memtable_bytes", "user_bytes", "wal_bytes", "flush_bytes", "compact_read_bytes",
                    "compact_write_bytes", "compactions", "trivial_moves", "stalls", "stall_us",
                    "cache_hits", "cache_misses", "bloom_useful", "bloom_useless"):
            assert isinstance(st[key], int), key


def test_flush_and_sync(path: Path) -> None:
    with DB(path, durability="buffered") as db:
        db[b"a"] = b"1"
        db.flush()
        db.sync()
    with DB(path, durability="sync") as db:
        assert db[b"a"] == b"1"


# ---- codecs ---------------------------------------------------------------------


def test_codecs(path: Path) -> None:
    with DB(path, key_codec="utf-8", value_codec="json") as db:
        db["user:ann"] = {"age": 31}
        db["user:bob"] = [1, 2]
        db["zed"] = None
        assert db["user:ann"] == {"age": 31} and db.get("zed", "absent") is None
        assert list(db.keys(prefix="user:")) == ["user:ann", "user:bob"]
        assert dict(db.items(start="user:b")) == {"user:bob": [1, 2], "zed": None}
        assert list(db.values(stop="user:b")) == [{"age": 31}]
        assert "user:ann" in db and "nobody" not in db
        with db.snapshot() as snap:
            assert snap["user:bob"] == [1, 2]
        assert db.key_codec is not None and db.value_codec is not None
    with DB(path) as raw:  # the same bytes without codecs
        assert raw[b"user:ann"] == b'{"age":31}'


def test_custom_codec(path: Path) -> None:
    class IntKey:
        def encode(self, obj: int) -> bytes:
            return obj.to_bytes(8, "big")  # big-endian: sorts as numbers

        def decode(self, data: bytes) -> int:
            return int.from_bytes(data, "big")

    with DB(path, key_codec=IntKey(), value_codec="pickle") as db:
        for n in (300, 2, 1000, 40):
            db[n] = {"n": n}
        assert list(db) == [2, 40, 300, 1000]
        assert list(db.keys(start=40, stop=1000)) == [40, 300]
        assert db[300] == {"n": 300}


# ---- handles, processes ---------------------------------------------------------------


def test_readonly_handle(path: Path) -> None:
    with DB(path) as db:
        db[b"a"] = b"1"
        with DB(path, readonly=True) as ro:
            assert ro[b"a"] == b"1" and ro.readonly
            db[b"b"] = b"2"
            assert ro[b"b"] == b"2"  # sees the writer's writes as each read starts
            assert list(ro) == [b"a", b"b"]


def test_second_writer_in_this_process(path: Path) -> None:
    with DB(path):
        with pytest.raises(lsmlog.LockedError):
            DB(path)


def test_close_closes_iterators_and_snapshots(path: Path) -> None:
    db = DB(path)
    fill(db, 10)
    it = iter(db.items())
    next(it)
    snap = db.snapshot()
    view_it = iter(snap.keys())
    db.close()
    assert db.closed and snap.closed
    with pytest.raises(ValueError, match="closed"):
        next(it)
    with pytest.raises(ValueError, match="closed"):
        next(view_it)
    db.close()  # a second close is a no-op


def test_unclosed_db_warns_and_closes(path: Path) -> None:
    db = DB(path)
    db[b"a"] = b"1"
    with pytest.warns(ResourceWarning):
        del db
        import gc

        gc.collect()
    with DB(path) as again:  # the lock went with it
        assert again[b"a"] == b"1"


def test_repr(path: Path) -> None:
    with DB(path, memtable_bytes=128 << 10) as db:
        assert repr(db).startswith("<lsmlog.DB ") and "seq 0" in repr(db)
        fill(db, 2000)
        db.flush_memtable()
        st = db.stats()
        text = repr(db)
        assert str(path) in text and f"seq {st['last_seq']}" in text
        assert f"{st['files']} table" in text and f"{st['bytes']} bytes" in text
        html = db._repr_html_()
        assert html.startswith("<table>") and "lsmlog.DB" in html and str(st["last_seq"]) in html
    assert repr(db).endswith("closed>") and "closed" in db._repr_html_()
    with DB(path, readonly=True) as ro:
        assert "read-only" in repr(ro)


def test_tqdm_missing_says_how_to_get_it(db: DB, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins
    import sys

    real_import = builtins.__import__

    def no_tqdm(name: str, *args: object, **kwargs: object) -> object:
        if name == "tqdm" or name.startswith("tqdm."):
            raise ImportError("No module named 'tqdm'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.delitem(sys.modules, "tqdm.auto", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    db[b"a"] = b"1"
    with pytest.raises(ImportError, match=r"pip install 'lsmlog\[progress\]'"):
        db.compact(progress=True)


def test_ctrl_c_during_compact_cancels_it(path: Path) -> None:
    import os
    import signal
    import threading

    with DB(path, memtable_bytes=256 << 10) as db:
        for _ in range(2):
            fill(db, 20000, 300)  # ~12 MiB to compact: a dozen progress steps or more
        started = threading.Event()
        calls: List[Tuple[int, int]] = []

        def cb(done: int, total: int) -> None:
            calls.append((done, total))
            started.set()

        def interrupt() -> None:
            started.wait(60)
            os.kill(os.getpid(), signal.SIGINT)  # lands while the core works, GIL released

        t = threading.Thread(target=interrupt)
        t.start()
        with pytest.raises(KeyboardInterrupt):
            db.compact(progress=cb)
        t.join()
        assert calls and calls[-1][0] < calls[-1][1]  # it stopped before the end
        assert len(db) == 20000
