"""``lsmlog compact DIR``: compact a DB now, with a progress bar.

Writes the memtable to a table, then compacts the keys in [--start, --stop)
(default: all) down the levels, dropping overwritten, deleted and expired
entries; prints the tables before and after. It opens the DB as its writer:
while another process has it open for writing it fails with "locked" (exit
3). Ctrl-C cancels, keeping the work done so far (exit 130).

A Log has no compaction (exit 2): old records leave it by retention, whole
segments at a time (Log.retain, Log.truncate_before).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable, Dict, Union

from .._progress import tqdm_class
from .._show import human_bytes
from . import DB_KIND, EXIT_OK, describe, detect, key_bytes, open_db, usage_error


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "compact",
        help="compact a DB now (with a progress bar); not for a Log",
        description=describe(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", help="a DB directory")
    p.add_argument("--start", metavar="KEY", help="the first key of the range (default: unbounded)")
    p.add_argument("--stop", metavar="KEY", help="the end of the range, excluded (default: unbounded)")
    p.add_argument("--hex", action="store_true", help="--start and --stop are hex (binary keys)")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="show a progress bar on stderr (default: when stderr is a terminal)")
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(run=run)


def _tables(st: Dict[str, Any]) -> str:
    used = ", ".join(f"L{lv['level']} {lv['files']}" for lv in st["levels"] if lv["files"]) or "none"
    return f"{st['files']} table(s) ({used}), {human_bytes(st['bytes'])}"


def _text_bar() -> Callable[[int, int], None]:
    """A progress line for when tqdm is not installed."""

    def update(done: int, total: int) -> None:
        pct = 100.0 * done / total if total else 100.0
        print(f"\rcompact: {pct:5.1f}% ({human_bytes(done)} of {human_bytes(total)})",
              end="" if done < total else "\n", file=sys.stderr, flush=True)

    return update


def run(args: argparse.Namespace) -> int:
    kind = detect(args.dir)
    if kind != DB_KIND:
        raise usage_error(
            f"{args.dir} is a Log: compact applies to a DB. A Log drops old records by retention, "
            f"whole segments at a time (Log.retain(max_bytes=..., max_age_ms=...), Log.truncate_before(offset))"
        )
    start = key_bytes(args.start, args.hex)
    stop = key_bytes(args.stop, args.hex)
    show = sys.stderr.isatty() if args.progress is None else args.progress
    progress: Union[bool, Callable[[int, int], None]] = False
    if show:
        try:
            tqdm_class()
            progress = True  # DB.compact's own bar (tqdm.auto)
        except ImportError:
            progress = _text_bar()
    with open_db(args.dir, writer=True) as db:
        before = db.stats()
        print(f"compacting DB {args.dir}: {_tables(before)}", flush=True)
        t0 = time.monotonic()
        db.compact(start, stop, progress=progress)
        after = db.stats()
    print(f"done in {time.monotonic() - t0:.2f} s: {_tables(after)}")
    return EXIT_OK
