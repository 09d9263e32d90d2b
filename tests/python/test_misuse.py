"""Misuse: every case raises its documented exception and never crashes the
interpreter (the suite also runs under AddressSanitizer)."""

from __future__ import annotations

import errno
import os
import pickle
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Tuple, Type

import pytest

import lsmlog
from lsmlog import Log, _lsmlog

from conftest import run_child

# ---- opening: bad paths and options ----------------------------------------

BAD_OPEN: Dict[str, Tuple[Dict[str, Any], Type[BaseException]]] = {
    "durability unknown": ({"durability": "fast"}, ValueError),
    "durability not str": ({"durability": 1}, TypeError),
    "durability wrong case": ({"durability": "OS"}, ValueError),
    "create not bool": ({"create": "yes"}, TypeError),
    "readonly int": ({"readonly": 1}, TypeError),
    "repair None": ({"repair": None}, TypeError),
    "segment_bytes too small": ({"segment_bytes": 100}, ValueError),
    "segment_bytes too large": ({"segment_bytes": 2**31}, ValueError),
    "segment_bytes negative": ({"segment_bytes": -4096}, ValueError),
    "segment_bytes str": ({"segment_bytes": "1M"}, TypeError),
    "segment_bytes float": ({"segment_bytes": 4096.0}, TypeError),
    "segment_bytes bool": ({"segment_bytes": True}, TypeError),
    "segment_ms negative": ({"segment_ms": -1}, ValueError),
    "segment_ms float": ({"segment_ms": 1.5}, TypeError),
    "segment_ms huge": ({"segment_ms": 2**70}, ValueError),
    "repair and readonly": ({"repair": True, "readonly": True}, ValueError),
    "codec unknown name": ({"codec": "xml"}, ValueError),
    "codec object without methods": ({"codec": object()}, TypeError),
    "codec int": ({"codec": 42}, TypeError),
    "unknown option": ({"segment_size": 4096}, TypeError),
    "DB option on a Log": ({"memtable_bytes": 1 << 20}, TypeError),
}


@pytest.mark.parametrize("case", sorted(BAD_OPEN))
def test_bad_option(case: str, path: Path) -> None:
    kwargs, exc = BAD_OPEN[case]
    with pytest.raises(exc):
        Log(path, **kwargs)
    assert not path.exists()  # refused before anything was made


@pytest.mark.parametrize(
    "bad, exc",
    [(123, TypeError), (None, TypeError), ("", ValueError), ("a\0b", ValueError), (b"", ValueError)],
    ids=["int", "None", "empty", "NUL byte", "empty bytes"],
)
def test_bad_path(bad: Any, exc: Type[BaseException]) -> None:
    with pytest.raises(exc):
        Log(bad)


def test_options_are_keyword_only(path: Path) -> None:
    with pytest.raises(TypeError):
        Log(path, "os")  # type: ignore[misc]


def test_missing_directory_with_create_off(path: Path) -> None:
    with pytest.raises(lsmlog.Error) as e:
        Log(path, create=False)
    assert e.value.errno == errno.ENOENT and str(path) in str(e.value)
    assert isinstance(e.value, OSError)
    assert e.value.code == -1011


def test_missing_directory_readonly(path: Path) -> None:
    with pytest.raises(lsmlog.Error) as e:
        Log(path, readonly=True)
    assert e.value.errno == errno.ENOENT


def test_path_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_bytes(b"not a log")
    with pytest.raises(lsmlog.Error) as e:
        Log(f)
    assert str(f) in str(e.value)


def test_second_writer_in_this_process(path: Path) -> None:
    with Log(path):
        with pytest.raises(lsmlog.LockedError) as e:
            Log(path)
        assert isinstance(e.value, lsmlog.Error)
        with Log(path, readonly=True):  # readers are fine
            pass


def test_second_writer_in_another_process(path: Path) -> None:
    with Log(path):
        r = run_child(
            """
            import sys, lsmlog
            try:
                lsmlog.Log(sys.argv[1])
            except lsmlog.LockedError as e:
                print("locked:", e)
            """,
            str(path),
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("locked:")
    r = run_child("import sys, lsmlog; lsmlog.Log(sys.argv[1]).close(); print('ok')", str(path))
    assert r.stdout.strip() == "ok", r.stderr  # the lock went with close()


# ---- writing ----------------------------------------------------------------

BAD_WRITES: Dict[str, Tuple[Callable[[Log], Any], Type[BaseException]]] = {
    "append str without codec": (lambda lg: lg.append("text"), TypeError),
    "append int": (lambda lg: lg.append(123), TypeError),
    "append None": (lambda lg: lg.append(None), TypeError),
    "append list": (lambda lg: lg.append([1, 2]), TypeError),
    "timestamp float": (lambda lg: lg.append(b"x", timestamp=1.5), TypeError),
    "timestamp str": (lambda lg: lg.append(b"x", timestamp="now"), TypeError),
    "timestamp bool": (lambda lg: lg.append(b"x", timestamp=True), TypeError),
    "timestamp too large": (lambda lg: lg.append(b"x", timestamp=2**63), ValueError),
    "timestamp reserved min": (lambda lg: lg.append(b"x", timestamp=-(2**63)), ValueError),
    "extend empty": (lambda lg: lg.extend([]), ValueError),
    "extend bytes": (lambda lg: lg.extend(b"abc"), TypeError),
    "extend str": (lambda lg: lg.extend("abc"), TypeError),
    "extend int": (lambda lg: lg.extend(5), TypeError),
    "extend mixed types": (lambda lg: lg.extend([b"a", 1]), TypeError),
    "extend with str item": (lambda lg: lg.extend([b"a", "s"]), TypeError),
    "extend timestamp float": (lambda lg: lg.extend([b"a"], timestamp=0.5), TypeError),
    "truncate_before negative": (lambda lg: lg.truncate_before(-1), ValueError),
    "truncate_before huge": (lambda lg: lg.truncate_before(2**64), ValueError),
    "truncate_before str": (lambda lg: lg.truncate_before("1"), TypeError),
    "retain negative bytes": (lambda lg: lg.retain(max_bytes=-1), ValueError),
    "retain zero bytes": (lambda lg: lg.retain(max_bytes=0), ValueError),
    "retain age str": (lambda lg: lg.retain(max_age_ms="1d"), TypeError),
    "retain age negative": (lambda lg: lg.retain(max_age_ms=-5), ValueError),
}


@pytest.mark.parametrize("case", sorted(BAD_WRITES))
def test_bad_write(case: str, log: Log) -> None:
    call, exc = BAD_WRITES[case]
    log.append(b"before")
    with pytest.raises(exc):
        call(log)
    assert log.end == 1 and log[0].value == b"before"  # nothing half-written
    assert log.append(b"after") == 1  # and the handle goes on


def test_extend_failure_names_the_item(log: Log) -> None:
    with pytest.raises(TypeError, match="value 2"):
        log.extend([b"a", b"b", 3.0])


def test_value_larger_than_a_segment(path: Path) -> None:
    with Log(path, segment_bytes=4096) as log:
        with pytest.raises(ValueError, match="segment"):
            log.append(b"x" * 5000)
        with pytest.raises(ValueError):
            log.extend([b"x" * 1500] * 3)  # each fits, the batch does not
        assert log.end == 0
        log.append(b"x" * 1000)


# ---- reading ----------------------------------------------------------------

BAD_READS: Dict[str, Tuple[Callable[[Log], Any], Type[BaseException]]] = {
    "index str": (lambda lg: lg["a"], TypeError),
    "index float": (lambda lg: lg[1.0], TypeError),
    "index None": (lambda lg: lg[None], TypeError),
    "index past end": (lambda lg: lg[3], IndexError),
    "index huge": (lambda lg: lg[10**30], IndexError),
    "index very negative": (lambda lg: lg[-(10**30)], IndexError),
    "index below end by too much": (lambda lg: lg[-4], IndexError),
    "slice with step": (lambda lg: lg[::2], ValueError),
    "slice with str bound": (lambda lg: lg["a":], TypeError),
    "read start negative": (lambda lg: lg.read(start=-1), ValueError),
    "read start huge": (lambda lg: lg.read(start=2**64), ValueError),
    "read start str": (lambda lg: lg.read(start="0"), TypeError),
    "read stop negative": (lambda lg: lg.read(0, -5), ValueError),
    "read since str": (lambda lg: lg.read(since="yesterday"), TypeError),
    "read until huge": (lambda lg: lg.read(until=2**70), ValueError),
    "read since float": (lambda lg: lg.read(since=1.5), TypeError),
    "tail timeout negative": (lambda lg: lg.tail(timeout=-1), ValueError),
    "tail timeout str": (lambda lg: lg.tail(timeout="5"), TypeError),
    "tail timeout nan": (lambda lg: lg.tail(timeout=float("nan")), ValueError),
    "tail start negative": (lambda lg: lg.tail(start=-1), ValueError),
    "atail timeout negative": (lambda lg: lg.atail(timeout=-0.5), ValueError),
    "offset_for_time str": (lambda lg: lg.offset_for_time("x"), TypeError),
    "offset_for_time huge": (lambda lg: lg.offset_for_time(2**64), ValueError),
    "to_pandas progress not bool": (lambda lg: lg.to_pandas(progress="yes"), TypeError),
}


@pytest.mark.parametrize("case", sorted(BAD_READS))
def test_bad_read(case: str, log: Log) -> None:
    log.extend([b"a", b"b", b"c"])
    call, exc = BAD_READS[case]
    with pytest.raises(exc):
        call(log)
    assert [r.value for r in log] == [b"a", b"b", b"c"]


# ---- closed handles -------------------------------------------------------------

ON_CLOSED: Dict[str, Callable[[Log], Any]] = {
    "append": lambda lg: lg.append(b"x"),
    "extend": lambda lg: lg.extend([b"x"]),
    "flush": lambda lg: lg.flush(),
    "sync": lambda lg: lg.sync(),
    "getitem": lambda lg: lg[0],
    "slice": lambda lg: lg[0:1],
    "len": lambda lg: len(lg),
    "start": lambda lg: lg.start,
    "end": lambda lg: lg.end,
    "read": lambda lg: lg.read(),
    "iter": lambda lg: iter(lg),
    "tail": lambda lg: lg.tail(timeout=0),
    "atail": lambda lg: lg.atail(timeout=0),
    "offset_for_time": lambda lg: lg.offset_for_time(0),
    "truncate_before": lambda lg: lg.truncate_before(0),
    "retain": lambda lg: lg.retain(max_bytes=1),
    "verify": lambda lg: lg.verify(),
    "stats": lambda lg: lg.stats(),
    "to_pandas": lambda lg: lg.to_pandas(),
}


@pytest.mark.parametrize("method", sorted(ON_CLOSED))
def test_closed_handle_raises_value_error(method: str, path: Path) -> None:
    log = Log(path)
    log.append(b"x")
    log.close()
    with pytest.raises(ValueError, match="closed"):
        ON_CLOSED[method](log)
    assert "closed" in repr(log)


def test_iterator_after_close(log: Log) -> None:
    log.extend([b"a", b"b", b"c"])
    it = log.read()
    assert next(it).value == b"a"
    log.close()  # closes the C iterator first (the core would refuse otherwise)
    with pytest.raises(ValueError, match="closed"):
        next(it)


def test_raw_iterator_after_close(path: Path) -> None:
    log = Log(path)
    log.extend([b"a", b"b"])
    raw = log._raw.iter()
    assert raw.step() is not None
    log.close()
    with pytest.raises(ValueError):
        raw.step()
    with pytest.raises(ValueError):
        next(raw)
    raw.close()  # a no-op now
    del raw


def test_raw_iterator_closed_by_user_ends_quietly(log: Log) -> None:
    log.extend([b"a", b"b"])
    raw = log._raw.iter()
    raw.close()
    assert raw.step() is None
    assert list(raw) == []


def test_tail_after_close(log: Log) -> None:
    log.append(b"a")
    t = log.tail(start=0, timeout=5)
    assert next(t).value == b"a"
    log.close()
    with pytest.raises(ValueError):
        next(t)


def test_iterator_outliving_its_log_object(path: Path) -> None:
    # The iterator keeps the C handle alive; dropping the Log first is safe.
    log = Log(path)
    log.extend([b"a", b"b"])
    it = log.read()
    raw = log._raw
    del log
    assert [r.value for r in it] == [b"a", b"b"]
    raw.close()


def test_cannot_make_an_iterator_directly() -> None:
    with pytest.raises(TypeError):
        _lsmlog.LogIter()


# ---- read-only handles ----------------------------------------------------------

ON_READONLY: Dict[str, Callable[[Log], Any]] = {
    "append": lambda lg: lg.append(b"x"),
    "extend": lambda lg: lg.extend([b"x"]),
    "truncate_before": lambda lg: lg.truncate_before(1),
    "retain": lambda lg: lg.retain(max_bytes=1),
    "sync": lambda lg: lg.sync(),
    "flush": lambda lg: lg.flush(),
}


@pytest.mark.parametrize("method", sorted(ON_READONLY))
def test_write_on_readonly_handle(method: str, path: Path) -> None:
    with Log(path) as w:
        w.append(b"a")
    with Log(path, readonly=True) as ro:
        with pytest.raises(lsmlog.ReadOnlyError) as e:
            ON_READONLY[method](ro)
        assert isinstance(e.value, lsmlog.Error) and e.value.errno == errno.EROFS
        assert ro[0].value == b"a"


# ---- codecs -----------------------------------------------------------------------


class EncodesToStr:
    def encode(self, obj: Any) -> Any:
        return str(obj)

    def decode(self, data: bytes) -> Any:
        return data


class BrokenDecode:
    def encode(self, obj: Any) -> bytes:
        return bytes(obj)

    def decode(self, data: bytes) -> Any:
        raise RuntimeError("cannot decode")


class OnlyEncode:
    def encode(self, obj: Any) -> bytes:
        return bytes(obj)


def test_codec_that_encodes_to_str(path: Path) -> None:
    with Log(path, codec=EncodesToStr()) as log:
        with pytest.raises(TypeError):
            log.append(5)
        assert log.end == 0


def test_codec_whose_decode_fails(path: Path) -> None:
    with Log(path, codec=BrokenDecode()) as log:
        log.append(b"abc")
        with pytest.raises(RuntimeError, match="cannot decode"):
            log[0]
        with pytest.raises(RuntimeError):
            list(log.read())
        assert log._raw.get(0) is not None  # the log itself is fine


def test_codec_without_decode(path: Path) -> None:
    with pytest.raises(TypeError):
        Log(path, codec=OnlyEncode())


def test_utf8_codec_refuses_bytes(path: Path) -> None:
    with Log(path, codec="utf-8") as log:
        with pytest.raises(TypeError):
            log.append(b"bytes")


def test_json_codec_refuses_unserializable(path: Path) -> None:
    with Log(path, codec="json") as log:
        with pytest.raises(TypeError):
            log.append({"x": object()})
        with pytest.raises(TypeError):
            log.extend([{"ok": 1}, {1, 2}])
        assert log.end == 0  # the batch was refused whole


def test_utf8_codec_on_invalid_utf8_data(path: Path) -> None:
    with Log(path) as log:
        log.append(b"\xff\xfe")
    with Log(path, codec="utf-8") as log:
        with pytest.raises(UnicodeDecodeError):
            log[0]


# ---- other ------------------------------------------------------------------------


def test_pickling_a_log(log: Log) -> None:
    with pytest.raises(TypeError, match="pickle"):
        pickle.dumps(log)


def test_use_in_a_forked_child(path: Path) -> None:
    log = Log(path, durability="buffered")
    log.append(b"pending")  # buffered in the parent: a child must not write it again
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what happened, never return into pytest
        os.close(r)
        code = 0
        try:
            try:
                log.append(b"child")
                code |= 1
            except lsmlog.Error as e:
                if "forked child" not in str(e):
                    code |= 2
            try:
                log[0]
                code |= 4
            except lsmlog.Error:
                pass
            log.close()  # forgets the parent's handle, flushes nothing
        except BaseException:
            code |= 8
        os.write(w, bytes([code]))
        os._exit(0)
    os.close(w)
    got = os.read(r, 1)
    os.close(r)
    os.waitpid(pid, 0)
    assert got == b"\0", f"child failed: {got!r}"
    log.append(b"parent")
    log.close()
    with Log(path) as again:
        assert [x.value for x in again] == [b"pending", b"parent"]


def test_raw_iterator_used_by_two_threads_is_refused_not_crashed(path: Path) -> None:
    # Two threads stepping one iterator: one of them may get RuntimeError or
    # ValueError ("generator already executing"), but nothing breaks.
    with Log(path) as log:
        log.extend([b"x"] * 2000)
        it = log.read()
        errors: list[BaseException] = []

        def drain() -> None:
            try:
                for _ in it:
                    pass
            except (RuntimeError, ValueError) as e:
                errors.append(e)

        threads = [threading.Thread(target=drain) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        it.close()
