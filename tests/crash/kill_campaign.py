#!/usr/bin/env python3
"""Kill campaign: SIGKILL a writer at random moments, reopen, verify.

For each durability ("os" and "sync": both promise to survive kill -9), the
campaign starts a writer process (crash_log_writer, tests/crash/log_writer.c)
on one log directory, lets it append for a random 0-40 ms after it reports
ready (or kills it 0-15 ms after its start, while it is still opening: a kill
during recovery), SIGKILLs it, and then:

  * reads the last whole line the writer printed: the end of what it had
    acknowledged (each line is printed after the append returned);
  * runs the verifier (crash_log_writer verify), which opens the log as a
    writer (recovery cuts a torn tail) and checks every record since the
    previous round: dense offsets, the value and timestamp that are a pure
    function of the offset;
  * checks that the recovered end is at least the acknowledged end: an
    acknowledged record lost is a failure.

The next round's writer continues from the recovered end. At the end the
verifier checks the whole log (and lsmlog_log_verify), and this script parses
the segment files itself (docs/format-log.md): every batch header and its
CRC32C, dense offsets from start to end, and the values of a sample of records
(every record at a kill boundary and one in 97), independently of the
library's reader.

Prints kills, records verified, records lost (must be 0; exit 1 otherwise).

Stores: the Log (default) and, with --store db, the DB (crash_db_writer,
tests/crash/db_writer.c: numbered atomic batches; see DbStore). Each is a
Store class: a writer that prints what it acknowledged, a verifier, and an
independent check; the loop is the same.

Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import os
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple, Type

BASE_TS = 1600000000000
SEG_HEADER = 40
BATCH_HEADER = 32
MAGIC = b"lsmlogSG"


# ---- the records: the same pure function of the offset as log_writer.c ------------

def value_for(off: int) -> bytes:
    length = (off * 7 + 3) % 101
    pat = struct.pack("<QQ", off, (off * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
    return (pat * (length // 16 + 1))[:length]


def ts_for(off: int) -> int:
    return BASE_TS + off


# ---- CRC32C (Castagnoli), masked as in LevelDB ------------------------------------

def _crc_table() -> List[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def unmask(m: int) -> int:
    rot = (m - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def varint(buf: bytes, pos: int) -> Tuple[int, int]:
    v = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, pos
        shift += 7


# ---- stores ------------------------------------------------------------------------

class Store:
    """What the campaign needs from a store. Subclass it for another store."""

    name = "?"
    durabilities: Tuple[str, ...] = ()

    def __init__(self, build_dir: str, args: argparse.Namespace) -> None:
        self.build_dir = build_dir
        self.args = args

    def writer_cmd(self, path: str, durability: str, seed: int) -> List[str]:
        raise NotImplementedError

    def parse_ack(self, line: str) -> Optional[int]:
        """The acknowledged end a writer's output line reports, or None."""
        raise NotImplementedError

    def verify(self, path: str, durability: str, since: int, full: bool) -> Dict[str, int]:
        """Recovers and checks; returns at least {"end", "checked"}. Raises on damage."""
        raise NotImplementedError

    def independent_check(self, path: str, start: int, end: int, sample: List[int]) -> int:
        """Checks the files without the library; returns records checked."""
        raise NotImplementedError


class LogStore(Store):
    name = "log"
    durabilities = ("os", "sync")

    def _bin(self) -> str:
        path = os.path.join(self.build_dir, "crash_log_writer")
        if not os.path.exists(path):
            sys.exit(f"kill_campaign: {path} not found; build it (cmake --build {self.build_dir} "
                     f"--target crash_log_writer)")
        return path

    def writer_cmd(self, path: str, durability: str, seed: int) -> List[str]:
        return [self._bin(), "write", path, durability, str(self.args.segment_bytes), str(seed)]

    def parse_ack(self, line: str) -> Optional[int]:
        if line.startswith("ready"):
            return int(line.split()[2])
        if line.startswith("BAD"):
            raise RuntimeError(f"writer: {line}")
        return int(line)

    def verify(self, path: str, durability: str, since: int, full: bool) -> Dict[str, int]:
        cmd = [self._bin(), "verify", path, durability, str(self.args.segment_bytes), str(since)]
        if full:
            cmd.append("full")
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=120)
        text = out.stdout.strip()
        if out.returncode != 0 or not text.startswith("start="):
            raise RuntimeError(f"verifier ({' '.join(cmd)}): exit {out.returncode}: {text}")
        return {k: int(v) for k, v in (kv.split("=") for kv in text.split())}

    def independent_check(self, path: str, start: int, end: int, sample: List[int]) -> int:
        names = sorted(n for n in os.listdir(path) if n.endswith(".log") and len(n) == 24)
        want = sorted(set(o for o in sample if start <= o < end))
        wi = 0  # the next sampled offset to look for
        expect = start
        checked = 0
        for name in names:
            base = int(name[:20])
            with open(os.path.join(path, name), "rb") as f:
                buf = f.read()
            if len(buf) < SEG_HEADER or buf[:8] != MAGIC:
                raise RuntimeError(f"{name}: bad segment header")
            if struct.unpack_from("<Q", buf, 16)[0] != base:
                raise RuntimeError(f"{name}: header base differs from the name")
            if base != expect and not (expect == start and base <= start):
                raise RuntimeError(f"{name}: starts at {base}, {expect} was due")
            pos = SEG_HEADER
            while pos < len(buf):
                if pos + BATCH_HEADER > len(buf):
                    raise RuntimeError(f"{name}: batch header cut off at {pos} after recovery")
                hcrc, body_len, bbase, first_ts, count, _bcrc = struct.unpack_from("<IIQqII", buf, pos)
                if unmask(hcrc) != crc32c(buf[pos + 4:pos + BATCH_HEADER]):
                    raise RuntimeError(f"{name}: batch header checksum at byte {pos}")
                if bbase != expect:
                    raise RuntimeError(f"{name}: batch at byte {pos} has offset {bbase}, {expect} was due")
                body = pos + BATCH_HEADER
                if body + body_len > len(buf):
                    raise RuntimeError(f"{name}: batch at byte {pos} runs past the file")
                while wi < len(want) and want[wi] < bbase:
                    wi += 1
                if wi < len(want) and want[wi] < bbase + count:
                    p, lens, deltas = body, [], []
                    for _ in range(count):
                        zz, p = varint(buf, p)
                        ln, p = varint(buf, p)
                        deltas.append((zz >> 1) ^ -(zz & 1))
                        lens.append(ln)
                    for i in range(count):
                        if wi < len(want) and want[wi] == bbase + i:
                            v = buf[p:p + lens[i]]
                            if v != value_for(bbase + i) or first_ts + deltas[i] != ts_for(bbase + i):
                                raise RuntimeError(f"{name}: record {bbase + i} is not what was written")
                            checked += 1
                            wi += 1
                        p += lens[i]
                expect = bbase + count
                pos = body + body_len
        if expect != end:
            raise RuntimeError(f"the segments end at offset {expect}, the log at {end}")
        return checked


class DbStore(Store):
    """The DB (crash_db_writer, tests/crash/db_writer.c): the writer writes
    numbered atomic batches (puts of keys that are a function of the batch
    number, a delete 20 batches back, and "last" = the number) and prints how
    many are acknowledged; the verifier reopens the DB as a writer and checks
    every batch since the previous round whole, the next one wholly absent,
    and, at the end, every batch and a full scan. Records here are batches."""

    name = "db"
    durabilities = ("os", "sync")

    def _bin(self) -> str:
        path = os.path.join(self.build_dir, "crash_db_writer")
        if not os.path.exists(path):
            sys.exit(f"kill_campaign: {path} not found; build it (cmake --build {self.build_dir} "
                     f"--target crash_db_writer)")
        return path

    def writer_cmd(self, path: str, durability: str, seed: int) -> List[str]:
        return [self._bin(), "write", path, durability, str(seed)]

    parse_ack = LogStore.parse_ack

    def verify(self, path: str, durability: str, since: int, full: bool) -> Dict[str, int]:
        cmd = [self._bin(), "verify", path, durability, str(since)]
        if full:
            cmd.append("full")
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=120)
        text = out.stdout.strip()
        if out.returncode != 0 or not text.startswith("start="):
            raise RuntimeError(f"verifier ({' '.join(cmd)}): exit {out.returncode}: {text}")
        return {k: int(v) for k, v in (kv.split("=") for kv in text.split())}

    def independent_check(self, path: str, start: int, end: int, sample: List[int]) -> int:
        return 0  # the verifier's full scan is the whole-DB check; no parser of tables here


STORES: Dict[str, Type[Store]] = {"log": LogStore, "db": DbStore}


# ---- the campaign ------------------------------------------------------------------

def kill_once(store: Store, path: str, durability: str, rng: random.Random,
              max_delay_ms: float) -> Tuple[int, bool, float]:
    """Runs one writer and SIGKILLs it. Returns (acknowledged end or -1, whether
    it was killed while still opening, ms it ran)."""
    proc = subprocess.Popen(store.writer_cmd(path, durability, rng.getrandbits(63)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    t0 = time.monotonic()
    early = rng.random() < 0.15
    deadline = t0 + (rng.uniform(0, 0.015) if early else 10.0)
    buf = b""
    ready = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            break
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break  # the writer ended by itself: the output says why
        buf += chunk
        if not ready and b"\n" in buf:
            ready = True
            if not early:
                deadline = time.monotonic() + rng.uniform(0, max_delay_ms / 1000.0)
    ran = (time.monotonic() - t0) * 1000
    proc.send_signal(signal.SIGKILL)
    rest = proc.stdout.read()
    proc.wait()
    buf += rest
    if proc.returncode != -signal.SIGKILL:
        raise RuntimeError(f"writer ended with {proc.returncode} before the kill: {buf[-300:]!r}")
    lines = buf.split(b"\n")[:-1]  # whole lines only
    acked = -1
    for line in lines[-2:]:
        v = store.parse_ack(line.decode())
        if v is not None:
            acked = max(acked, v)
    return acked, not ready, ran


def campaign(store: Store, durability: str, kills: int, rng: random.Random, root: str,
             max_delay_ms: float) -> Dict[str, int]:
    path = os.path.join(root, f"{store.name}-{durability}")
    stats = {"kills": 0, "verified": 0, "lost": 0, "early": 0, "cut": 0, "acked": 0}
    prev_end = 0
    boundaries: List[int] = []
    for k in range(kills):
        acked, early, _ran = kill_once(store, path, durability, rng, max_delay_ms)
        stats["kills"] += 1
        stats["early"] += early
        res = store.verify(path, durability, prev_end, full=False)
        end = res["end"]
        if acked > end:
            stats["lost"] += acked - end
            print(f"  {durability} kill {k}: acknowledged up to {acked}, recovered end {end}",
                  file=sys.stderr)
        stats["verified"] += res["checked"]
        stats["cut"] += res.get("truncated", 0) > 0
        stats["acked"] = max(stats["acked"], acked)
        boundaries += [o for o in (prev_end, acked - 1, end - 1) if o >= 0]
        prev_end = end
    res = store.verify(path, durability, 0, full=True)
    sample = boundaries + list(range(res["start"], res["end"], 97))
    stats["independent"] = store.independent_check(path, res["start"], res["end"], sample)
    stats["end"] = res["end"]
    return stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=200, help="kills in all, split over the durabilities")
    ap.add_argument("--build-dir", default="build", help="where crash_log_writer was built")
    ap.add_argument("--store", choices=sorted(STORES), default="log")
    ap.add_argument("--seed", type=int, default=None, help="replay a run (printed at start)")
    ap.add_argument("--segment-bytes", type=int, default=256 * 1024)
    ap.add_argument("--max-delay-ms", type=float, default=40.0)
    ap.add_argument("--keep", action="store_true", help="keep the log directories")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 40)
    print(f"kill_campaign: store={args.store} kills={args.kills} seed={seed} (rerun with --seed {seed})")
    sys.stdout.flush()
    rng = random.Random(seed)
    store = STORES[args.store](args.build_dir, args)
    root = tempfile.mkdtemp(prefix="lsmlog_kill_")
    t0 = time.monotonic()
    total = {"kills": 0, "verified": 0, "lost": 0, "independent": 0}
    failed = False
    try:
        durs = store.durabilities
        for i, dur in enumerate(durs):
            n = args.kills // len(durs) + (1 if i < args.kills % len(durs) else 0)
            t1 = time.monotonic()
            try:
                s = campaign(store, dur, n, rng, root, args.max_delay_ms)
            except RuntimeError as e:
                print(f"kill_campaign: {dur}: FAILED: {e}", file=sys.stderr)
                failed = True
                continue
            print(f"  {dur}: {s['kills']} kills ({s['early']} while opening), {s['verified']} records "
                  f"verified, {s['lost']} acknowledged records lost, {s['cut']} recoveries cut a torn "
                  f"tail, log end {s['end']}, {s['independent']} records checked from the files "
                  f"directly; {time.monotonic() - t1:.1f} s")
            for key in ("kills", "verified", "lost", "independent"):
                total[key] += s[key]
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"kill_campaign: {total['kills']} kills, {total['verified']} records verified, "
          f"{total['lost']} records lost, {time.monotonic() - t0:.1f} s")
    if total["lost"] or failed:
        print("kill_campaign: FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
