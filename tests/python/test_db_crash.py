"""The DB across processes: SIGKILL of a writer in the middle of batches, a
read-only handle in another process following a writer."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Dict, List

import pytest

from lsmlog import DB

from conftest import SLOW, finish, spawn_child

WRITER = """
import random, sys, lsmlog
path, durability, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
# a small memtable: flushes and compactions run while batches are written
db = lsmlog.DB(path, durability=durability, memtable_bytes=128 << 10)
batch = 0
while True:
    n = rng.randint(2, 30)
    with db.batch() as b:
        for i in range(n):
            b.put(b"b%08d:%03d" % (batch, i), b"%d:%d:" % (batch, n) + b"x" * rng.randint(0, 2000))
        b.put(b"last", b"%d" % batch)
        if batch % 7 == 0 and batch:
            b.delete(b"b%08d:000" % (batch - 7))  # deletes belong to the batch too
    # acknowledged: the batch was committed
    sys.stdout.write("%d %d\\n" % (batch, n))
    sys.stdout.flush()
    batch += 1
"""


@pytest.mark.parametrize("durability", ["os", "sync"])
def test_sigkill_during_batches_keeps_every_acknowledged_batch_whole(durability: str, path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"seed {seed}")
    child = spawn_child(WRITER, str(path), durability, str(seed))
    assert child.stdout is not None
    acked: Dict[int, int] = {}
    deadline = time.monotonic() + 20 * SLOW
    while len(acked) < 400 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        b, n = map(int, line.split())
        acked[b] = n
    child.send_signal(signal.SIGKILL)
    rest, err = finish(child)
    for line in rest.splitlines():  # acknowledged before the kill landed
        parts = line.split()
        if len(parts) == 2:
            acked[int(parts[0])] = int(parts[1])
    assert child.returncode == -signal.SIGKILL, err
    assert len(acked) >= 50, f"the writer acknowledged only {len(acked)} batches: {err}"

    with DB(path) as db:
        found: Dict[int, List[int]] = {}
        sizes: Dict[int, int] = {}
        for key, value in db.items(prefix=b"b"):
            b, i = int(key[1:9]), int(key[10:])
            vb, n = map(int, value.split(b":")[:2])
            assert vb == b
            found.setdefault(b, []).append(i)
            sizes[b] = n
        last = int(db[b"last"])
        assert last >= max(acked)  # the newest batch there is at least the newest acknowledged
        assert max(found) == last
        for b in range(last + 1):
            # every batch up to the last one is there, and whole: its keys, less
            # the first one when a later batch there deleted it
            assert b in found, f"batch {b} is lost"
            expected = list(range(sizes[b]))
            deleted = b % 7 == 0 and b + 7 <= last
            assert found[b] == (expected[1:] if deleted else expected), f"batch {b} is partial"
        for b, n in acked.items():
            assert sizes[b] == n


READER = """
import sys, time, lsmlog
path, n = sys.argv[1], int(sys.argv[2])
with lsmlog.DB(path, readonly=True) as db:
    print("ready", flush=True)
    deadline = time.monotonic() + float(sys.argv[3])
    for i in range(n):
        while db.get(b"k%04d" % i) is None:
            if time.monotonic() > deadline:
                print("timeout at", i, flush=True)
                sys.exit(1)
            time.sleep(0.002)
    print("seen", len(db), db[b"k0000"].decode(), flush=True)
"""


def test_readonly_handle_in_another_process_sees_new_writes(path: Path) -> None:
    n = 300
    with DB(path, memtable_bytes=128 << 10) as db:
        db[b"k0000"] = b"first"
        child = spawn_child(READER, str(path), str(n), str(60 * SLOW))
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        for i in range(1, n):
            db[b"k%04d" % i] = b"v" * 500  # the small memtable rolls into tables
            if i == n // 2:
                db.compact()  # the tables the reader knows are replaced
        out, err = finish(child, 60)
        assert child.returncode == 0, out + err
        assert out.split() == ["seen", str(n), "first"], out + err
