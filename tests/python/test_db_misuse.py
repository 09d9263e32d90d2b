"""Misuse of the DB: every case raises its documented exception and never
crashes the interpreter (the suite also runs under AddressSanitizer)."""

from __future__ import annotations

import errno
import os
import pickle
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Tuple, Type

import pytest

import lsmlog
from lsmlog import DB, _lsmlog

from conftest import run_child

# ---- opening: bad paths and options -------------------------------------------

BAD_OPEN: Dict[str, Tuple[Dict[str, Any], Type[BaseException]]] = {
    "durability unknown": ({"durability": "fast"}, ValueError),
    "durability not str": ({"durability": 2}, TypeError),
    "create not bool": ({"create": 1}, TypeError),
    "readonly str": ({"readonly": "no"}, TypeError),
    "repair and readonly": ({"repair": True, "readonly": True}, ValueError),
    "memtable_bytes too small": ({"memtable_bytes": 100}, ValueError),
    "memtable_bytes too large": ({"memtable_bytes": 2**33}, ValueError),
    "memtable_bytes float": ({"memtable_bytes": 1e6}, TypeError),
    "cache_bytes negative": ({"cache_bytes": -1}, ValueError),
    "cache_bytes too large": ({"cache_bytes": 2**41}, ValueError),
    "cache_bytes str": ({"cache_bytes": "8M"}, TypeError),
    "bloom_bits negative": ({"bloom_bits": -1}, ValueError),
    "bloom_bits too large": ({"bloom_bits": 65}, ValueError),
    "bloom_bits bool": ({"bloom_bits": True}, TypeError),
    "key_codec unknown name": ({"key_codec": "xml"}, ValueError),
    "value_codec int": ({"value_codec": 42}, TypeError),
    "key_codec without methods": ({"key_codec": object()}, TypeError),
    "a Log option": ({"segment_bytes": 1 << 20}, TypeError),
    "codec instead of key_codec": ({"codec": "json"}, TypeError),
}


@pytest.mark.parametrize("case", sorted(BAD_OPEN))
def test_bad_option(case: str, path: Path) -> None:
    kwargs, exc = BAD_OPEN[case]
    with pytest.raises(exc):
        DB(path, **kwargs)
    assert not path.exists()  # refused before anything was made


@pytest.mark.parametrize("bad, exc", [(7, TypeError), (None, TypeError), ("", ValueError), ("a\0b", ValueError)],
                         ids=["int", "None", "empty", "NUL byte"])
def test_bad_path(bad: Any, exc: Type[BaseException]) -> None:
    with pytest.raises(exc):
        DB(bad)


def test_options_are_keyword_only(path: Path) -> None:
    with pytest.raises(TypeError):
        DB(path, "os")  # type: ignore[misc]


def test_missing_directory(path: Path) -> None:
    for kwargs in ({"create": False}, {"readonly": True}):
        with pytest.raises(lsmlog.Error) as e:
            DB(path, **kwargs)
        assert e.value.errno == errno.ENOENT and str(path) in str(e.value)
    assert not path.exists()


def test_path_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_bytes(b"not a DB")
    with pytest.raises(lsmlog.Error):
        DB(f)


def test_second_writer_in_another_process(path: Path) -> None:
    with DB(path):
        r = run_child(
            """
            import sys, lsmlog
            try:
                lsmlog.DB(sys.argv[1])
            except lsmlog.LockedError as e:
                print("locked:", e.code)
            """,
            str(path),
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("locked: -1006")
    r = run_child("import sys, lsmlog; lsmlog.DB(sys.argv[1]).close(); print('ok')", str(path))
    assert r.stdout.strip() == "ok", r.stderr  # the lock went with close()


# ---- wrong types ------------------------------------------------------------------

BAD_CALLS: Dict[str, Tuple[Callable[[DB], Any], Type[BaseException]]] = {
    "str key without codec": (lambda db: db.__setitem__("k", b"v"), TypeError),
    "str value without codec": (lambda db: db.put(b"k", "v"), TypeError),
    "int key": (lambda db: db.get(1), TypeError),
    "None key": (lambda db: db.__getitem__(None), TypeError),
    "list value": (lambda db: db.put(b"k", [1]), TypeError),
    "int key in": (lambda db: 5 in db, TypeError),
    "float key delete": (lambda db: db.delete(1.5), TypeError),
    "ttl str": (lambda db: db.put(b"k", b"v", ttl="60"), TypeError),
    "ttl bool": (lambda db: db.put(b"k", b"v", ttl=True), TypeError),
    "ttl zero": (lambda db: db.put(b"k", b"v", ttl=0), ValueError),
    "ttl negative": (lambda db: db.put(b"k", b"v", ttl=-1), ValueError),
    "ttl nan": (lambda db: db.put(b"k", b"v", ttl=float("nan")), ValueError),
    "ttl inf": (lambda db: db.put(b"k", b"v", ttl=float("inf")), ValueError),
    "key over 64 KiB": (lambda db: db.put(b"k" * 65537, b"v"), ValueError),
    "range bound int": (lambda db: list(db.keys(start=1)), TypeError),
    "prefix str": (lambda db: db.items(prefix="a"), TypeError),
    "reverse int": (lambda db: db.keys(reverse=1), TypeError),
    "compact bound str": (lambda db: db.compact("a"), TypeError),
    "compact progress int": (lambda db: db.compact(progress=3), TypeError),
    "compact progress str": (lambda db: db.compact(progress="yes"), TypeError),
    "batch put int key": (lambda db: db.batch().put(1, b"v"), TypeError),
    "batch put ttl zero": (lambda db: db.batch().put(b"k", b"v", ttl=0), ValueError),
    "raw write of a non-batch": (lambda db: db._raw.write([(b"k", b"v")]), TypeError),
    "raw get with a bad snapshot": (lambda db: db._raw.get(b"k", "snap"), TypeError),
    "raw iter bad mode": (lambda db: db._raw.iter(mode=7), ValueError),
    "raw put ttl_ms zero": (lambda db: db._raw.put(b"k", b"v", 0), ValueError),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_call(case: str, path: Path) -> None:
    call, exc = BAD_CALLS[case]
    with DB(path) as db:
        with pytest.raises(exc):
            call(db)
        assert len(db) == 0  # nothing was written


def test_snapshot_of_another_db(tmp_path: Path) -> None:
    with DB(tmp_path / "a") as a, DB(tmp_path / "b") as b:
        with a.snapshot() as snap:
            with pytest.raises(ValueError, match="another DB"):
                b._raw.get(b"k", snap._snap)


def test_cannot_make_children_directly() -> None:
    for cls in (_lsmlog.DBIter, _lsmlog.Snapshot):
        with pytest.raises(TypeError):
            cls()


# ---- closed handles, children after close -------------------------------------------

CLOSED_CALLS: Dict[str, Callable[[DB], Any]] = {
    "get": lambda db: db.get(b"k"),
    "getitem": lambda db: db[b"k"],
    "setitem": lambda db: db.__setitem__(b"k", b"v"),
    "delitem": lambda db: db.__delitem__(b"k"),
    "put": lambda db: db.put(b"k", b"v", ttl=1),
    "delete": lambda db: db.delete(b"k"),
    "contains": lambda db: b"k" in db,
    "len": lambda db: len(db),
    "bool": lambda db: bool(db),
    "iter": lambda db: iter(db),
    "items": lambda db: list(db.items()),
    "batch commit": lambda db: db.batch().commit(),
    "snapshot": lambda db: db.snapshot(),
    "flush": lambda db: db.flush(),
    "sync": lambda db: db.sync(),
    "flush_memtable": lambda db: db.flush_memtable(),
    "compact": lambda db: db.compact(),
    "stats": lambda db: db.stats(),
}


@pytest.mark.parametrize("method", sorted(CLOSED_CALLS))
def test_closed_handle_raises_value_error(method: str, path: Path) -> None:
    db = DB(path)
    db.close()
    with pytest.raises(ValueError, match="closed"):
        CLOSED_CALLS[method](db)


def test_iterator_after_close(path: Path) -> None:
    db = DB(path)
    db[b"a"] = b"1"
    db[b"b"] = b"2"
    raw_it = db._raw.iter()
    it = iter(db.keys())
    assert next(it) == b"a"
    db.close()
    with pytest.raises(ValueError, match="closed"):
        next(it)
    with pytest.raises(ValueError, match="closed"):
        raw_it.step()
    raw_it.close()  # closing it afterwards is fine


def test_iterator_closed_by_user_ends_quietly(path: Path) -> None:
    with DB(path) as db:
        db[b"a"] = b"1"
        it = db._raw.iter()
        it.close()
        assert it.step() is None and list(it) == []


def test_iterator_outliving_its_db_object(path: Path) -> None:
    db = DB(path)
    db[b"a"] = b"1"
    db[b"b"] = b"2"
    it = iter(db.values())
    del db  # the iterator keeps the handle alive
    assert list(it) == [b"1", b"2"]


def test_snapshot_after_db_close(path: Path) -> None:
    db = DB(path)
    db[b"a"] = b"1"
    snap = db.snapshot()
    db.close()
    assert snap.closed
    for call in (lambda: snap[b"a"], lambda: snap.get(b"a"), lambda: list(snap.items()), lambda: b"a" in snap):
        with pytest.raises(ValueError, match="closed"):
            call()
    snap.close()


def test_batch_reused_after_commit(path: Path) -> None:
    with DB(path) as db:
        with db.batch() as b:
            b.put(b"a", b"1")
        for call in (lambda: b.put(b"b", b"2"), lambda: b.delete(b"a"), b.commit, b.discard):
            with pytest.raises(ValueError, match="already committed"):
                call()
        with pytest.raises(ValueError, match="already committed"):
            with b:
                pass
        assert list(db) == [b"a"]


def test_batch_reused_after_discard(path: Path) -> None:
    with DB(path) as db:
        b = db.batch()
        b.discard()
        with pytest.raises(ValueError, match="already discarded"):
            b.put(b"a", b"1")


def test_batch_of_a_closed_db(path: Path) -> None:
    db = DB(path)
    b = db.batch()
    b.put(b"a", b"1")
    db.close()
    with pytest.raises(ValueError, match="closed"):
        b.commit()
    assert b.state == "open"


# ---- read-only handles ---------------------------------------------------------------

READONLY_CALLS: Dict[str, Callable[[DB], Any]] = {
    "setitem": lambda db: db.__setitem__(b"k", b"v"),
    "put ttl": lambda db: db.put(b"k", b"v", ttl=5),
    "delete": lambda db: db.delete(b"a"),
    "delitem": lambda db: db.__delitem__(b"a"),
    "batch": lambda db: db.batch().commit(),
    "batch with ops": lambda db: (lambda b: (b.put(b"x", b"y"), b.commit()))(db.batch()),
    "flush": lambda db: db.flush(),
    "sync": lambda db: db.sync(),
    "flush_memtable": lambda db: db.flush_memtable(),
    "compact": lambda db: db.compact(),
    "clear": lambda db: db.clear(),
}


@pytest.mark.parametrize("method", sorted(READONLY_CALLS))
def test_write_on_readonly_handle(method: str, path: Path) -> None:
    with DB(path) as w:
        w[b"a"] = b"1"
    with DB(path, readonly=True) as db:
        with pytest.raises(lsmlog.ReadOnlyError) as e:
            READONLY_CALLS[method](db)
        assert e.value.errno == errno.EROFS
        assert isinstance(e.value, lsmlog.Error) and isinstance(e.value, OSError)
        assert db[b"a"] == b"1"


# ---- codecs ------------------------------------------------------------------------


def test_codec_that_encodes_to_str(path: Path) -> None:
    class Bad:
        def encode(self, obj: Any) -> str:
            return str(obj)

        def decode(self, data: bytes) -> Any:
            return data

    with DB(path, key_codec=Bad()) as db:
        with pytest.raises(TypeError):
            db[1] = b"v"


def test_codec_whose_decode_fails(path: Path) -> None:
    with DB(path) as db:
        db[b"k"] = b"not json"
    with DB(path, value_codec="json") as db:
        with pytest.raises(ValueError):  # json.JSONDecodeError, passed on unchanged
            db[b"k"]
        with pytest.raises(ValueError):
            list(db.values())


def test_utf8_key_codec_refuses_bytes(path: Path) -> None:
    with DB(path, key_codec="utf-8") as db:
        with pytest.raises(TypeError):
            db[b"k"] = b"v"


# ---- pickling, fork, callbacks, threads ----------------------------------------------


def test_pickling_a_db(path: Path) -> None:
    with DB(path) as db:
        with pytest.raises(TypeError, match="pickle"):
            pickle.dumps(db)
        with db.snapshot() as snap:
            with pytest.raises(TypeError):
                pickle.dumps(snap)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_use_in_a_forked_child(path: Path) -> None:
    with DB(path) as db:
        db[b"a"] = b"1"
        it = iter(db.items())
        snap = db.snapshot()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: every use raises lsmlog.Error; close only forgets
            code = 0
            for call in (lambda: db[b"a"], lambda: db.put(b"b", b"2"), lambda: next(it), lambda: snap.get(b"a")):
                try:
                    call()
                    code |= 1
                except lsmlog.Error as e:
                    if "forked child" not in str(e):
                        code |= 2
                except BaseException:
                    code |= 4
            try:
                db.close()
                snap.close()
            except BaseException:
                code |= 8
            os.write(w, bytes([code]))
            os._exit(0)
        os.close(w)
        got = os.read(r, 1)
        os.close(r)
        os.waitpid(pid, 0)
        assert got == b"\x00", got
        assert db[b"a"] == b"1"  # the parent's handle is untouched
        assert next(it) == (b"a", b"1")
        snap.close()


def test_close_from_inside_the_progress_callback_is_refused(path: Path) -> None:
    with DB(path) as db:
        db[b"a"] = b"1"
        seen: Dict[str, BaseException] = {}

        def cb(done: int, total: int) -> None:
            for name, call in (("close", db.close), ("put", lambda: db.put(b"b", b"2")), ("get", lambda: db[b"a"])):
                try:
                    call()
                except RuntimeError as e:
                    seen[name] = e

        db.compact(progress=cb)
        assert set(seen) == {"close", "put", "get"}
        assert "progress callback" in str(seen["close"])
        assert not db.closed and db[b"a"] == b"1"


def test_close_from_another_thread_during_compact(path: Path) -> None:
    with DB(path, memtable_bytes=256 << 10) as db:
        with db.batch() as b:
            for i in range(20000):
                b.put(b"k%06d" % i, b"." * 200)
        started = threading.Event()
        result: Dict[str, BaseException] = {}

        def cb(done: int, total: int) -> None:
            started.set()
            time.sleep(0.05)  # slow enough for the close to land meanwhile

        def run() -> None:
            try:
                db.compact(progress=cb)
            except BaseException as e:
                result["e"] = e

        t = threading.Thread(target=run)
        t.start()
        assert started.wait(30)
        db.close()  # waits for the compaction, which sees the close and stops
        t.join(30)
        assert db.closed
        assert "e" not in result or isinstance(result["e"], ValueError), result
    with DB(path) as db:
        assert len(db) == 20000


def test_raw_iterator_used_by_two_threads_is_refused_not_crashed(path: Path) -> None:
    with DB(path) as db:
        with db.batch() as b:
            for i in range(20000):
                b.put(b"k%06d" % i, b"v")
        it = db._raw.iter()
        errors: Dict[str, int] = {"busy": 0}

        def walk() -> None:
            try:
                for _ in it:
                    pass
            except RuntimeError:
                errors["busy"] += 1
            except ValueError:
                pass

        threads = [threading.Thread(target=walk) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        it.close()


def test_batch_changed_while_another_thread_writes_it(path: Path) -> None:
    with DB(path, durability="sync") as db:
        b = _lsmlog.WriteBatch()
        for i in range(2000):
            b.put(b"k%06d" % i, b"x" * 1000)
        stop = threading.Event()
        refused = {"n": 0}

        def mutate() -> None:
            while not stop.is_set():
                try:
                    b.put(b"more", b"y")
                except RuntimeError:
                    refused["n"] += 1

        t = threading.Thread(target=mutate)
        t.start()
        try:
            for _ in range(20):
                db._raw.write(b)
        finally:
            stop.set()
            t.join()
        assert db[b"k000000"] == b"x" * 1000
