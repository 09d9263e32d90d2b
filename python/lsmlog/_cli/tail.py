"""``lsmlog tail DIR``: follow a Log, printing each new record as it lands.

A read-only handle (no lock): it runs beside the writer, in another process.
It starts at the end of the Log (only new records), or --last N records
before it, or at --start OFFSET; it runs until Ctrl-C (exit 0), until
--timeout seconds pass with nothing new (exit 0), or until --limit records
are printed. Output as ``lsmlog dump``: JSON lines or raw values, flushed
record by record.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Optional

from . import (
    DB_KIND,
    EXIT_OK,
    Writer,
    add_output_options,
    describe,
    detect,
    open_log,
    parse_count,
    parse_seconds,
    usage_error,
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "tail",
        help="follow a Log: print new records as they land (Ctrl-C stops)",
        description=describe(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", help="a Log directory")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--start", type=parse_count, metavar="OFFSET", help="from this offset (default: the end)")
    where.add_argument("-n", "--last", type=parse_count, metavar="N", help="from N records before the end")
    p.add_argument(
        "--timeout", type=parse_seconds, default=None, metavar="SECONDS",
        help="stop after SECONDS with nothing new (default: never; Ctrl-C stops)",
    )
    add_output_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    kind = detect(args.dir)
    if kind == DB_KIND:
        raise usage_error(f"{args.dir} is a DB: tail follows a Log (use 'dump' for a DB's items)")
    out = Writer(args, flush_each=True)
    try:
        with open_log(args.dir) as log:
            start: Optional[int] = args.start
            if args.last is not None:
                start = max(log.start, log.end - args.last)
            if sys.stderr.isatty():
                print(f"following {args.dir} from offset {log.end if start is None else start} "
                      f"(Ctrl-C to stop)", file=sys.stderr)
            if args.limit != 0:
                for rec in log.tail(start, timeout=args.timeout):
                    out.record(rec.offset, rec.timestamp, rec.value)
                    if out.count == args.limit:
                        break
    except KeyboardInterrupt:
        pass  # the way to stop following: not an error
    finally:
        out.close()
    return EXIT_OK
