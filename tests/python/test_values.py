"""Values in: the buffer protocol (bytes, bytearray, memoryview, NumPy).
Values out: codecs round-trip."""

from __future__ import annotations

import array
import datetime
from pathlib import Path
from typing import Any, List

import pytest

import lsmlog
from lsmlog import Log


def test_bytes_like_inputs(log: Log) -> None:
    ba = bytearray(b"bytearray")
    log.append(ba)
    log.append(memoryview(b"0123456789")[2:5])
    log.append(array.array("i", [1, 2, 3]))
    log.extend([bytearray(b"a"), memoryview(b"b"), b"c"])
    values = [r.value for r in log]
    assert values == [b"bytearray", b"234", array.array("i", [1, 2, 3]).tobytes(), b"a", b"b", b"c"]
    assert all(type(v) is bytes for v in values)
    ba[:] = b"changed!!"  # the stored copy does not follow
    assert log[0].value == b"bytearray"


def test_strided_memoryview_is_copied_contiguous(log: Log) -> None:
    mv = memoryview(b"abcdefgh")[::2]
    log.append(mv)
    log.extend([mv, memoryview(b"xyz")[::-1]])
    assert [r.value for r in log] == [b"aceg", b"aceg", b"zyx"]


def test_numpy_arrays(log: Log) -> None:
    np = pytest.importorskip("numpy")
    a = np.arange(1000, dtype=np.float64)
    off = log.append(a)
    assert np.array_equal(np.frombuffer(log[off].value, dtype=np.float64), a)
    m = np.arange(12, dtype=np.int32).reshape(3, 4)
    log.append(m)
    assert log[1].value == m.tobytes()
    strided = m[:, ::2]  # not contiguous: copied
    log.append(strided)
    assert log[2].value == np.ascontiguousarray(strided).tobytes()
    first = log.extend(list(np.arange(6, dtype=np.uint8).reshape(3, 2)))  # rows
    assert [r.value for r in log.read(first)] == [b"\x00\x01", b"\x02\x03", b"\x04\x05"]
    log.append(np.array([], dtype=np.uint8))
    assert log[-1].value == b""


class Reversing:
    """A custom codec: any object with encode/decode."""

    def encode(self, obj: Any) -> bytes:
        return str(obj)[::-1].encode()

    def decode(self, data: bytes) -> str:
        return data.decode()[::-1]


CASES: List[Any] = [
    (None, [b"", b"raw", bytes(range(256))]),
    ("utf-8", ["", "héllo", "日本語", "emoji 🎉"]),
    ("json", [{"a": 1, "b": [1, 2, {"c": None}]}, [1, "x"], "s", 3.5, True, None, {"ünï": "çødé"}]),
    ("pickle", [{1, 2}, (1, "a"), datetime.date(2024, 1, 2), {"nested": [b"bytes", 1.5]}, None]),
    (Reversing(), ["abc", "x", ""]),
]


@pytest.mark.parametrize("codec, values", CASES, ids=["none", "utf-8", "json", "pickle", "custom"])
def test_codec_round_trip(codec: Any, values: List[Any], path: Path) -> None:
    with Log(path, codec=codec) as log:
        for v in values:
            log.append(v)
        log.extend(values)
        n = len(values)
        assert [r.value for r in log.read(0, n)] == values
        assert [r.value for r in log.read(n)] == values
        assert log[0].value == values[0]
        assert [r.value for r in log[-n:]] == values
        assert [r.value for r in log.tail(start=0, timeout=0)] == values + values
    with Log(path, codec=codec, readonly=True) as again:
        assert [r.value for r in again][:n] == values


def test_codec_names_and_objects(path: Path) -> None:
    with Log(path, codec="utf8") as log:
        assert isinstance(log.codec, lsmlog.codecs.Utf8Codec)
        log.append("x")
    with Log(path) as raw:
        assert raw.codec is None and raw[0].value == b"x"
    c = Reversing()
    with Log(path, codec=c) as log:
        assert log.codec is c
        assert isinstance(c, lsmlog.Codec)  # the runtime-checkable protocol


def test_json_is_compact_utf8(path: Path) -> None:
    with Log(path, codec="json") as log:
        log.append({"k": "é", "n": [1, 2]})
    with Log(path) as raw:
        assert raw[0].value == '{"k":"é","n":[1,2]}'.encode()
