"""``python -m lsmlog demo [DIR]``: the main job, end to end.

A producer streams simulated sensor readings (JSON) into a Log; a second
reader, with its own read-only handle, tails the Log as it grows and keeps
per-sensor aggregates (count, mean, min, max, last) in a DB, one
read-modify-write per event. At the end the aggregates are checked against
the producer's own, the DB is compacted, and a summary with throughputs is
printed. A few seconds in all.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional

from ._db import DB
from ._log import Log
from ._show import human_bytes

BATCH = 100  # events per Log append (one batch: one write)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="stream sensor events into a Log, aggregate them into a DB, print throughputs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", nargs="?", help="where to put the data (default: a new temporary directory)")
    p.add_argument("--events", type=int, default=100_000, help="at most this many events (default 100000)")
    p.add_argument("--seconds", type=float, default=3.0, help="produce for at most this long (default 3)")
    p.add_argument("--sensors", type=int, default=16, help="number of simulated sensors (default 16)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    p.set_defaults(run=run)


def _new_agg(value: float) -> Dict[str, Any]:
    return {"count": 0, "sum": 0.0, "min": value, "max": value, "last": value}


def _fold(agg: Dict[str, Any], value: float) -> None:
    agg["count"] += 1
    agg["sum"] += value
    if value < agg["min"]:
        agg["min"] = value
    if value > agg["max"]:
        agg["max"] = value
    agg["last"] = value


class _Consumer(threading.Thread):
    """The second reader: tails the Log from offset 0 and folds each event
    into its sensor's aggregate in the DB."""

    def __init__(self, log_path: str, db: DB) -> None:
        super().__init__(name="lsmlog-demo-consumer", daemon=True)
        self.log_path = log_path
        self.db = db
        self.total: Optional[int] = None  # set by the producer when it is done
        self.read = 0
        self.updates = 0
        self.first_at = 0.0
        self.last_at = 0.0
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            self._consume()
        except BaseException as e:  # reported by the main thread
            self.error = e

    def _consume(self) -> None:
        db = self.db
        with Log(self.log_path, readonly=True, codec="json") as log:
            next_off = 0
            while self.total is None or next_off < self.total:
                for rec in log.tail(start=next_off, timeout=0.2):
                    if self.read == 0:
                        self.first_at = time.perf_counter()
                    ev = rec.value
                    key = ev["sensor"]
                    agg = db.get(key)
                    if agg is None:
                        agg = _new_agg(ev["temp"])
                    _fold(agg, ev["temp"])
                    db[key] = agg
                    self.read += 1
                    self.updates += 1
                    next_off = rec.offset + 1
                    if self.total is not None and next_off >= self.total:
                        break
        self.last_at = time.perf_counter()


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s" if seconds > 0 else "-"


def run(args: argparse.Namespace) -> int:
    if args.events < 1 or args.sensors < 1 or args.seconds <= 0:
        print("demo: --events and --sensors must be >= 1, --seconds > 0")
        return 2
    base = args.dir or tempfile.mkdtemp(prefix="lsmlog-demo-")
    log_path = os.path.join(base, "events")
    db_path = os.path.join(base, "aggregates")
    if os.path.exists(log_path) or os.path.exists(db_path):
        print(f"demo: {base} already holds a demo run (events/, aggregates/): pick a new directory")
        return 2
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    sensors = [f"sensor-{i:02d}" for i in range(args.sensors)]
    temps = {s: rng.uniform(15.0, 25.0) for s in sensors}
    truth: Dict[str, Dict[str, Any]] = {}

    print(f"lsmlog demo: {args.sensors} sensors, up to {args.events:,} events or {args.seconds:g} s, seed {seed}")
    print(f"  data in {base}")
    with Log(log_path, codec="json") as log, DB(db_path, key_codec="utf-8", value_codec="json") as db:
        consumer = _Consumer(log_path, db)
        consumer.start()

        # the producer: batches of readings, a random walk per sensor
        produced = 0
        t0 = time.perf_counter()
        deadline = t0 + args.seconds
        while produced < args.events and time.perf_counter() < deadline:
            now_ms = int(time.time() * 1000)
            events: List[Dict[str, Any]] = []
            for _ in range(min(BATCH, args.events - produced)):
                s = sensors[rng.randrange(len(sensors))]
                temps[s] += rng.gauss(0.0, 0.3)
                value = round(temps[s], 3)
                events.append({"sensor": s, "seq": produced, "t": now_ms, "temp": value})
                agg = truth.setdefault(s, _new_agg(value))
                _fold(agg, value)
                produced += 1
            log.extend(events)
        produce_s = time.perf_counter() - t0
        consumer.total = produced  # the consumer stops once it has read them all
        consumer.join(120)
        if consumer.is_alive() or consumer.error is not None:
            print(f"demo: the tailing reader failed: {consumer.error or 'it did not finish'}")
            return 1
        read_s = consumer.last_at - consumer.first_at
        total_s = consumer.last_at - t0

        # check the DB against the producer's own aggregates
        ok = consumer.read == produced and set(db.keys()) == set(truth)
        with db.snapshot() as snap:
            for s, want in truth.items():
                got = snap.get(s)
                ok = ok and got is not None and got["count"] == want["count"] and got["last"] == want["last"]
                ok = ok and got["min"] == want["min"] and got["max"] == want["max"]
                ok = ok and abs(got["sum"] - want["sum"]) < 1e-6 * max(1.0, abs(want["sum"]))
        db.compact()
        st = db.stats()
        lst = log.stats()

        print()
        print(f"  appended  {produced:>9,} events in {produce_s:6.2f} s  {_rate(produced, produce_s):>12}"
              f"  (Log batches of {BATCH}, {human_bytes(lst.bytes)} in {lst.segments} segment(s))")
        print(f"  tailed    {consumer.read:>9,} events in {read_s:6.2f} s  {_rate(consumer.read, read_s):>12}"
              f"  (a second, read-only handle)")
        print(f"  DB        {consumer.updates:>9,} updates           {_rate(consumer.updates, read_s):>12}"
              f"  (a get and a put per event; write amplification {st['write_amplification']:.2f})")
        print(f"  end to end {total_s:.2f} s")
        print()
        print(f"  {'sensor':<10} {'count':>7} {'mean':>8} {'min':>8} {'max':>8} {'last':>8}")
        for s in sorted(truth)[:8]:
            a = db[s]
            print(f"  {s:<10} {a['count']:>7,} {a['sum'] / a['count']:>8.2f} {a['min']:>8.2f} {a['max']:>8.2f} {a['last']:>8.2f}")
        if len(truth) > 8:
            print(f"  ... and {len(truth) - 8} more sensors")
        print()
        print(f"  {log!r}")
        print(f"  {db!r}")
        print()
        if ok:
            print(f"check: the DB's aggregates match the stream ({len(truth)} sensors, {produced:,} events): OK")
            return 0
        print("check: the DB's aggregates do NOT match the stream: FAILED")
        return 1
