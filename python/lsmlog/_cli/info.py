"""``lsmlog info DIR``: what a Log or a DB holds, read-only.

A Log: offsets, record count, segments, bytes, time range, and a table of its
segment files. A DB: sequence number, tables per level (a table), bytes,
memtable, write-ahead log and manifest. ``--json`` gives the same as one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, Dict, List

from .._show import human_bytes, iso_ms
from . import DB_KIND, EXIT_OK, describe, detect, dir_bytes, open_db, open_log, print_table, segment_files


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "info",
        help="offsets, segments, time range, sizes of a Log; levels, tables, sizes of a DB",
        description=describe(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", help="a Log or a DB directory")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--count", action="store_true", help="DB: also count the live keys (a scan of every key)")
    p.set_defaults(run=run)


def _sized(n: int) -> str:
    return f"{n} bytes ({human_bytes(n)})"


def _stamp(ts: Any) -> str:
    return "—" if ts is None else f"{iso_ms(ts)} ({ts})"


def log_info(path: str) -> Dict[str, Any]:
    with open_log(path) as log:
        st = log.stats()
    segs = segment_files(path)
    rows = []
    for i, (name, base, size) in enumerate(segs):
        nxt = segs[i + 1][1] if i + 1 < len(segs) else st.end
        rows.append({"file": name, "base_offset": base, "offsets": max(0, nxt - max(base, st.start)), "bytes": size})
    lost = os.path.join(path, "lost")
    return {
        "kind": "Log",
        "path": path,
        "start": st.start,
        "end": st.end,
        "records": st.end - st.start,
        "segments": st.segments,
        "bytes": st.bytes,
        "first_timestamp": st.first_timestamp,
        "max_timestamp": st.max_timestamp,
        "segment_files": rows,
        "lost_files": sorted(os.listdir(lost)) if os.path.isdir(lost) else [],
    }


def db_info(path: str, count: bool) -> Dict[str, Any]:
    with open_db(path) as db:
        st = db.stats()
        keys = db.keys().count() if count else None
    try:
        with open(os.path.join(path, "CURRENT"), encoding="utf-8") as f:
            manifest = f.read().strip()
    except OSError:
        manifest = "?"
    wal = os.path.join(path, "wal")
    return {
        "kind": "DB",
        "path": path,
        "last_seq": st["last_seq"],
        "files": st["files"],
        "bytes": st["bytes"],
        "levels": st["levels"],
        "memtable_bytes": st["memtable_bytes"],
        "wal_bytes": dir_bytes(wal),
        "wal_segments": len(segment_files(wal)) if os.path.isdir(wal) else 0,
        "manifest": manifest,
        "keys": keys,
    }


def _print_log(info: Dict[str, Any]) -> None:
    print(f"Log {info['path']}")
    rows = [
        ["offsets", f"[{info['start']}, {info['end']})"],
        ["records", str(info["records"])],
        ["segments", str(info["segments"])],
        ["size", _sized(info["bytes"])],
        ["first timestamp", _stamp(info["first_timestamp"])],
        ["max timestamp", _stamp(info["max_timestamp"])],
    ]
    if info["lost_files"]:
        rows.append(["lost/", f"{len(info['lost_files'])} file(s) set aside by a repair"])
    for k, v in rows:
        print(f"  {k:<16} {v}")
    print()
    table: List[List[str]] = [["segment", "base offset", "offsets", "bytes", "size"]]
    for s in info["segment_files"]:
        table.append([s["file"], str(s["base_offset"]), str(s["offsets"]), str(s["bytes"]), human_bytes(s["bytes"])])
    print_table(table, right=(1, 2, 3, 4))


def _print_db(info: Dict[str, Any]) -> None:
    print(f"DB {info['path']}")
    used = ", ".join(f"L{lv['level']} {lv['files']}" for lv in info["levels"] if lv["files"]) or "none"
    rows = [
        ["sequence number", str(info["last_seq"])],
        ["tables", f"{info['files']} ({used})"],
        ["size", f"{_sized(info['bytes'])} in tables"],
        ["memtable", human_bytes(info["memtable_bytes"])],
        ["write-ahead log", f"{_sized(info['wal_bytes'])} in {info['wal_segments']} segment(s) (wal/)"],
        ["manifest", info["manifest"]],
    ]
    if info["keys"] is not None:
        rows.append(["keys", str(info["keys"])])
    for k, v in rows:
        print(f"  {k:<16} {v}")
    print()
    table: List[List[str]] = [["level", "tables", "bytes", "size"]]
    for lv in info["levels"]:
        table.append([f"L{lv['level']}", str(lv["files"]), str(lv["bytes"]), human_bytes(lv["bytes"])])
    print_table(table, right=(1, 2, 3))


def run(args: argparse.Namespace) -> int:
    kind = detect(args.dir)
    if kind == DB_KIND:
        info = db_info(args.dir, args.count)
    else:
        info = log_info(args.dir)
    if args.json:
        print(json.dumps(info, indent=2))
    elif kind == DB_KIND:
        _print_db(info)
    else:
        _print_log(info)
    return EXIT_OK
