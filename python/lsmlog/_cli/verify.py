"""``lsmlog verify DIR``: a full checksum scan, read-only.

A Log: every segment is read in full and every batch's CRC32C checked
(``Log.verify()``). A DB: opening replays the write-ahead log; then the
write-ahead log and the manifest (both Logs) are verified in full, and every
key and value is read through a full scan (every table block, with its
checksum). Exit status 0 when all is intact, 1 at the first damage, named by
file and byte position on stderr.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from .._log import Log
from .._show import human_bytes
from . import DB_KIND, EXIT_OK, describe, detect, open_db, open_log


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "verify",
        help="read everything and check every checksum; exit 1 with the file and position of damage",
        description=describe(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", help="a Log or a DB directory")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing when all is intact")
    p.set_defaults(run=run)


def _verify_log(path: str) -> str:
    with open_log(path) as log:
        n = log.verify()
        st = log.stats()
    return f"{n} records in {st.segments} segment(s), {human_bytes(st.bytes)}"


def _verify_db(path: str, say: Any) -> str:
    with open_db(path) as db:
        say(f"  opened: write-ahead log replayed (sequence number {db.stats()['last_seq']})")
        wal = os.path.join(path, "wal")
        with Log(wal, readonly=True, create=False) as log:
            say(f"  write-ahead log: {log.verify()} batches checked (wal/)")
        with open(os.path.join(path, "CURRENT"), encoding="utf-8") as f:
            manifest = f.read().strip()
        mpath = os.path.join(path, manifest)
        if manifest and os.path.isdir(mpath):
            with Log(mpath, readonly=True, create=False) as log:
                say(f"  manifest: {log.verify()} version edits checked ({manifest}/)")
        keys = nbytes = 0
        for k, v in db.items():  # the raw DB: keys and values are bytes
            keys += 1
            nbytes += len(k) + len(v)
        st = db.stats()
    say(f"  scan: {keys} keys, {human_bytes(nbytes)} of keys and values read")
    return f"{keys} keys in {st['files']} table(s), {human_bytes(st['bytes'])}"


def run(args: argparse.Namespace) -> int:
    kind = detect(args.dir)

    def say(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    t0 = time.monotonic()
    if kind == DB_KIND:
        say(f"verifying DB {args.dir}")
        summary = _verify_db(args.dir, say)
    else:
        say(f"verifying Log {args.dir}")
        summary = _verify_log(args.dir)
    say(f"OK: {summary}, intact ({time.monotonic() - t0:.2f} s)")
    return EXIT_OK
