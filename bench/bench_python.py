#!/usr/bin/env python3
"""bench_python.py — lsmlog.Log from Python against the Python peers, in one run.

Stores: lsmlog.Log, sqlite3 (the standard library), py-lmdb (``lmdb``), plyvel
(LevelDB) and rocksdict (RocksDB); lsmlog.DB too once the package has it. A
peer that cannot be imported is printed as ``skipped: <reason>``.

Workloads (N values of 100 random bytes, batches of 1,000; each repetition in
fresh directories, the stores interleaved (repetitions outside, stores inside,
alternating order); the median of REPS printed):

  extend     N values in batches of 1,000: Log.extend(batch, timestamp=t_k);
             peers: one transaction / write batch per batch (sqlite3:
             executemany inside BEGIN..COMMIT); also sqlite3 with all N rows in
             one executemany and one transaction, its best case.
             Timed from open to close, as bench_log times the C core.
  append     SINGLE values, one call each (Log.append; sqlite3: an autocommit
             INSERT; lmdb: a write transaction per put; plyvel/rocksdict: put).
  scan       a full scan with a fresh handle: ``for rec in log.read()``; peers:
             a cursor / iterator over everything in key order. Timed from the
             first step to the last (the handle's opening is not).
  get        GETS point reads of random records, one call each: log[offset];
             lsmlog.DB / plyvel / rocksdict: db.get(key); py-lmdb: txn.get
             (one read transaction for all); sqlite3: SELECT by primary key.
             Every read is checked to find its record.
  range      RANGES reads of the 1,000 records of a random batch:
             log.read(since=t_k, until=t_k + 1) (the time index); peers: a key
             range [k*1000, (k+1)*1000) (they have no time index; the key is
             the offset).

Shapes: the Log stores the values with a timestamp per batch; sqlite3 a table
log(off INTEGER PRIMARY KEY, ts INTEGER, v BLOB); lmdb, plyvel and rocksdict
the 8-byte big-endian offset as the key and the value alone (no timestamp: in
their favour). Every store's inputs (batches, keys, rows) are built before the
clock starts, in the form its API takes. Durability as lsmlog "os" (nothing
fsynced, every write handed to the OS): Log durability="os"; sqlite3 WAL with
synchronous=OFF; lmdb sync=False; plyvel and rocksdict sync=False (their
default) with the WAL on.

Goals (issue #4), printed with a verdict and the per-record cost of both
sides: Log.extend >= 1x py-lmdb putmulti and >= 3x plyvel's WriteBatch; a
Log.read() scan >= 1.2x py-lmdb cursor iteration; DB batch puts >= 1.5x
plyvel; random DB.get >= 1.5x plyvel. Also printed, without a verdict: the
per-record cost against the C core's (bench_log's JSON of the same run,
--c-json).

Usage: bench_python.py [--n N] [--reps R] [--single S] [--gets G] [--ranges K] [--dir DIR]
                       [--json FILE] [--c-json BENCH_LOG_JSON] [--store NAME]...
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import sqlite3
import statistics
import struct
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional

BATCH = 1000
VALUE_LEN = 100
T0_MS = 1_700_000_000_000
POOL_MAX = 1_000_000  # distinct values; larger N cycles through them
LOG_BYTES_PER_OP = VALUE_LEN  # MB/s counts the payload


# ---- measuring ---------------------------------------------------------------


def peak_rss_reset() -> bool:
    """Resets VmHWM to the current RSS (Linux >= 4.0); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def io_write_bytes() -> Optional[float]:
    try:
        with open("/proc/self/io") as f:
            for line in f:
                if line.startswith("write_bytes:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def du(path: str) -> float:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return float(total)


class Sample:
    __slots__ = ("seconds", "peak_rss", "write_bytes", "disk_bytes")

    def __init__(self, seconds: float, peak: float, wb: Optional[float], disk: float) -> None:
        self.seconds, self.peak_rss, self.write_bytes, self.disk_bytes = seconds, peak, wb, disk


def measure(fn: Callable[[], float], path: str) -> Sample:
    """Runs fn (which returns its own timed seconds) with the memory and I/O
    meters around it; the size on disk of path afterwards."""
    gc.collect()
    peak_rss_reset()
    wb0 = io_write_bytes()
    secs = fn()
    wb1 = io_write_bytes()
    peak = peak_rss()
    wb = wb1 - wb0 if wb0 is not None and wb1 is not None else None
    return Sample(secs, peak, wb, du(path))


def syncfs(path: str) -> None:
    """Writes back what earlier runs left dirty, so a timed write does not pay for it."""
    os.sync()


# ---- data ---------------------------------------------------------------------


class Data:
    def __init__(self, n: int, seed: int) -> None:
        rng = random.Random(seed)
        pool = min(n, POOL_MAX)
        blob = rng.randbytes(pool * VALUE_LEN)
        self.n = n
        self.values = [blob[i * VALUE_LEN : (i + 1) * VALUE_LEN] for i in range(pool)]
        del blob
        self.batches: List[List[bytes]] = []
        for i in range(0, n, BATCH):
            k = min(BATCH, n - i)
            start = i % pool
            if start + k <= pool:
                self.batches.append(self.values[start : start + k])
            else:
                self.batches.append([self.values[(i + j) % pool] for j in range(k)])
        self.nbatches = len(self.batches)

    def value(self, i: int) -> bytes:
        return self.values[i % len(self.values)]


def key8(i: int) -> bytes:
    return struct.pack(">Q", i)


# ---- stores --------------------------------------------------------------------
#
# (kv_gets below: the random-get workload of the stores whose handle has
# get(key) -> value or None and close(): plyvel and rocksdict.)
#
# Each store class: name, version(), settings; write_batches(path, data) ->
# seconds (open..close); append(path, data, count) -> seconds; scan(path) ->
# (seconds, count); ranges(path, ks) -> (seconds, count). A class whose module
# is missing raises ImportError in its constructor: the store is skipped.


def kv_gets(db: Any, offs: List[int]) -> "tuple[float, int]":
    """Random gets through db.get (plyvel, rocksdict); closes db."""
    keys = [key8(o) for o in offs]
    found = 0
    t0 = time.perf_counter()
    for k in keys:
        v = db.get(k)
        found += v is not None and len(v) == VALUE_LEN
    secs = time.perf_counter() - t0
    db.close()
    return secs, found


class LsmlogLog:
    name = "lsmlog.Log"
    settings = 'durability="os": each batch handed to the OS with one write, no fsync'

    def __init__(self) -> None:
        import lsmlog

        want = os.environ.get("LSMLOG_BENCH_PYLIB")
        if want and not os.path.abspath(lsmlog.__file__).startswith(os.path.abspath(want) + os.sep):
            raise ImportError(f"imported lsmlog from {lsmlog.__file__}, not from the fresh build in {want}")
        self.m = lsmlog
        self.version = lsmlog.__version__

    def write_batches(self, path: str, data: Data) -> float:
        batches = data.batches
        t0 = time.perf_counter()
        with self.m.Log(path, durability="os") as log:
            for k, b in enumerate(batches):
                log.extend(b, timestamp=T0_MS + k)
        return time.perf_counter() - t0

    def append(self, path: str, data: Data, count: int) -> float:
        values = [data.value(i) for i in range(count)]
        t0 = time.perf_counter()
        with self.m.Log(path, durability="os") as log:
            for v in values:
                log.append(v)
        return time.perf_counter() - t0

    def scan(self, path: str) -> "tuple[float, int]":
        with self.m.Log(path, readonly=True) as log:
            count = 0
            t0 = time.perf_counter()
            for _rec in log.read():
                count += 1
            return time.perf_counter() - t0, count

    def scan_raw(self, path: str) -> "tuple[float, int]":
        """Diagnostic: the extension's iterator alone (tuples, no Record, no
        generator), to tell the binding's share of a read() from the Python
        layer's. A private interface: skipped if it is not there."""
        with self.m.Log(path, readonly=True) as log:
            count = 0
            t0 = time.perf_counter()
            for _t in log._raw.iter(start=0, stop=None, since=None, until=None):
                count += 1
            return time.perf_counter() - t0, count

    def gets(self, path: str, offs: List[int]) -> "tuple[float, int]":
        with self.m.Log(path, readonly=True) as log:
            found = 0
            t0 = time.perf_counter()
            for o in offs:
                found += len(log[o].value) == VALUE_LEN
            return time.perf_counter() - t0, found

    def ranges(self, path: str, ks: List[int]) -> "tuple[float, int]":
        with self.m.Log(path, readonly=True) as log:
            count = 0
            t0 = time.perf_counter()
            for k in ks:
                for _rec in log.read(since=T0_MS + k, until=T0_MS + k + 1):
                    count += 1
            return time.perf_counter() - t0, count


class LsmlogDB:
    name = "lsmlog.DB"
    settings = 'durability="os": each batch handed to the OS, no fsync; defaults'

    def __init__(self) -> None:
        import lsmlog

        if not hasattr(lsmlog, "DB"):
            raise ImportError("the installed lsmlog package has no DB class yet")
        self.m = lsmlog
        self.version = lsmlog.__version__

    def write_batches(self, path: str, data: Data) -> float:
        pairs = [[(key8(i * BATCH + j), v) for j, v in enumerate(b)] for i, b in enumerate(data.batches)]
        t0 = time.perf_counter()
        with self.m.DB(path, durability="os") as db:
            for batch in pairs:
                with db.batch() as wb:
                    for k, v in batch:
                        wb.put(k, v)
        return time.perf_counter() - t0

    def append(self, path: str, data: Data, count: int) -> float:
        pairs = [(key8(i), data.value(i)) for i in range(count)]
        t0 = time.perf_counter()
        with self.m.DB(path, durability="os") as db:
            for k, v in pairs:
                db.put(k, v)
        return time.perf_counter() - t0

    # Reads open a writer handle, as the key-value peers do (a read-only open
    # of a closed DB failed with EBUSY when this was written).
    def scan(self, path: str) -> "tuple[float, int]":
        with self.m.DB(path) as db:
            count = 0
            t0 = time.perf_counter()
            for _kv in db.items():
                count += 1
            return time.perf_counter() - t0, count

    def gets(self, path: str, offs: List[int]) -> "tuple[float, int]":
        keys = [key8(o) for o in offs]
        with self.m.DB(path) as db:
            found = 0
            t0 = time.perf_counter()
            for k in keys:
                found += len(db.get(k)) == VALUE_LEN
            return time.perf_counter() - t0, found

    def ranges(self, path: str, ks: List[int]) -> "tuple[float, int]":
        bounds = [(key8(k * BATCH), key8((k + 1) * BATCH)) for k in ks]
        with self.m.DB(path) as db:
            count = 0
            t0 = time.perf_counter()
            for lo, hi in bounds:
                for _kv in db.items(start=lo, stop=hi):
                    count += 1
            return time.perf_counter() - t0, count


class Sqlite:
    name = "sqlite3"
    settings = "journal_mode=WAL, synchronous=OFF (commits written to the WAL, no fsync); table log(off INTEGER PRIMARY KEY, ts, v)"

    def __init__(self, one_txn: bool = False) -> None:
        self.version = sqlite3.sqlite_version
        self.one_txn = one_txn
        if one_txn:
            self.name = "sqlite3 (1 txn)"
            self.settings = "as sqlite3, but all N rows in one executemany and one transaction (its best case)"

    @staticmethod
    def connect(path: str) -> sqlite3.Connection:
        os.makedirs(path, exist_ok=True)
        conn = sqlite3.connect(os.path.join(path, "log.sqlite"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("CREATE TABLE IF NOT EXISTS log(off INTEGER PRIMARY KEY, ts INTEGER NOT NULL, v BLOB NOT NULL)")
        return conn

    def write_batches(self, path: str, data: Data) -> float:
        rows = [[(T0_MS + k, v) for v in b] for k, b in enumerate(data.batches)]
        sql = "INSERT INTO log(ts, v) VALUES (?, ?)"
        if self.one_txn:
            flat = [r for b in rows for r in b]
            t0 = time.perf_counter()
            conn = self.connect(path)
            conn.execute("BEGIN")
            conn.executemany(sql, flat)
            conn.execute("COMMIT")
            conn.close()
            return time.perf_counter() - t0
        t0 = time.perf_counter()
        conn = self.connect(path)
        for b in rows:
            conn.execute("BEGIN")
            conn.executemany(sql, b)
            conn.execute("COMMIT")
        conn.close()
        return time.perf_counter() - t0

    def append(self, path: str, data: Data, count: int) -> float:
        rows = [(T0_MS, data.value(i)) for i in range(count)]
        t0 = time.perf_counter()
        conn = self.connect(path)
        for r in rows:
            conn.execute("INSERT INTO log(ts, v) VALUES (?, ?)", r)
        conn.close()
        return time.perf_counter() - t0

    def scan(self, path: str) -> "tuple[float, int]":
        conn = self.connect(path)
        count = 0
        t0 = time.perf_counter()
        for _row in conn.execute("SELECT off, ts, v FROM log ORDER BY off"):
            count += 1
        secs = time.perf_counter() - t0
        conn.close()
        return secs, count

    def gets(self, path: str, offs: List[int]) -> "tuple[float, int]":
        conn = self.connect(path)
        found = 0
        sql = "SELECT v FROM log WHERE off = ?"
        params = [(o + 1,) for o in offs]  # rowids start at 1
        t0 = time.perf_counter()
        for p in params:
            row = conn.execute(sql, p).fetchone()
            found += row is not None and len(row[0]) == VALUE_LEN
        secs = time.perf_counter() - t0
        conn.close()
        return secs, found

    def ranges(self, path: str, ks: List[int]) -> "tuple[float, int]":
        # rowids start at 1: batch k holds rows k*1000+1 .. (k+1)*1000
        conn = self.connect(path)
        count = 0
        sql = "SELECT off, ts, v FROM log WHERE off >= ? AND off < ? ORDER BY off"
        t0 = time.perf_counter()
        for k in ks:
            for _row in conn.execute(sql, (k * BATCH + 1, (k + 1) * BATCH + 1)):
                count += 1
        secs = time.perf_counter() - t0
        conn.close()
        return secs, count


class Lmdb:
    name = "py-lmdb"
    settings = "sync=False (MDB_NOSYNC: commits written, no fsync); one write txn per batch, putmulti(append=True)"

    def __init__(self) -> None:
        import lmdb

        self.m = lmdb
        self.version = "%s (LMDB %d.%d.%d)" % ((lmdb.__version__,) + lmdb.version())

    def env(self, path: str, n: int, readonly: bool = False) -> Any:
        return self.m.open(path, map_size=(1 << 30) + n * 1024, sync=False, readonly=readonly, lock=not readonly)

    def write_batches(self, path: str, data: Data) -> float:
        pairs = [[(key8(i * BATCH + j), v) for j, v in enumerate(b)] for i, b in enumerate(data.batches)]
        t0 = time.perf_counter()
        env = self.env(path, data.n)
        for batch in pairs:
            with env.begin(write=True) as txn:
                txn.cursor().putmulti(batch, append=True)
        env.close()
        return time.perf_counter() - t0

    def append(self, path: str, data: Data, count: int) -> float:
        pairs = [(key8(i), data.value(i)) for i in range(count)]
        t0 = time.perf_counter()
        env = self.env(path, count)
        for k, v in pairs:
            with env.begin(write=True) as txn:
                txn.put(k, v, append=True)
        env.close()
        return time.perf_counter() - t0

    def scan(self, path: str) -> "tuple[float, int]":
        env = self.env(path, 0, readonly=True)
        count = 0
        with env.begin() as txn:
            t0 = time.perf_counter()
            for _kv in txn.cursor():
                count += 1
            secs = time.perf_counter() - t0
        env.close()
        return secs, count

    def gets(self, path: str, offs: List[int]) -> "tuple[float, int]":
        keys = [key8(o) for o in offs]
        env = self.env(path, 0, readonly=True)
        found = 0
        with env.begin() as txn:
            t0 = time.perf_counter()
            for k in keys:
                v = txn.get(k)
                found += v is not None and len(v) == VALUE_LEN
            secs = time.perf_counter() - t0
        env.close()
        return secs, found

    def ranges(self, path: str, ks: List[int]) -> "tuple[float, int]":
        bounds = [(key8(k * BATCH), key8((k + 1) * BATCH)) for k in ks]
        env = self.env(path, 0, readonly=True)
        count = 0
        t0 = time.perf_counter()
        for lo, hi in bounds:
            with env.begin() as txn:
                cur = txn.cursor()
                if cur.set_range(lo):
                    for k, _v in cur:
                        if k >= hi:
                            break
                        count += 1
        secs = time.perf_counter() - t0
        env.close()
        return secs, count


class Plyvel:
    name = "plyvel"
    settings = "LevelDB, sync=False (each batch written to its log, no fsync); bloom 10 bits/key; defaults otherwise"

    def __init__(self) -> None:
        import plyvel

        self.m = plyvel
        self.version = "%s (LevelDB %s)" % (plyvel.__version__, plyvel.__leveldb_version__)

    def open(self, path: str) -> Any:
        return self.m.DB(path, create_if_missing=True, bloom_filter_bits=10)

    def write_batches(self, path: str, data: Data) -> float:
        pairs = [[(key8(i * BATCH + j), v) for j, v in enumerate(b)] for i, b in enumerate(data.batches)]
        t0 = time.perf_counter()
        db = self.open(path)
        for batch in pairs:
            with db.write_batch() as wb:
                for k, v in batch:
                    wb.put(k, v)
        db.close()
        return time.perf_counter() - t0

    def append(self, path: str, data: Data, count: int) -> float:
        pairs = [(key8(i), data.value(i)) for i in range(count)]
        t0 = time.perf_counter()
        db = self.open(path)
        for k, v in pairs:
            db.put(k, v)
        db.close()
        return time.perf_counter() - t0

    def scan(self, path: str) -> "tuple[float, int]":
        db = self.open(path)
        count = 0
        t0 = time.perf_counter()
        for _kv in db:
            count += 1
        secs = time.perf_counter() - t0
        db.close()
        return secs, count

    def gets(self, path: str, offs: List[int]) -> "tuple[float, int]":
        return kv_gets(self.open(path), offs)

    def ranges(self, path: str, ks: List[int]) -> "tuple[float, int]":
        bounds = [(key8(k * BATCH), key8((k + 1) * BATCH)) for k in ks]
        db = self.open(path)
        count = 0
        t0 = time.perf_counter()
        for lo, hi in bounds:
            for _kv in db.iterator(start=lo, stop=hi):
                count += 1
        secs = time.perf_counter() - t0
        db.close()
        return secs, count


class Rocksdict:
    name = "rocksdict"
    settings = "RocksDB, sync=False with the WAL on (each batch written to the WAL, no fsync); raw mode; bloom 10 bits/key"

    def __init__(self) -> None:
        import importlib.metadata

        import rocksdict

        self.m = rocksdict
        self.version = importlib.metadata.version("rocksdict")

    def open(self, path: str) -> Any:
        opt = self.m.Options(raw_mode=True)
        opt.create_if_missing(True)
        table = self.m.BlockBasedOptions()
        table.set_bloom_filter(10, False)
        opt.set_block_based_table_factory(table)
        return self.m.Rdict(path, opt)

    def write_batches(self, path: str, data: Data) -> float:
        pairs = [[(key8(i * BATCH + j), v) for j, v in enumerate(b)] for i, b in enumerate(data.batches)]
        t0 = time.perf_counter()
        db = self.open(path)
        for batch in pairs:
            wb = self.m.WriteBatch(raw_mode=True)
            for k, v in batch:
                wb.put(k, v)
            db.write(wb)
        db.close()
        return time.perf_counter() - t0

    def append(self, path: str, data: Data, count: int) -> float:
        pairs = [(key8(i), data.value(i)) for i in range(count)]
        t0 = time.perf_counter()
        db = self.open(path)
        for k, v in pairs:
            db.put(k, v)
        db.close()
        return time.perf_counter() - t0

    def scan(self, path: str) -> "tuple[float, int]":
        db = self.open(path)
        count = 0
        t0 = time.perf_counter()
        for _kv in db.items():
            count += 1
        secs = time.perf_counter() - t0
        db.close()
        return secs, count

    def gets(self, path: str, offs: List[int]) -> "tuple[float, int]":
        return kv_gets(self.open(path), offs)

    def ranges(self, path: str, ks: List[int]) -> "tuple[float, int]":
        bounds = [(key8(k * BATCH), key8((k + 1) * BATCH)) for k in ks]
        db = self.open(path)
        count = 0
        t0 = time.perf_counter()
        for lo, hi in bounds:
            it = db.iter()
            it.seek(lo)
            while it.valid() and it.key() < hi:
                it.value()
                count += 1
                it.next()
            del it
        secs = time.perf_counter() - t0
        db.close()
        return secs, count


STORES: List[Callable[[], Any]] = [
    LsmlogLog,
    LsmlogDB,
    Sqlite,
    lambda: Sqlite(one_txn=True),
    Lmdb,
    Plyvel,
    Rocksdict,
]
STORE_NAMES = ["lsmlog.Log", "lsmlog.DB", "sqlite3", "sqlite3 (1 txn)", "py-lmdb", "plyvel", "rocksdict"]

WORKLOADS = {
    "extend": "extend: N values, batches of 1,000 (open..close)",
    "append": "append: single values, one call each (open..close)",
    "scan": "full scan, fresh handle",
    "get": "get: random point reads, one call each",
    "range": "read 1,000 records at a random time/position",
    "scan_raw": "diagnostic: full scan, extension iterator alone",
}


# ---- running --------------------------------------------------------------------


def run_rep(store: Any, data: Data, args: argparse.Namespace, base: str, rep: int, res: Dict[str, List[Sample]]) -> None:
    """One repetition of every workload of one store; its samples go into res."""
    only_writes = getattr(store, "one_txn", False)
    print(f"  [{store.name} {rep + 1}/{args.reps}]", file=sys.stderr, flush=True)
    d = os.path.join(base, f"{store.name.replace(' ', '_')}-{rep}")
    rng = random.Random(args.seed + rep)
    syncfs(base)
    s = measure(lambda: store.write_batches(d + "-batches", data), d + "-batches")
    res["extend"].append(s)
    if not only_writes:
        n_scan = [0]

        def scan() -> float:
            secs, n_scan[0] = store.scan(d + "-batches")
            return float(secs)

        res["scan"].append(measure(scan, d + "-batches"))
        if n_scan[0] != data.n:
            raise RuntimeError(f"scan saw {n_scan[0]} records, expected {data.n}")
        ks = [rng.randrange(data.nbatches) for _ in range(args.ranges)]
        want = sum(len(data.batches[k]) for k in ks)
        n_range = [0]

        def ranges() -> float:
            secs, n_range[0] = store.ranges(d + "-batches", ks)
            return float(secs)

        res["range"].append(measure(ranges, d + "-batches"))
        if n_range[0] != want:
            raise RuntimeError(f"range reads saw {n_range[0]} records, expected {want}")
        offs = [rng.randrange(data.n) for _ in range(args.gets)]
        n_get = [0]

        def gets() -> float:
            secs, n_get[0] = store.gets(d + "-batches", offs)
            return float(secs)

        res["get"].append(measure(gets, d + "-batches"))
        if n_get[0] != len(offs):
            raise RuntimeError(f"gets found {n_get[0]} of {len(offs)} records")
        if hasattr(store, "scan_raw"):
            n_raw = [0]

            def scan_raw() -> float:
                secs, n_raw[0] = store.scan_raw(d + "-batches")
                return float(secs)

            try:
                s_raw = measure(scan_raw, d + "-batches")
            except (AttributeError, TypeError) as e:
                print(f"bench_python: diagnostic scan skipped: {e}", file=sys.stderr)
            else:
                if n_raw[0] == data.n:
                    res["scan_raw"].append(s_raw)
        syncfs(base)
        res["append"].append(measure(lambda: store.append(d + "-single", data, args.single), d + "-single"))
    shutil.rmtree(d + "-batches", ignore_errors=True)
    shutil.rmtree(d + "-single", ignore_errors=True)


def summarize(samples: List[Sample], ops: int) -> Dict[str, Any]:
    secs = statistics.median(s.seconds for s in samples)
    wbs = [s.write_bytes for s in samples if s.write_bytes is not None]
    return {
        "ops": ops,
        "seconds": secs,
        "ops_per_s": ops / secs,
        "us_per_op": secs * 1e6 / ops,
        "mb_per_s": ops * LOG_BYTES_PER_OP / secs / 1e6,
        "peak_rss_bytes": statistics.median(s.peak_rss for s in samples),
        "write_bytes": statistics.median(wbs) if wbs else None,
        "disk_bytes": statistics.median(s.disk_bytes for s in samples),
        "runs_seconds": [s.seconds for s in samples],
    }


def c_reference(path: Optional[str]) -> Dict[str, Any]:
    """The C core's figures for the same work, from bench_log's JSON."""
    if not path:
        return {}
    try:
        with open(path) as f:
            figs = json.load(f)["figures"]
    except (OSError, ValueError, KeyError) as e:
        print(f"bench_python: cannot read the C figures from {path}: {e}", file=sys.stderr)
        return {}
    out = {}
    if "os_batch_mrecs" in figs:
        out["extend_ns"] = 1e3 / figs["os_batch_mrecs"]["median"]
    if "os_scattered_batch_mbps" in figs:
        out["extend_scattered_ns"] = 1e3 / (figs["os_scattered_batch_mbps"]["median"] / VALUE_LEN)
    if "scan_ns_per_record" in figs:
        out["scan_ns"] = figs["scan_ns_per_record"]["median"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="values written in batches (default 1,000,000)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions, median printed (default 3)")
    ap.add_argument("--single", type=int, default=None, help="single appends (default min(N, 200,000))")
    ap.add_argument("--gets", type=int, default=None, help="random point reads (default min(N, 200,000))")
    ap.add_argument("--ranges", type=int, default=None, help="range reads of 1,000 records (default min(N/1000, 1,000))")
    ap.add_argument("--dir", default="/tmp", help="make the run's data directory under DIR")
    ap.add_argument("--json", help="also write the figures as JSON")
    ap.add_argument("--c-json", help="bench_log's JSON of the same run: the C figures for the goals")
    ap.add_argument("--store", action="append", choices=STORE_NAMES, help="run only this store (repeatable)")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SEED", "0") or 0) or 0x6C736D6C6F67)
    args = ap.parse_args()
    if args.n < BATCH or args.reps < 1:
        ap.error("--n must be >= 1000 and --reps >= 1")
    args.single = args.single or min(args.n, 200_000)
    args.ranges = args.ranges or min(args.n // BATCH, 1000)
    args.gets = args.gets or min(args.n, 200_000)

    base = tempfile.mkdtemp(prefix="lsmlog-pybench-", dir=args.dir)
    try:
        return run(args, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run(args: argparse.Namespace, base: str) -> int:
    t_start = time.perf_counter()
    data = Data(args.n, args.seed)
    print(f"bench_python — lsmlog from Python against the Python peers (one run; Python {sys.version.split()[0]})")
    try:
        import lsmlog

        print(f"  lsmlog {lsmlog.__version__} from {os.path.dirname(lsmlog.__file__)}")
    except ImportError:
        pass
    print(
        f"  N={args.n:,} values of {VALUE_LEN} random bytes in batches of {BATCH:,}; single appends={args.single:,};\n"
        f"  gets={args.gets:,}; range reads={args.ranges:,} x 1,000 records; {args.reps} runs each, median shown; MB/s counts payload bytes"
    )
    stores = []
    skipped = []
    for name, make in zip(STORE_NAMES, STORES):
        if args.store and name not in args.store:
            continue
        try:
            stores.append(make())
        except ImportError as e:
            skipped.append({"peer": name, "status": "skipped", "reason": str(e)})
            print(f"\n{name}: skipped: {e}")
    sys.stdout.flush()

    out_stores: List[Dict[str, Any]] = []
    results: Dict[str, Dict[str, Any]] = {}
    # Repetitions outside, stores inside, in alternating order: drift in the
    # machine's load (it is shared) hits every store alike.
    samples: Dict[str, Dict[str, List[Sample]]] = {st.name: {w: [] for w in WORKLOADS} for st in stores}
    failed: Dict[str, str] = {}
    for rep in range(args.reps):
        for st in stores if rep % 2 == 0 else stores[::-1]:
            if st.name in failed:
                continue
            try:
                run_rep(st, data, args, base, rep, samples[st.name])
            except Exception as e:  # a store that fails is reported, never given a figure
                failed[st.name] = f"{type(e).__name__}: {e}".splitlines()[0]
                print(f"bench_python: {st.name} FAILED: {failed[st.name]}", file=sys.stderr)
    failures = len(failed)
    for st in stores:
        if st.name in failed:
            print(f"\n{st.name} {st.version}: FAILED: {failed[st.name]}")
            out_stores.append({"peer": st.name, "status": "failed", "version": st.version, "settings": st.settings, "reason": failed[st.name]})
            continue
        res = samples[st.name]
        ops = {"extend": args.n, "append": args.single, "scan": args.n, "get": args.gets, "range": args.ranges * BATCH,
               "scan_raw": args.n}
        wl = {w: summarize(res[w], ops[w]) | {"label": WORKLOADS[w]} for w in WORKLOADS if res[w]}
        results[st.name] = wl
        out_stores.append({"peer": st.name, "status": "ran", "version": st.version, "settings": st.settings, "workloads": wl})
        print(f"\n{st.name} {st.version} — {st.settings}")
        print(f"  {'workload':<52} {'ops/s':>12} {'ns/op':>9} {'MB/s':>8} {'peak RSS':>9} {'written':>10} {'on disk':>9}")
        for w, r in wl.items():
            wb = "n/a" if r["write_bytes"] is None else f"{r['write_bytes'] / 2**20:.1f} MiB"
            print(
                f"  {r['label']:<52} {r['ops_per_s']:>12,.0f} {r['us_per_op'] * 1e3:>9.1f} {r['mb_per_s']:>8.1f}"
                f" {r['peak_rss_bytes'] / 2**20:>5.0f} MiB {wb:>10} {r['disk_bytes'] / 2**20:>5.0f} MiB"
            )
        sys.stdout.flush()

    # ---- goals ----
    goals: List[Dict[str, Any]] = []
    cref = c_reference(args.c_json)
    log = results.get("lsmlog.Log")

    def ratio_goal(text: str, ours: Optional[Dict[str, Any]], peer: str, w: str, target: float) -> None:
        """ours' rate over the peer's in workload w, with both per-record costs."""
        theirs = results.get(peer)
        if not ours or not theirs or w not in ours or w not in theirs:
            why = "lsmlog did not run" if not ours or w not in ours else f"{peer} did not run"
            goals.append({"layer": "Python", "goal": text, "value": None, "target": target, "unit": "x", "met": None,
                          "detail": why})
            return
        a, b = ours[w], theirs[w]
        value = a["ops_per_s"] / b["ops_per_s"]
        goals.append({"layer": "Python", "goal": text, "value": value, "target": target, "unit": "x",
                      "met": value >= target,
                      "detail": f"{a['us_per_op'] * 1e3:.0f} vs {b['us_per_op'] * 1e3:.0f} ns/record"})

    db = results.get("lsmlog.DB")
    ratio_goal("Log.extend (lists of 1,000) >= 1x py-lmdb putmulti", log, "py-lmdb", "extend", 1.0)
    ratio_goal("Log.extend (lists of 1,000) >= 3x plyvel WriteBatch", log, "plyvel", "extend", 3.0)
    ratio_goal("iterating Log.read() >= 1.2x py-lmdb cursor iteration", log, "py-lmdb", "scan", 1.2)
    ratio_goal("DB batch puts >= 1.5x plyvel WriteBatch", db, "plyvel", "extend", 1.5)
    ratio_goal("random DB.get >= 1.5x plyvel get", db, "plyvel", "get", 1.5)

    print("\nper-record cost, lsmlog.Log from Python" + (" vs the C core (bench_log, same run):" if cref else ":"))
    if log:
        for w, ck, label in (("extend", "extend_ns", "extend (batches of 1,000)"), ("append", None, "append (one call each)"),
                             ("scan", "scan_ns", "read() full scan"), ("scan_raw", None, "  of which the extension's iterator"),
                             ("get", None, "log[offset], random offsets"), ("range", None, "read(since, until), 1,000 records")):
            if w not in log:
                continue
            py_ns = log[w]["us_per_op"] * 1e3
            extra = ""
            if ck and ck in cref:
                extra = f"   C core {cref[ck]:.1f} ns/rec -> Python / C = {py_ns / cref[ck]:.2f}x"
                if ck == "extend_ns" and "extend_scattered_ns" in cref:
                    extra += f" (C with values scattered like objects: {cref['extend_scattered_ns']:.1f} ns, {py_ns / cref['extend_scattered_ns']:.2f}x)"
            print(f"  {label:<36} {py_ns:8.1f} ns/rec{extra}")
    if not cref:
        print("  (no C figures: pass bench_log's JSON with --c-json to compare with the C core)")
    print("\ngoals (issue #4):")
    for g in goals:
        verdict = "n/a (no figure)" if g["met"] is None else ("MET" if g["met"] else "NOT MET")
        val = "n/a" if g["value"] is None else f"{g['value']:.2f}{g['unit']}"
        print(f"  {g['goal']:<58} {val:>7} (target >= {g['target']}{g['unit']}; {g.get('detail', '')})  {verdict}")
    total = time.perf_counter() - t_start
    print(f"\ntotal run time {total:.1f} s")

    if args.json:
        doc = {
            "bench": "bench_python",
            "layer": "python",
            "python": sys.version.split()[0],
            "params": {"n": args.n, "reps": args.reps, "single": args.single, "ranges": args.ranges, "batch": BATCH,
                       "value_bytes": VALUE_LEN, "seed": args.seed},
            "c_reference_ns": cref,
            "peers": out_stores + skipped,
            "goals": goals,
            "total_seconds": total,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
