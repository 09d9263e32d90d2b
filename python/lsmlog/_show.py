"""repr() and the notebook view (_repr_html_) of a Log (path, state, offsets,
segments, bytes, time range) and of a DB (path, state, sequence number,
tables per level, bytes, write amplification). Never raises: a repr that
fails hides the real error."""

from __future__ import annotations

import datetime
import html
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

if TYPE_CHECKING:
    from ._db import DB
    from ._log import Log, LogStats


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # not reached


def iso_ms(ts: int) -> str:
    """A timestamp in ms as ISO 8601 UTC, or the plain number when out of range."""
    try:
        dt = datetime.datetime.fromtimestamp(ts / 1000, tz=datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return f"{ts} ms"
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _state(handle: Any) -> Tuple[Any, str]:
    """The handle's stats() (None when they cannot be had) and its state."""
    raw = getattr(handle, "_raw", None)
    if raw is None:
        return None, "not open"
    if raw.closed:
        return None, "closed"
    try:
        return handle.stats(), "read-only" if raw.readonly else "open"
    except Exception as e:  # a forked child, an I/O error: show it instead
        return None, f"unusable: {e}"


def _html(caption: str, rows: Sequence[Tuple[str, str]]) -> str:
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    return f"<table><caption style='text-align:left'><b>{html.escape(caption)}</b></caption>{body}</table>"


def _time_range(st: "LogStats") -> str:
    if st.first_timestamp is None or st.max_timestamp is None:
        return "no records"
    return f"{iso_ms(st.first_timestamp)} .. {iso_ms(st.max_timestamp)}"


def text(log: "Log") -> str:
    path = getattr(log, "_path", "?")
    st: Optional[LogStats]
    st, state = _state(log)
    if st is None:
        return f"<lsmlog.Log {path!r} {state}>"
    return (
        f"<lsmlog.Log {path!r} {state}, durability={log.durability!r}: "
        f"offsets [{st.start}, {st.end}) = {st.end - st.start} records in {st.segments} "
        f"segment{'s' if st.segments != 1 else ''}, {st.bytes} bytes ({human_bytes(st.bytes)}), "
        f"time {_time_range(st)}>"
    )


def html_table(log: "Log") -> str:
    path = getattr(log, "_path", "?")
    st: Optional[LogStats]
    st, state = _state(log)
    rows: List[Tuple[str, str]] = [("path", repr(path)), ("state", state)]
    if st is not None:
        rows += [
            ("durability", log.durability),
            ("offsets", f"[{st.start}, {st.end})"),
            ("records", str(st.end - st.start)),
            ("segments", str(st.segments)),
            ("size", f"{st.bytes} bytes ({human_bytes(st.bytes)})"),
            ("first timestamp", "—" if st.first_timestamp is None else f"{iso_ms(st.first_timestamp)} ({st.first_timestamp})"),
            ("max timestamp", "—" if st.max_timestamp is None else f"{iso_ms(st.max_timestamp)} ({st.max_timestamp})"),
        ]
    return _html("lsmlog.Log", rows)


# ---- the DB -----------------------------------------------------------------


def _levels(st: Dict[str, Any]) -> str:
    """The levels that hold tables, like "L0 2, L1 3"."""
    used = [f"L{lv['level']} {lv['files']}" for lv in st["levels"] if lv["files"]]
    return ", ".join(used) if used else "none"


def db_text(db: "DB") -> str:
    path = getattr(db, "_path", "?")
    st: Optional[Dict[str, Any]]
    st, state = _state(db)
    if st is None:
        return f"<lsmlog.DB {path!r} {state}>"
    return (
        f"<lsmlog.DB {path!r} {state}, durability={db.durability!r}: seq {st['last_seq']}, "
        f"{st['files']} table{'s' if st['files'] != 1 else ''} ({_levels(st)}), "
        f"{st['bytes']} bytes ({human_bytes(st['bytes'])}) in tables, "
        f"memtable {human_bytes(st['memtable_bytes'])}, "
        f"write amplification {st['write_amplification']:.2f}>"
    )


def db_html_table(db: "DB") -> str:
    path = getattr(db, "_path", "?")
    st: Optional[Dict[str, Any]]
    st, state = _state(db)
    rows: List[Tuple[str, str]] = [("path", repr(path)), ("state", state)]
    if st is not None:
        rows += [
            ("durability", db.durability),
            ("sequence number", str(st["last_seq"])),
            ("tables", f"{st['files']} ({_levels(st)})"),
        ]
        rows += [
            (f"level {lv['level']}", f"{lv['files']} tables, {lv['bytes']} bytes ({human_bytes(lv['bytes'])})")
            for lv in st["levels"]
            if lv["files"]
        ]
        rows += [
            ("size", f"{st['bytes']} bytes ({human_bytes(st['bytes'])}) in tables"),
            ("memtable", human_bytes(st["memtable_bytes"])),
            ("write amplification", f"{st['write_amplification']:.2f}"),
            ("flushes, compactions", f"{st['flushes']}, {st['compactions']}"),
        ]
    return _html("lsmlog.DB", rows)
