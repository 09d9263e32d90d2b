"""lsmlog.Log: the Python face of the C Log (see docs/python.md).

Everything here is plain Python above the thin extension ``lsmlog._lsmlog``:
argument checking with clear messages, codecs, Record tuples, the tail loops,
pandas, and the notebook representation.
"""

from __future__ import annotations

import asyncio
import operator
import os
import time
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncGenerator,
    Generator,
    Iterable,
    Iterator,
    List,
    NamedTuple,
    NoReturn,
    Optional,
    Protocol,
    Tuple,
    Union,
    overload,
)

from . import _lsmlog, _show
from .codecs import Codec, CodecArg, JsonCodec, resolve

if TYPE_CHECKING:
    import pandas  # type: ignore[import, unused-ignore]

__all__ = ["Log", "Record", "RecordIterator", "Recovery", "LogStats"]

PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

_U64_LIMIT = 1 << 64
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_DURABILITIES = ("buffered", "os", "sync")
_MIN_SEGMENT_BYTES = 4096
_MAX_SEGMENT_BYTES = 1 << 30
_DEFAULT_SEGMENT_BYTES = 64 << 20
_ASYNC_SLICE = 0.25  # atail: seconds per wait handed to a worker thread
_GAP_POLL = 0.05  # tail: poll interval past offsets that cannot be read (see _follow)


class Record(NamedTuple):
    """One record: its offset, its timestamp (ms since the Unix epoch) and its
    value (``bytes``, or what the Log's codec decodes)."""

    offset: int
    timestamp: int
    value: Any


class RecordIterator(Iterator[Record], Protocol):
    """What ``read()`` returns: an iterator of Records that can be closed
    early (``close()``: later steps end). It ends for good at the end of the
    log as it reaches it."""

    def close(self) -> None: ...


class Recovery(NamedTuple):
    """What recovery did when the Log was opened."""

    truncated_bytes: int  # torn or corrupt tail cut from the last segment
    dropped_batches: int  # batches set aside by repair=True
    dropped_bytes: int  # bytes set aside by repair=True
    rebuilt_indexes: int  # index files rebuilt because missing or stale
    message: str  # a sentence for people; "" when nothing happened


class LogStats(NamedTuple):
    """Figures about a Log (``Log.stats()``)."""

    start: int  # first retained offset
    end: int  # next offset to be assigned
    segments: int  # segment files
    bytes: int  # bytes in segment files
    first_timestamp: Optional[int]  # of the first retained record; None if empty
    max_timestamp: Optional[int]  # the largest timestamp; None if empty


# ---- argument checks ------------------------------------------------------


def _as_int(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None


def _offset(name: str, value: object) -> int:
    v = _as_int(name, value)
    if not 0 <= v < _U64_LIMIT:
        raise ValueError(f"{name} must be an offset in [0, 2**64), not {v}")
    return v


def _timestamp(name: str, value: object, *, now_ok: bool = True) -> int:
    v = _as_int(name, value)
    lo = _I64_MIN + 1 if not now_ok else _I64_MIN
    if not lo <= v <= _I64_MAX:
        raise ValueError(f"{name} must be milliseconds since the Unix epoch in [{lo}, {_I64_MAX}], not {v}")
    return v


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {type(value).__name__}")
    return value


def _timeout(value: object) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(value).__name__}")
    t = float(value)
    if not t >= 0:  # also catches NaN
        raise ValueError(f"timeout must be >= 0 seconds or None (no limit), not {value!r}")
    return t


def _limit(name: str, value: object) -> int:
    """A retention limit: None (no limit, 0 for the core) or an int >= 1."""
    if value is None:
        return 0
    v = _as_int(name, value)
    if not 1 <= v <= _I64_MAX:
        raise ValueError(f"{name} must be >= 1 (or None: no limit), not {v}")
    return v


def _open_options(
    path: PathArg, durability: object, create: object, readonly: object, repair: object
) -> Tuple[Union[str, bytes], bool, bool, bool]:
    """The options both stores take, checked before anything is touched on
    disk: (path, create, readonly, repair)."""
    fspath = os.fspath(path)  # TypeError for anything but str, bytes, PathLike
    if not fspath:
        raise ValueError("path must not be empty")
    if not isinstance(durability, str):
        raise TypeError(f"durability must be a str, not {type(durability).__name__}")
    if durability not in _DURABILITIES:
        raise ValueError(f"durability must be 'buffered', 'os' or 'sync', not {durability!r}")
    flags = _flag("create", create), _flag("readonly", readonly), _flag("repair", repair)
    if flags[2] and flags[1]:
        raise ValueError("repair=True needs a writer: it cannot be combined with readonly=True")
    return (fspath,) + flags


# ---- the Log --------------------------------------------------------------


class Log:
    """An append-only, segmented record log in a directory.

    Every record gets a dense offset (0, 1, 2, ...) and a millisecond
    timestamp. See docs/python.md for the whole interface and its choices.

    >>> with Log("data/events") as log:
    ...     off = log.append(b"hello")
    ...     log[off].value
    b'hello'
    """

    def __init__(
        self,
        path: PathArg,
        *,
        durability: str = "os",
        create: bool = True,
        readonly: bool = False,
        repair: bool = False,
        segment_bytes: int = _DEFAULT_SEGMENT_BYTES,
        segment_ms: Optional[int] = None,
        codec: CodecArg = None,
    ) -> None:
        fspath, create, readonly, repair = _open_options(path, durability, create, readonly, repair)
        seg_bytes = _as_int("segment_bytes", segment_bytes)
        if not _MIN_SEGMENT_BYTES <= seg_bytes <= _MAX_SEGMENT_BYTES:
            raise ValueError(
                f"segment_bytes must be in [{_MIN_SEGMENT_BYTES}, {_MAX_SEGMENT_BYTES}] (4 KiB .. 1 GiB), "
                f"not {seg_bytes}"
            )
        seg_ms = 0 if segment_ms is None else _as_int("segment_ms", segment_ms)
        if not 0 <= seg_ms <= _I64_MAX:
            raise ValueError(f"segment_ms must be >= 0 (0 or None: no age limit), not {seg_ms}")
        self._codec: Optional[Codec] = resolve(codec)
        self._path: Union[str, bytes] = fspath
        self._durability = durability
        self._raw = _lsmlog.Log(
            fspath,
            durability=durability,
            create=create,
            readonly=readonly,
            repair=repair,
            segment_bytes=seg_bytes,
            segment_ms=seg_ms,
        )
        self._recovery = Recovery(*self._raw.recovery())

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
        return self._raw.readonly

    @property
    def codec(self) -> Optional[Codec]:
        """The codec object (None: values are bytes)."""
        return self._codec

    @property
    def closed(self) -> bool:
        return self._raw.closed

    @property
    def recovery(self) -> Recovery:
        """What recovery did at open: a torn tail cut, batches set aside by repair."""
        return self._recovery

    @property
    def start(self) -> int:
        """The first retained offset."""
        return self._raw.bounds()[0]

    @property
    def end(self) -> int:
        """The next offset to be assigned."""
        return self._raw.bounds()[1]

    def __len__(self) -> int:
        """``end - start``: the offsets in the log (a repair's holes included)."""
        start, end = self._raw.bounds()
        return end - start

    def __bool__(self) -> bool:
        """Always True, empty or closed: a Log is a handle first (``if log:``
        must not need the disk, nor fail on a closed handle). Test
        ``len(log)`` for emptiness."""
        return True

    def stats(self) -> LogStats:
        """Offsets, segment count, bytes and time range."""
        start, end, segments, nbytes, first_ts, max_ts = self._raw.stat()
        empty = start == end
        return LogStats(
            start, end, segments, nbytes, None if empty else first_ts, None if empty else max_ts
        )

    # ---- writing ----------------------------------------------------------

    def _encode(self, value: Any) -> Any:
        if self._codec is not None:
            return self._codec.encode(value)
        if isinstance(value, str):
            raise TypeError(
                "a bytes-like value is required, not str: encode it, or open the Log with codec='utf-8'"
            )
        return value

    def append(self, value: Any, timestamp: Optional[int] = None) -> int:
        """Appends one record and returns its offset. ``timestamp``: ms since
        the Unix epoch (default: now)."""
        if timestamp is not None:
            timestamp = _timestamp("timestamp", timestamp, now_ok=False)
        return self._raw.append(self._encode(value), timestamp)

    def extend(self, values: Iterable[Any], timestamp: Optional[int] = None) -> int:
        """Appends the values as one batch (one write, one fsync, contiguous
        offsets, all or nothing after a crash) and returns the first offset.
        An empty batch is a ValueError."""
        if isinstance(values, (bytes, bytearray, memoryview, str)):
            raise TypeError(
                f"extend() takes an iterable of values, not one {type(values).__name__} value: use append()"
            )
        if timestamp is not None:
            timestamp = _timestamp("timestamp", timestamp, now_ok=False)
        try:
            it = iter(values)
        except TypeError:
            raise TypeError(f"extend() takes an iterable of values, not {type(values).__name__}") from None
        if self._codec is None:
            # as they are: the extension takes bytes-like values (and refuses
            # a str with the same advice as append)
            return self._raw.append_batch(values if type(values) in (list, tuple) else it, timestamp)
        encode = self._codec.encode
        return self._raw.append_batch([encode(v) for v in it], timestamp)

    def flush(self) -> None:
        """Hands buffered records to the OS (durability 'buffered')."""
        self._raw.flush()

    def sync(self) -> None:
        """Flushes and fdatasyncs: everything appended so far survives power loss."""
        self._raw.sync()

    def truncate_before(self, offset: int) -> None:
        """Drops every sealed segment whose records are all below ``offset``.
        Whole segments only: ``start`` may stay below ``offset``."""
        self._raw.truncate_before(_offset("offset", offset))

    def retain(self, max_bytes: Optional[int] = None, max_age_ms: Optional[int] = None) -> int:
        """Drops the oldest sealed segments while the log is larger than
        ``max_bytes`` or while a segment's newest record is older than
        ``max_age_ms``; returns the number of segments dropped."""
        return self._raw.retain(_limit("max_bytes", max_bytes), _limit("max_age_ms", max_age_ms))

    # ---- reading ----------------------------------------------------------

    def _decoder(self) -> Any:
        return None if self._codec is None else self._codec.decode

    @overload
    def __getitem__(self, key: int) -> Record: ...

    @overload
    def __getitem__(self, key: slice) -> List[Record]: ...

    def __getitem__(self, key: Union[int, slice]) -> Union[Record, List[Record]]:
        """``log[offset]`` is the Record at that offset, IndexError if it is
        not in the log. Negative indexes count back from ``end`` (``log[-1]``
        is the last record). ``log[a:b]`` is a list of the Records in
        ``[a, b)``, with list-like negative bounds and no step."""
        if isinstance(key, slice):
            return self._slice(key)
        if isinstance(key, bool) or not hasattr(key, "__index__"):
            raise TypeError(f"Log indices must be integers or slices, not {type(key).__name__}")
        off = operator.index(key)
        if off < 0:
            off += self._raw.bounds()[1]
        got = self._raw.get(off) if 0 <= off < _U64_LIMIT else None
        if got is None:
            start, end = self._raw.bounds()
            raise IndexError(f"offset {key} is not in the log (start {start}, end {end})")
        dec = self._decoder()
        return Record(off, got[0], got[1] if dec is None else dec(got[1]))

    def _slice(self, key: slice) -> List[Record]:
        if key.step not in (None, 1):
            raise ValueError("Log slices take no step")
        start, end = self._raw.bounds()

        def bound(v: object, default: int) -> int:
            if v is None:
                return default
            i = _as_int("slice bound", v)
            return max(i + end, 0) if i < 0 else min(i, _U64_LIMIT - 1)

        lo, hi = bound(key.start, start), bound(key.stop, end)
        if hi <= lo:
            return []
        return list(self.read(lo, hi))

    def read(
        self,
        start: int = 0,
        stop: Optional[int] = None,
        *,
        since: Optional[int] = None,
        until: Optional[int] = None,
    ) -> RecordIterator:
        """Records with ``start <= offset < stop``; with ``since``, from the
        first record stamped ``>= since``; with ``until``, up to the first
        record stamped ``>= until`` (a range of positions, as Kafka's
        offsetsForTimes). Ends at the end of the log as it reaches it.
        The iterator closes at its end, when garbage collected, or with
        ``close()``; closing the Log closes it (its next step: ValueError)."""
        s = _offset("start", start)
        e = None if stop is None else _offset("stop", stop)
        t0 = None if since is None else _timestamp("since", since)
        t1 = None if until is None else _timestamp("until", until)
        decode = self._decoder()
        if decode is None:
            # The C iterator itself: it builds the Records and closes at the
            # end, as a generator would, with no Python code per record.
            it: RecordIterator = self._raw.iter(start=s, stop=e, since=t0, until=t1, record=Record, once=True)
            return it
        return _decoded(self._raw.iter(start=s, stop=e, since=t0, until=t1, once=True), decode)

    def __iter__(self) -> RecordIterator:
        return self.read()

    def offset_for_time(self, timestamp: int) -> Optional[int]:
        """The first offset (in offset order) whose timestamp is ``>= timestamp``,
        or None when no record has one."""
        return self._raw.offset_for_time(_timestamp("timestamp", timestamp))

    def tail(
        self, start: Optional[int] = None, timeout: Optional[float] = 5.0
    ) -> Generator[Record, None, None]:
        """Follows the log from ``start`` (default: the current end), yielding
        records as they land, from this or another process. Ends once
        ``timeout`` seconds pass with nothing new (None: never). Waits with the
        GIL released and answers Ctrl-C (KeyboardInterrupt)."""
        t = _timeout(timeout)
        s = self._raw.bounds()[1] if start is None else _offset("start", start)
        it = self._raw.iter(start=s, record=Record)
        return _follow(self._raw, it, s, t, self._decoder())

    def atail(
        self, start: Optional[int] = None, timeout: Optional[float] = 5.0
    ) -> AsyncGenerator[Record, None]:
        """``tail()`` for asyncio: ``async for rec in log.atail(...)``. The
        waiting runs in the loop's default executor, in slices of at most
        0.25 s, so the event loop is never blocked and a cancelled task leaves
        no thread waiting long."""
        t = _timeout(timeout)
        s = self._raw.bounds()[1] if start is None else _offset("start", start)
        it = self._raw.iter(start=s, record=Record)
        return _afollow(self._raw, it, s, t, self._decoder())

    def verify(self) -> int:
        """Reads every segment in full and checks every checksum; returns the
        number of records checked, or raises CorruptionError naming the
        first damage's file and byte position."""
        return self._raw.verify()

    def to_pandas(
        self,
        since: Optional[int] = None,
        until: Optional[int] = None,
        *,
        start: int = 0,
        stop: Optional[int] = None,
        progress: bool = False,
    ) -> "pandas.DataFrame":
        """The records as a DataFrame: ``offset`` (int64), ``timestamp``
        (datetime64[ms], UTC) and ``value``, or, with the json codec when every
        value is a dict, one column per key instead of ``value``. Needs
        pandas (``pip install 'lsmlog[pandas]'``); ``progress=True`` shows a
        tqdm bar (``lsmlog[progress]``)."""
        from ._frames import to_pandas

        return to_pandas(self, since, until, start, stop, _flag("progress", progress))

    def _is_json(self) -> bool:
        return isinstance(self._codec, JsonCodec)

    # ---- lifetime ---------------------------------------------------------

    def close(self) -> None:
        """Closes the log: waits for calls in flight in other threads, closes
        the open iterators (they then raise ValueError), flushes, and releases
        the writer lock. A second close is a no-op. In a forked child it only
        forgets the parent's handle."""
        raw = getattr(self, "_raw", None)
        if raw is not None:
            raw.close()

    def __enter__(self) -> "Log":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Log cannot be pickled: pass its path and open it again in the other process")

    def __repr__(self) -> str:
        return _show.text(self)

    def _repr_html_(self) -> str:
        return _show.html_table(self)


def _decoded(it: Any, decode: Any) -> Generator[Record, None, None]:
    try:
        for off, ts, val in it:
            yield Record(off, ts, decode(val))
    finally:
        it.close()


class _Idle:
    """How long a tail may still wait: it ends after `timeout` seconds with
    nothing new (None: never). Shared by tail() and atail()."""

    def __init__(self, timeout: Optional[float]) -> None:
        self.timeout = timeout
        self.since: Optional[float] = None

    def reset(self) -> None:
        self.since = None

    def left(self) -> Optional[float]:
        """Seconds left (<= 0: time is up), or None for no limit."""
        now = time.monotonic()
        if self.since is None:
            self.since = now
        return None if self.timeout is None else self.timeout - (now - self.since)


def _follow(
    raw: Any, it: Any, next_off: int, timeout: Optional[float], decode: Any
) -> Generator[Record, None, None]:
    idle = _Idle(timeout)
    # `stuck`: the log said it holds offsets >= next_off, yet the iterator found
    # none (offsets a repair set aside at the very end). Waiting on next_off
    # would return at once forever, so poll until a record comes.
    stuck = False
    try:
        while True:
            item = it.step()
            if item is not None:
                idle.reset()
                stuck = False
                next_off = item[0] + 1
                yield item if decode is None else Record(item[0], item[1], decode(item[2]))
                continue
            left = idle.left()
            if left is not None and left <= 0:
                return
            if stuck:
                time.sleep(_GAP_POLL if left is None else min(_GAP_POLL, left))
            else:
                stuck = raw.wait(next_off, left)  # sliced, GIL released, Ctrl-C aware
    finally:
        it.close()


async def _afollow(
    raw: Any, it: Any, next_off: int, timeout: Optional[float], decode: Any
) -> AsyncGenerator[Record, None]:
    loop = asyncio.get_running_loop()
    idle = _Idle(timeout)
    stuck = False
    try:
        while True:
            item = it.step()
            if item is not None:
                idle.reset()
                stuck = False
                next_off = item[0] + 1
                yield item if decode is None else Record(item[0], item[1], decode(item[2]))
                continue
            left = idle.left()
            if left is not None and left <= 0:
                return
            piece = _ASYNC_SLICE if left is None else min(_ASYNC_SLICE, left)
            if stuck:
                await asyncio.sleep(min(_GAP_POLL, piece))
            else:
                stuck = await loop.run_in_executor(None, raw.wait, next_off, piece)
    finally:
        it.close()
