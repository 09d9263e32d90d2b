"""The inspection commands of ``lsmlog`` / ``python -m lsmlog`` (docs/cli.md):
``info``, ``verify``, ``dump``, ``tail``, ``compact``.

One module per command, each with ``add_parser(subparsers)`` and a
``run(args) -> exit code``; what they share is here: telling a Log from a DB,
opening it, parsing times and keys, writing records as JSON lines or raw
bytes. Thin on purpose: everything goes through the public ``lsmlog.Log`` and
``lsmlog.DB``; the directory is only listed (to tell the two apart and to show
a Log's segment files).

Exit codes (``__main__.main`` maps exceptions to them):

- 0  success (``tail``: also its timeout, and Ctrl-C);
- 1  damage found: ``verify`` failed, or any command met a ``CorruptionError``;
- 2  usage error: a bad option, or a command that does not apply to this
     kind of store (``compact`` on a Log, ``tail`` on a DB);
- 3  any other error: a missing directory, one that is neither a Log nor a
     DB, a directory locked by another writer (only ``compact`` writes), an
     I/O or permission error.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import json
import os
import re
import sys
import time
from typing import Any, BinaryIO, Dict, List, Optional, Tuple, Union

from .._db import DB
from .._log import Log
from .._show import iso_ms

EXIT_OK = 0
EXIT_DAMAGE = 1
EXIT_USAGE = 2
EXIT_ERROR = 3

LOG_KIND = "Log"  # what detect() returns
DB_KIND = "DB"


class CommandError(Exception):
    """An expected failure: its message goes to stderr (no traceback), its
    code is the exit status."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def usage_error(message: str) -> CommandError:
    return CommandError(message, EXIT_USAGE)


def describe(doc: Optional[str]) -> str:
    """A command module's docstring as its --help description."""
    return (doc or "").replace("``", "")


# ---- which store a directory holds -----------------------------------------


_SEGMENT = re.compile(r"(\d{20})\.log")  # a segment, named by its base offset (docs/format-log.md)


def detect(path: str) -> str:
    """``"Log"`` for a directory with segment files (``<20 digits>.log``), ``"DB"`` for
    one with a ``CURRENT`` file and a ``wal/`` directory; a CommandError
    otherwise."""
    if not os.path.exists(path):
        raise CommandError(f"{path}: no such directory")
    if not os.path.isdir(path):
        raise CommandError(f"{path}: not a directory")
    if os.path.isfile(os.path.join(path, "CURRENT")) and os.path.isdir(os.path.join(path, "wal")):
        return DB_KIND
    names = os.listdir(path)  # PermissionError: an "other error" (exit 3)
    if any(_SEGMENT.fullmatch(n) for n in names):
        return LOG_KIND
    raise CommandError(
        f"{path}: neither an lsmlog Log (segment files like 00000000000000000000.log) "
        f"nor a DB (a CURRENT file and wal/)"
    )


def repair_hint(path: Optional[str], message: str) -> Optional[str]:
    """What to do about damage in the store at ``path`` (None: no advice)."""
    try:
        kind = detect(path) if path else None
    except (CommandError, OSError):
        return None
    if kind == LOG_KIND:
        return "Log(DIR, repair=True) keeps every valid record and moves the damaged segment to lost/"
    if kind == DB_KIND and ".sst" in message:
        return ("DB(DIR, repair=True) keeps the whole blocks of the damaged table (and what the write-ahead log "
                "still holds), moves the table to lost/ and reports what it lost")
    if kind == DB_KIND:
        return ("DB(DIR, repair=True) rebuilds the DB from its valid tables and write-ahead log records "
                "and reports what it set aside")
    return None


def open_log(path: str) -> Log:
    """A read-only handle: takes no lock, so it never conflicts with a writer."""
    return Log(path, readonly=True, create=False)


def open_db(path: str, *, writer: bool = False) -> DB:
    """A read-only handle (no lock), or with ``writer`` the writer's
    (LockedError while another process has the DB open for writing)."""
    if writer:
        return DB(path, create=False)
    return DB(path, readonly=True, create=False)


def segment_files(path: str) -> List[Tuple[str, int, int]]:
    """The segment files of a Log directory as ``(name, base offset, bytes)``,
    by base offset. A segment is named by its base offset in 20 digits
    (docs/format-log.md)."""
    out = []
    for name in os.listdir(path):
        m = _SEGMENT.fullmatch(name)
        if m:
            try:
                size = os.stat(os.path.join(path, name)).st_size
            except FileNotFoundError:  # dropped by retention meanwhile
                continue
            out.append((name, int(m.group(1)), size))
    out.sort(key=lambda t: t[1])
    return out


def dir_bytes(path: str) -> int:
    """Bytes in the regular files of a directory tree (0 if it is gone)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_size
            except FileNotFoundError:
                pass
    return total


# ---- argument types -----------------------------------------------------------

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_RELATIVE = re.compile(r"now(?:\s*-\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d))?")


def parse_time(text: str) -> int:
    """A time for ``--since``/``--until``: milliseconds since the Unix epoch
    (``1700000000000``), ISO 8601 (``2024-05-01T12:00:00Z``; without a zone:
    UTC), ``now``, or ``now-90s`` / ``now-5m`` / ``now-2h`` / ``now-1d``."""
    s = text.strip()
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    m = _RELATIVE.fullmatch(s.lower())
    if m:
        now = int(time.time() * 1000)
        if m.group(1) is None:
            return now
        return now - int(float(m.group(1)) * _UNITS_MS[m.group(2)])
    iso = s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s
    try:
        dt = datetime.datetime.fromisoformat(iso)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use ms since the epoch, ISO 8601 (2024-05-01T12:00:00Z), "
            f"'now' or 'now-5m' (ms, s, m, h, d)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return int(dt.timestamp() * 1000)


def parse_count(text: str) -> int:
    """A non-negative integer (offsets, limits)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return v


def parse_seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0 seconds")
    return v


def key_bytes(text: Optional[str], hex_keys: bool) -> Optional[bytes]:
    """A key bound given on the command line: UTF-8 text, or hex with --hex."""
    if text is None:
        return None
    if not hex_keys:
        return text.encode("utf-8", "surrogateescape")
    try:
        return binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        raise usage_error(f"{text!r} is not hex (--hex takes keys as hex digits, e.g. 6b6579)") from None


# ---- output -------------------------------------------------------------------


def add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format", choices=("json", "raw"), default="json",
        help="json: one JSON object per line (default); raw: the stored bytes, one record per line",
    )
    p.add_argument(
        "--values", choices=("auto", "text", "base64"), default="auto",
        help="how --format json shows a value: auto (default): as JSON when it is a JSON document, "
        "else as a string when it is UTF-8, else as base64 in 'value_b64'; text: as a string "
        "(base64 when not UTF-8); base64: always 'value_b64'",
    )
    p.add_argument(
        "-0", "--null", action="store_true",
        help="--format raw: end each record with a NUL byte instead of a newline",
    )
    p.add_argument("--limit", type=parse_count, default=None, metavar="N", help="stop after N records")


def _reject_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON


def value_fields(data: bytes, mode: str, name: str = "value") -> Dict[str, Any]:
    """How a stored value (or key) shows in a JSON line."""
    if mode != "base64":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if mode == "auto":
                try:
                    return {name: json.loads(text, parse_constant=_reject_constant)}
                except ValueError:
                    pass
            return {name: text}
    return {f"{name}_b64": base64.b64encode(data).decode("ascii")}


def key_fields(data: bytes) -> Dict[str, Any]:
    """A key in a JSON line: a string when it is UTF-8, else base64."""
    return value_fields(data, "text", "key")


class Writer:
    """Writes records to stdout as JSON lines or raw bytes."""

    def __init__(self, args: argparse.Namespace, *, flush_each: bool = False) -> None:
        self.format: str = args.format
        self.values: str = args.values
        self.end = b"\0" if args.null else b"\n"
        self.flush_each = flush_each
        self.out: BinaryIO = sys.stdout.buffer
        self.count = 0

    def _put(self, data: bytes) -> None:
        self.out.write(data)
        self.count += 1
        if self.flush_each:
            self.out.flush()

    def record(self, offset: int, timestamp: int, value: bytes) -> None:
        if self.format == "raw":
            self._put(value + self.end)
            return
        obj: Dict[str, Any] = {"offset": offset, "timestamp": timestamp, "time": iso_ms(timestamp)}
        obj.update(value_fields(value, self.values))
        self._put(json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n")

    def item(self, key: bytes, value: bytes) -> None:
        if self.format == "raw":
            self._put(key + b"\t" + value + self.end)
            return
        obj: Dict[str, Any] = key_fields(key)
        obj.update(value_fields(value, self.values))
        self._put(json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n")

    def close(self) -> None:
        self.out.flush()


def print_table(rows: List[List[str]], *, right: Union[Tuple[int, ...], List[int]] = (), indent: str = "  ") -> None:
    """A plain text table: the first row is the header; columns whose index is
    in ``right`` are right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, r in enumerate(rows):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        print((indent + "  ".join(cells)).rstrip())
        if n == 0:
            print((indent + "  ".join("-" * w for w in widths)).rstrip())
