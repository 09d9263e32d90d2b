"""lsmlog.DB: the Python face of the C DB, an LSM key-value store (see
docs/python.md).

Everything here is plain Python above the thin extension ``lsmlog._lsmlog``:
argument checking with clear messages, key and value codecs, the mapping
protocol, range views, batches, snapshots, the compaction progress bar and
the notebook representation.
"""

from __future__ import annotations

import math
from collections.abc import ItemsView, KeysView, Mapping, MutableMapping, ValuesView
from typing import (
    Any,
    Callable,
    Dict,
    Generator,
    Iterator,
    List,
    NoReturn,
    Optional,
    Tuple,
    Union,
)

from . import _lsmlog, _show
from ._log import PathArg, Recovery, _as_int, _open_options
from ._progress import bytes_bar
from .codecs import Codec, CodecArg, resolve

__all__ = ["DB", "Snapshot", "WriteBatch"]

_DEFAULT_MEMTABLE_BYTES = 4 << 20
_MIN_MEMTABLE_BYTES = 4096
_MAX_MEMTABLE_BYTES = 1 << 32
_DEFAULT_CACHE_BYTES = 8 << 20
_MAX_CACHE_BYTES = 1 << 40
_DEFAULT_BLOOM_BITS = 10
_MAX_BLOOM_BITS = 64
_MAX_TTL_MS = (1 << 63) - 1
_CLEAR_CHUNK = 1000  # clear(): keys deleted per batch

# the modes of _lsmlog.DB.iter
_ITEMS, _KEYS, _VALUES = 0, 1, 2

ProgressArg = Union[bool, None, Callable[[int, int], object]]


# ---- argument checks ------------------------------------------------------


def _bounded(name: str, value: object, lo: int, hi: int, what: str) -> int:
    v = _as_int(name, value)
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}] ({what}), not {v}")
    return v


def _ttl_ms(ttl: object) -> Optional[int]:
    """A TTL in seconds (int or float, > 0) as whole milliseconds, rounded up
    so that a tiny TTL is never 0 (which would mean no TTL); None: none."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise TypeError(f"ttl must be a number of seconds or None, not {type(ttl).__name__}")
    if not ttl > 0:  # also catches NaN
        raise ValueError(f"ttl must be > 0 seconds (or None: no expiry), not {ttl!r}")
    if math.isinf(ttl) or ttl * 1000 > _MAX_TTL_MS:
        raise ValueError(f"ttl is too large: {ttl!r} seconds (use None for no expiry)")
    return max(1, math.ceil(ttl * 1000))


def _encoder(codec: Optional[Codec], what: str) -> Callable[[Any], Any]:
    """How keys (or values) become bytes: the codec's encode, or a check
    that turns the classic mistake (a str without a codec) into a clear
    TypeError. Anything else without the buffer protocol is refused by the
    extension."""
    if codec is not None:
        return codec.encode

    def raw(obj: Any) -> Any:
        if isinstance(obj, str):
            raise TypeError(
                f"a bytes-like {what} is required, not str: encode it, or open the DB with "
                f"{what}_codec='utf-8'"
            )
        return obj

    return raw


# ---- reading: what a DB and a Snapshot share ---------------------------------


class _Reader(Mapping[Any, Any]):
    """The read methods of a DB and of a Snapshot (``_snap`` None: the
    latest state)."""

    _raw: Any  # the _lsmlog.DB
    _snap: Any  # an _lsmlog.Snapshot, or None
    _key_codec: Optional[Codec]
    _value_codec: Optional[Codec]
    _ek: Callable[[Any], Any]
    _ev: Callable[[Any], Any]
    _plain: bool  # no codecs: a bytes key goes to the extension as it is

    def _setup_codecs(self, key_codec: Optional[Codec], value_codec: Optional[Codec]) -> None:
        self._key_codec = key_codec
        self._value_codec = value_codec
        self._ek = _encoder(key_codec, "key")
        self._ev = _encoder(value_codec, "value")
        self._plain = key_codec is None and value_codec is None

    @property
    def key_codec(self) -> Optional[Codec]:
        """The key codec object (None: keys are bytes)."""
        return self._key_codec

    @property
    def value_codec(self) -> Optional[Codec]:
        """The value codec object (None: values are bytes)."""
        return self._value_codec

    def _decode_value(self, data: bytes) -> Any:
        return data if self._value_codec is None else self._value_codec.decode(data)

    def get(self, key: Any, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when it is absent (or expired)."""
        if self._plain and type(key) is bytes:  # the common case, without a call per step
            data = self._raw.get(key, self._snap)
            return default if data is None else data
        data = self._raw.get(self._ek(key), self._snap)
        return default if data is None else self._decode_value(data)

    def __getitem__(self, key: Any) -> Any:
        if self._plain and type(key) is bytes:
            data = self._raw.get(key, self._snap)
            if data is None:
                raise KeyError(key)
            return data
        data = self._raw.get(self._ek(key), self._snap)
        if data is None:
            raise KeyError(key)
        return self._decode_value(data)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is present: a point lookup (bloom filters first)."""
        return bool(self._raw.contains(self._ek(key), self._snap))

    def __iter__(self) -> Iterator[Any]:
        """The keys in order (bytewise order of the encoded keys)."""
        return iter(self.keys())

    def __reversed__(self) -> Iterator[Any]:
        return iter(self.keys(reverse=True))

    def __len__(self) -> int:
        """The number of live keys. An LSM tree does not know it: this counts
        them with a scan of every key (O(n) reads). Prefer ``bool()``, which
        looks at one key."""
        return self.keys().count()

    def __bool__(self) -> bool:
        """True when there is at least one live key (one step of an iterator,
        not a count)."""
        it = self._raw.iter(snapshot=self._snap, mode=_KEYS)
        try:
            return it.step() is not None
        finally:
            it.close()

    def keys(
        self, start: Any = None, stop: Any = None, *, prefix: Any = None, reverse: bool = False
    ) -> "DBKeysView":
        """The keys in ``[start, stop)`` that begin with ``prefix``, in order
        (``reverse=True``: descending). A view: each iteration reads the DB
        as it is when the iteration starts."""
        return DBKeysView(self, _Range(self, start, stop, prefix, reverse))

    def items(
        self, start: Any = None, stop: Any = None, *, prefix: Any = None, reverse: bool = False
    ) -> "DBItemsView":
        """``(key, value)`` pairs; the same arguments as ``keys``."""
        return DBItemsView(self, _Range(self, start, stop, prefix, reverse))

    def values(
        self, start: Any = None, stop: Any = None, *, prefix: Any = None, reverse: bool = False
    ) -> "DBValuesView":
        """The values; the same arguments as ``keys``."""
        return DBValuesView(self, _Range(self, start, stop, prefix, reverse))

    def _scan(self, rng: "_Range", mode: int) -> Iterator[Any]:
        # the iterator is opened now, not at the generator's first step: it
        # sees the DB as of this call
        it: Iterator[Any] = self._raw.iter(
            start=rng.start,
            stop=rng.stop,
            prefix=rng.prefix,
            reverse=rng.reverse,
            snapshot=self._snap,
            mode=mode,
            once=True,
        )
        kc, vc = self._key_codec, self._value_codec
        if (kc is None or mode == _VALUES) and (vc is None or mode == _KEYS):
            return it  # nothing to decode: the C iterator itself, no Python code per item
        return _decoded(it, mode, kc, vc)


def _decoded(it: Any, mode: int, kc: Optional[Codec], vc: Optional[Codec]) -> Generator[Any, None, None]:
    try:
        if mode == _KEYS:
            if kc is None:
                yield from it
            else:
                for k in it:
                    yield kc.decode(k)
        elif mode == _VALUES:
            if vc is None:
                yield from it
            else:
                for v in it:
                    yield vc.decode(v)
        else:
            for k, v in it:
                yield (k if kc is None else kc.decode(k)), (v if vc is None else vc.decode(v))
    finally:
        it.close()


class _Range:
    """The range of a view: bounds encoded with the key codec, checked at once."""

    def __init__(self, reader: _Reader, start: Any, stop: Any, prefix: Any, reverse: bool) -> None:
        if not isinstance(reverse, bool):
            raise TypeError(f"reverse must be True or False, not {type(reverse).__name__}")
        self.args = (start, stop, prefix)
        self.start = None if start is None else reader._ek(start)
        self.stop = None if stop is None else reader._ek(stop)
        self.prefix = None if prefix is None else reader._ek(prefix)
        self.reverse = reverse

    def holds(self, encoded: bytes) -> bool:
        if self.start is not None and encoded < bytes(self.start):
            return False
        if self.stop is not None and encoded >= bytes(self.stop):
            return False
        return self.prefix is None or encoded.startswith(bytes(self.prefix))

    def __repr__(self) -> str:
        start, stop, prefix = self.args
        parts = [f"start={start!r}", f"stop={stop!r}"]
        if prefix is not None:
            parts.append(f"prefix={prefix!r}")
        if self.reverse:
            parts.append("reverse=True")
        return ", ".join(parts)


class DBKeysView(KeysView[Any]):
    """``db.keys(...)``: a range of keys; iterate it (again and again), count
    it (``len``: a scan), test membership (a point lookup)."""

    _mapping: _Reader

    def __init__(self, reader: _Reader, rng: _Range) -> None:
        super().__init__(reader)
        self._rng = rng

    def __iter__(self) -> Iterator[Any]:
        return self._mapping._scan(self._rng, _KEYS)

    def __reversed__(self) -> Iterator[Any]:
        r = self._rng
        flipped = _Range(self._mapping, *r.args, not r.reverse)
        return self._mapping._scan(flipped, _KEYS)

    def count(self) -> int:
        """The number of keys in the range: a scan of their keys."""
        it = self._mapping._raw.iter(
            start=self._rng.start, stop=self._rng.stop, prefix=self._rng.prefix, snapshot=self._mapping._snap, mode=_KEYS
        )
        try:
            return sum(1 for _ in it)
        finally:
            it.close()

    def __len__(self) -> int:
        return self.count()

    def __contains__(self, key: object) -> bool:
        return self._rng.holds(bytes(self._mapping._ek(key))) and key in self._mapping

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._rng!r})"


class DBItemsView(ItemsView[Any, Any]):
    """``db.items(...)``: ``(key, value)`` pairs of a range."""

    _mapping: _Reader

    def __init__(self, reader: _Reader, rng: _Range) -> None:
        super().__init__(reader)
        self._rng = rng

    def __iter__(self) -> Iterator[Tuple[Any, Any]]:
        return self._mapping._scan(self._rng, _ITEMS)

    def __reversed__(self) -> Iterator[Tuple[Any, Any]]:
        r = self._rng
        return self._mapping._scan(_Range(self._mapping, *r.args, not r.reverse), _ITEMS)

    def __len__(self) -> int:
        return DBKeysView(self._mapping, self._rng).count()

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, tuple) or len(item) != 2:
            return False
        key, value = item
        if not self._rng.holds(bytes(self._mapping._ek(key))):
            return False
        sentinel = object()
        got = self._mapping.get(key, sentinel)
        return got is not sentinel and bool(got == value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._rng!r})"


class DBValuesView(ValuesView[Any]):
    """``db.values(...)``: the values of a range."""

    _mapping: _Reader

    def __init__(self, reader: _Reader, rng: _Range) -> None:
        super().__init__(reader)
        self._rng = rng

    def __iter__(self) -> Iterator[Any]:
        return self._mapping._scan(self._rng, _VALUES)

    def __reversed__(self) -> Iterator[Any]:
        r = self._rng
        return self._mapping._scan(_Range(self._mapping, *r.args, not r.reverse), _VALUES)

    def __len__(self) -> int:
        return DBKeysView(self._mapping, self._rng).count()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._rng!r})"


# ---- the DB ---------------------------------------------------------------


class DB(_Reader, MutableMapping[Any, Any]):
    """An LSM key-value store in a directory (RocksDB / LevelDB style): a
    write-ahead log, a memtable, sorted tables in levels, compaction in the
    background. A ``collections.abc.MutableMapping`` of keys to values.
    See docs/python.md for the whole interface and its choices.

    >>> with DB("data/kv") as db:
    ...     db[b"k"] = b"v"
    ...     db[b"k"]
    b'v'
    """

    def __init__(
        self,
        path: PathArg,
        *,
        durability: str = "os",
        create: bool = True,
        readonly: bool = False,
        repair: bool = False,
        memtable_bytes: int = _DEFAULT_MEMTABLE_BYTES,
        cache_bytes: int = _DEFAULT_CACHE_BYTES,
        bloom_bits: int = _DEFAULT_BLOOM_BITS,
        key_codec: CodecArg = None,
        value_codec: CodecArg = None,
    ) -> None:
        fspath, create, readonly, repair = _open_options(path, durability, create, readonly, repair)
        mem = _bounded("memtable_bytes", memtable_bytes, _MIN_MEMTABLE_BYTES, _MAX_MEMTABLE_BYTES, "4 KiB .. 4 GiB")
        cache = _bounded("cache_bytes", cache_bytes, 0, _MAX_CACHE_BYTES, "0 .. 1 TiB")
        bloom = _bounded("bloom_bits", bloom_bits, 0, _MAX_BLOOM_BITS, "bits per key, 0: no filters")
        self._setup_codecs(resolve(key_codec), resolve(value_codec))
        self._path: Union[str, bytes] = fspath
        self._durability = durability
        self._snap = None
        self._raw = _lsmlog.DB(
            fspath,
            durability=durability,
            create=create,
            readonly=readonly,
            repair=repair,
            memtable_bytes=mem,
            cache_bytes=cache,
            bloom_bits=bloom,
        )
        self._recovery = Recovery(*self._raw.recovery())
        if self._plain:
            # get() without codecs is the extension's own method, bound to this
            # instance: no Python frame per call (a third of a small get's cost).
            # Same answers and errors as _Reader.get.
            self.get = self._raw.lookup  # type: ignore[method-assign]

    # ---- attributes -------------------------------------------------------

    @property
    def path(self) -> Union[str, bytes]:
        """The directory, as given to the constructor."""
        return self._path

    @property
    def durability(self) -> str:
        return self._durability

    @property
    def readonly(self) -> bool:
        return bool(self._raw.readonly)

    @property
    def closed(self) -> bool:
        return bool(self._raw.closed)

    @property
    def recovery(self) -> Recovery:
        """What opening did: a torn tail of the write-ahead log cut, and
        what ``repair=True`` set aside (write-ahead log batches; table
        entries and bytes lost, named with their files in ``message``)."""
        return self._recovery

    def stats(self) -> Dict[str, Any]:
        """Figures about the DB: ``levels`` (a list of ``{"level", "files",
        "bytes"}``), ``files`` and ``bytes`` (tables, all levels),
        ``write_amplification``, ``last_seq``, ``memtable_bytes``, and the
        counters since open (see docs/python.md)."""
        raw: Dict[str, Any] = self._raw.stats()
        levels = [{"level": i, "files": f, "bytes": b} for i, (f, b) in enumerate(raw.pop("levels"))]
        out: Dict[str, Any] = {
            "levels": levels,
            "files": sum(lv["files"] for lv in levels),
            "bytes": sum(lv["bytes"] for lv in levels),
            "write_amplification": raw.pop("write_amp"),
        }
        out.update(raw)
        return out

    # ---- writing ----------------------------------------------------------

    def put(self, key: Any, value: Any, ttl: Optional[float] = None) -> None:
        """Sets ``key`` to ``value``. ``ttl``: seconds (int or float) after
        which reads no longer see the key (nor any older value of it)."""
        ms = _ttl_ms(ttl)
        self._raw.put(self._ek(key), self._ev(value), ms)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._raw.put(self._ek(key), self._ev(value))

    def delete(self, key: Any) -> None:
        """Removes ``key``; a no-op when it is absent (as RocksDB's Delete).
        ``del db[key]`` raises KeyError instead."""
        self._raw.delete(self._ek(key))

    def __delitem__(self, key: Any) -> None:
        """Removes ``key``; KeyError when absent. The test and the delete are
        two steps: use ``delete()`` when another thread may race."""
        k = self._ek(key)
        if not self._raw.contains(k):
            raise KeyError(key)
        self._raw.delete(k)

    def clear(self) -> None:
        """Deletes every key, in batches of 1000 (not one atomic step)."""
        while True:
            it = self._raw.iter(mode=_KEYS)
            try:
                chunk: List[bytes] = []
                for k in it:
                    chunk.append(k)
                    if len(chunk) == _CLEAR_CHUNK:
                        break
            finally:
                it.close()
            if not chunk:
                return
            b = _lsmlog.WriteBatch()
            for k in chunk:
                b.delete(k)
            self._raw.write(b)

    def batch(self) -> "WriteBatch":
        """A write batch: ``with db.batch() as b: b.put(...); b.delete(...)``
        applies every put and delete at once, atomically, when the block ends
        cleanly, and nothing when it raises."""
        return WriteBatch(self)

    def flush(self) -> None:
        """Hands buffered writes to the OS (durability 'buffered')."""
        self._raw.flush()

    def sync(self) -> None:
        """Flushes and fdatasyncs the write-ahead log: every write so far
        survives power loss."""
        self._raw.sync()

    def flush_memtable(self) -> None:
        """Writes the memtable to a level-0 table and waits until it is done."""
        self._raw.flush_memtable()

    def compact(self, start: Any = None, stop: Any = None, *, progress: ProgressArg = False) -> None:
        """Compacts the keys in ``[start, stop)`` (None: unbounded) down the
        levels, dropping overwritten, deleted and expired entries. The
        memtable is flushed first. ``progress=True`` shows a tqdm bar (a
        widget in a notebook); a callable is called as ``progress(done,
        total)`` in bytes, now and then, from this thread. Ctrl-C, or an
        exception raised by the callable, cancels the compaction (the work
        done so far is kept) and is raised."""
        s = None if start is None else self._ek(start)
        e = None if stop is None else self._ek(stop)
        if progress is None or progress is False:
            self._raw.compact(s, e, None)
        elif progress is True:
            update, close = bytes_bar("compact")
            try:
                self._raw.compact(s, e, update)
            finally:
                close()
        elif callable(progress):
            self._raw.compact(s, e, progress)
        else:
            raise TypeError(
                f"progress must be True, False, None or a callable(done, total), not {type(progress).__name__}"
            )

    # ---- snapshots --------------------------------------------------------

    def snapshot(self) -> "Snapshot":
        """A frozen view of the DB as it is now, with the same read methods;
        use it in a ``with`` block (or ``close()`` it): it keeps old entries
        from being compacted away."""
        return Snapshot(self)

    # ---- lifetime ---------------------------------------------------------

    def close(self) -> None:
        """Closes the DB: waits for calls in flight in other threads, closes
        the open iterators and snapshots (they then raise ValueError),
        flushes, and releases the writer lock. A second close is a no-op. In
        a forked child it only forgets the parent's handle."""
        raw = getattr(self, "_raw", None)
        if raw is not None:
            raw.close()

    def __enter__(self) -> "DB":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> NoReturn:
        raise TypeError("a DB cannot be pickled: pass its path and open it again in the other process")

    def __repr__(self) -> str:
        return _show.db_text(self)

    def _repr_html_(self) -> str:
        return _show.db_html_table(self)


class Snapshot(_Reader):
    """A frozen view of a DB (``db.snapshot()``): reads see the DB as it was
    when it was taken, whatever is written or compacted later. A read-only
    ``Mapping`` with the DB's read methods. Release it with ``close()`` or a
    ``with`` block; closing the DB closes it too (later reads: ValueError)."""

    def __init__(self, db: DB) -> None:
        self._db = db
        self._raw = db._raw
        self._setup_codecs(db.key_codec, db.value_codec)
        self._snap = db._raw.snapshot()

    @property
    def db(self) -> DB:
        return self._db

    @property
    def closed(self) -> bool:
        return bool(self._snap.closed)

    def close(self) -> None:
        """Releases the snapshot. A second close is a no-op."""
        self._snap.close()

    def __enter__(self) -> "Snapshot":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Snapshot cannot be pickled")

    def __repr__(self) -> str:
        return f"<lsmlog.Snapshot of {self._db.path!r} {'closed' if self.closed else 'open'}>"


class WriteBatch:
    """Puts and deletes applied together, atomically: after a crash all of
    them or none. Made by ``db.batch()``; a context manager that commits on a
    clean exit and discards on an exception. A batch is used once: after
    ``commit()`` or ``discard()`` every call raises ValueError."""

    def __init__(self, db: DB) -> None:
        self._db = db
        self._raw = _lsmlog.WriteBatch()
        self._state = "open"

    def _check(self) -> None:
        if self._state != "open":
            raise ValueError(f"this batch was already {self._state}: start a new one with db.batch()")

    def put(self, key: Any, value: Any, ttl: Optional[float] = None) -> None:
        self._check()
        self._raw.put(self._db._ek(key), self._db._ev(value), _ttl_ms(ttl))

    def __setitem__(self, key: Any, value: Any) -> None:
        self.put(key, value)

    def delete(self, key: Any) -> None:
        self._check()
        self._raw.delete(self._db._ek(key))

    def __delitem__(self, key: Any) -> None:
        self.delete(key)

    def __len__(self) -> int:
        """The number of puts and deletes so far."""
        return len(self._raw)

    def commit(self) -> None:
        """Applies the batch (one write-ahead log record; an empty batch is a
        no-op). On failure the batch stays open: it may be committed again."""
        self._check()
        self._db._raw.write(self._raw)
        self._state = "committed"
        self._raw.clear()

    def discard(self) -> None:
        """Drops the batch without writing anything."""
        self._check()
        self._state = "discarded"
        self._raw.clear()

    @property
    def state(self) -> str:
        """'open', 'committed' or 'discarded'."""
        return self._state

    def __enter__(self) -> "WriteBatch":
        self._check()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._state != "open":  # committed or discarded inside the block
            return
        if exc_type is None:
            self.commit()
        else:
            self.discard()

    def __repr__(self) -> str:
        return f"<lsmlog.WriteBatch {self._state}, {len(self._raw)} operations>"
