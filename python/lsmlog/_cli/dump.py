"""``lsmlog dump DIR``: records of a Log or items of a DB on stdout, read-only.

A Log: the records in [--start, --stop) and/or from the first one stamped
>= --since up to the first one stamped >= --until, as JSON lines
{"offset", "timestamp", "time", "value"} or raw values. A DB: the items with
--start <= key < --stop that begin with --prefix, in key order (--reverse:
descending), as JSON lines {"key", "value"} or raw "key<TAB>value".

Times: ms since the epoch, ISO 8601 (2024-05-01T12:00:00Z; no zone: UTC),
'now', or 'now-5m' (ms, s, m, h, d).
"""

from __future__ import annotations

import argparse
from typing import Any

from . import (
    DB_KIND,
    EXIT_OK,
    Writer,
    add_output_options,
    describe,
    detect,
    key_bytes,
    open_db,
    open_log,
    parse_count,
    parse_time,
    usage_error,
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "dump",
        help="print a Log's records (by offset or time) or a DB's items (by key range)",
        description=describe(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", help="a Log or a DB directory")
    rng = p.add_argument_group("range (a Log: offsets; a DB: keys)")
    rng.add_argument("--start", metavar="OFFSET|KEY", help="a Log: the first offset (default: its start); "
                     "a DB: the first key, included (default: the first key)")
    rng.add_argument("--stop", metavar="OFFSET|KEY", help="a Log: the offset to stop before; "
                     "a DB: the key to stop before (default: none)")
    log = p.add_argument_group("a Log")
    log.add_argument("--since", type=parse_time, metavar="TIME", help="from the first record stamped >= TIME")
    log.add_argument("--until", type=parse_time, metavar="TIME", help="up to the first record stamped >= TIME")
    db = p.add_argument_group("a DB")
    db.add_argument("--prefix", metavar="KEY", help="only keys that begin with KEY")
    db.add_argument("--reverse", action="store_true", help="in descending key order")
    db.add_argument("--hex", action="store_true", help="--start, --stop and --prefix are hex (binary keys)")
    add_output_options(p)
    p.set_defaults(run=run)


def _offset(name: str, text: Any) -> Any:
    if text is None:
        return None
    try:
        return parse_count(text)
    except argparse.ArgumentTypeError as e:
        raise usage_error(f"{name} on a Log is an offset: {e}") from None


def run(args: argparse.Namespace) -> int:
    kind = detect(args.dir)
    out = Writer(args)
    limit = args.limit
    try:
        if kind == DB_KIND:
            if args.since is not None or args.until is not None:
                raise usage_error("--since and --until select a Log's records by time; for a DB use --start, "
                                  "--stop, --prefix")
            with open_db(args.dir) as db:
                items = db.items(
                    key_bytes(args.start, args.hex),
                    key_bytes(args.stop, args.hex),
                    prefix=key_bytes(args.prefix, args.hex),
                    reverse=args.reverse,
                )
                if limit != 0:
                    for k, v in items:
                        out.item(k, v)
                        if out.count == limit:
                            break
        else:
            if args.prefix is not None or args.reverse or args.hex:
                raise usage_error("--prefix, --reverse and --hex are for a DB's keys; for a Log use --start, "
                                  "--stop, --since, --until")
            start = _offset("--start", args.start) or 0
            stop = _offset("--stop", args.stop)
            with open_log(args.dir) as log:
                if limit != 0:
                    for rec in log.read(start, stop, since=args.since, until=args.until):
                        out.record(rec.offset, rec.timestamp, rec.value)
                        if out.count == limit:
                            break
    finally:
        out.close()
    return EXIT_OK
