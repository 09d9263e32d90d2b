"""repr() and the notebook view (_repr_html_) of a Log: path, state, offsets,
segments, bytes and time range. Never raises: a repr that fails hides the
real error."""

from __future__ import annotations

import datetime
import html
from typing import TYPE_CHECKING, List, Optional, Tuple

if TYPE_CHECKING:
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


def _state(log: "Log") -> Tuple[Optional["LogStats"], str]:
    raw = getattr(log, "_raw", None)
    if raw is None:
        return None, "not open"
    if raw.closed:
        return None, "closed"
    try:
        return log.stats(), "read-only" if raw.readonly else "open"
    except Exception as e:  # a forked child, an I/O error: show it instead
        return None, f"unusable: {e}"


def _time_range(st: "LogStats") -> str:
    if st.first_timestamp is None or st.max_timestamp is None:
        return "no records"
    return f"{iso_ms(st.first_timestamp)} .. {iso_ms(st.max_timestamp)}"


def text(log: "Log") -> str:
    path = getattr(log, "_path", "?")
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
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    return f"<table><caption style='text-align:left'><b>lsmlog.Log</b></caption>{body}</table>"

