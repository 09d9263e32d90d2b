"""A usage sample of lsmlog's Log and DB, checked with ``mypy --strict`` by
test_typing.py: the package's annotations, stubs and py.typed must let a
strictly typed program use the whole API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Dict, List, Optional

import lsmlog
from lsmlog import DB, Log, Record, Snapshot, WriteBatch


class Upper:
    def encode(self, obj: Any) -> bytes:
        return str(obj).upper().encode()

    def decode(self, data: bytes) -> str:
        return data.decode()


def write_and_read(path: Path) -> List[Record]:
    with Log(path, durability="os", codec=None, segment_bytes=1 << 20, segment_ms=None) as log:
        off: int = log.append(b"hello")
        off = log.append(bytearray(b"x"), timestamp=1700000000000)
        first: int = log.extend([b"a", b"b", memoryview(b"c")])
        log.flush()
        log.sync()
        bounds: tuple[int, int, int] = (log.start, log.end, len(log))
        rec: Record = log[off]
        last: Record = log[-1]
        some: List[Record] = log[first : first + 2]
        ts: int = rec.timestamp
        value: Any = rec.value
        found: Optional[int] = log.offset_for_time(ts)
        in_time = [r for r in log.read(since=ts, until=ts + 1)]
        log.truncate_before(0)
        dropped: int = log.retain(max_bytes=1 << 30, max_age_ms=None)
        checked: int = log.verify()
        stats: lsmlog.LogStats = log.stats()
        recovery: lsmlog.Recovery = log.recovery
        text: str = repr(log) + log._repr_html_() + recovery.message
        print(bounds, last, some, value, found, in_time, dropped, checked, stats, text)
        partial = log.read()
        head: Optional[Record] = next(partial, None)
        partial.close()
        print(head)
        return list(log.read(start=0, stop=None)) + list(log.tail(start=0, timeout=0.0))


def codecs(path: Path) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    with Log(path / "json", codec="json") as log:
        log.append({"k": [1, 2]})
        out["json"] = log[0].value
        df = log.to_pandas(since=None, until=None)
        out["frame"] = df.shape
    with Log(path / "custom", codec=Upper(), readonly=False) as log:
        log.append("abc")
        out["custom"] = log[0].value
    return out


async def follow(path: Path) -> List[int]:
    offsets: List[int] = []
    with Log(path, readonly=True) as log:
        async for rec in log.atail(start=0, timeout=0.1):
            offsets.append(rec.offset)
    return offsets


def key_value(path: Path) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    with DB(path / "kv", durability="os", memtable_bytes=1 << 20, cache_bytes=8 << 20, bloom_bits=10) as db:
        db[b"k"] = b"v"
        db.put(b"t", bytearray(b"v"), ttl=60)
        db.put(memoryview(b"t2"), b"v", ttl=0.5)
        out["k"] = db[b"k"]
        out["get"] = db.get(b"k", default=None)
        present: bool = b"k" in db
        del db[b"k"]
        db.delete(b"k")
        batch: WriteBatch
        with db.batch() as batch:
            batch.put(b"a", b"1")
            batch.put(b"e", b"2", ttl=5)
            batch.delete(b"b")
        state: str = batch.state
        pairs = [(k, v) for k, v in db.items(start=b"a", stop=b"m", prefix=None, reverse=False)]
        keys: List[Any] = list(db.keys(start=b"a"))
        values: List[Any] = list(db.values(prefix=b"a", reverse=True))
        snap: Snapshot
        with db.snapshot() as snap:
            out["snap"] = (snap.get(b"a"), list(snap.items()), snap[b"a"], b"a" in snap, len(snap))
        db.compact(progress=False)
        db.compact(b"a", b"z", progress=lambda done, total: None)
        db.flush()
        db.sync()
        db.flush_memtable()
        stats: Dict[str, Any] = db.stats()
        n: int = len(db)
        rec: lsmlog.Recovery = db.recovery
        text: str = repr(db) + db._repr_html_() + rec.message
        closed: bool = db.closed
        print(present, state, pairs, keys, values, stats["write_amplification"], n, text, closed)
    with DB(path / "codecs", key_codec="utf-8", value_codec="json", readonly=False) as cdb:
        cdb["user:ann"] = {"age": 31}
        out["codecs"] = dict(cdb.items(prefix="user:"))
    return out


def errors(path: Path) -> str:
    try:
        Log(path, create=False)
    except lsmlog.LockedError as e:
        return f"locked {e.code}"
    except lsmlog.CorruptionError as e:
        return f"corrupt {e.errno}"
    except lsmlog.ReadOnlyError:
        return "read-only"
    except lsmlog.Error as e:
        return f"error {e.code} {e.errno} {e.strerror}"
    return "opened"


def main(base: Path) -> None:
    write_and_read(base / "a")
    codecs(base)
    print(asyncio.run(follow(base / "a")))
    print(key_value(base))
    print(errors(base / "missing"), lsmlog.__version__)


if __name__ == "__main__":
    import sys

    main(Path(sys.argv[1]))
