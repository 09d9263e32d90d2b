"""One DB used by many threads: four writers and a reader at once."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import List

from lsmlog import DB

from conftest import SLOW

WRITERS = 4
ROUNDS = 400


def test_four_writers_and_a_reader(path: Path) -> None:
    errors: List[BaseException] = []
    done = threading.Event()
    checks = {"snapshots": 0, "scans": 0}

    with DB(path, memtable_bytes=128 << 10) as db:

        def writer(w: int) -> None:
            try:
                for j in range(ROUNDS):
                    with db.batch() as b:  # a pair that must always agree, plus one new key
                        b.put(b"w%d:a" % w, b"%d" % j)
                        b.put(b"w%d:k%06d" % (w, j), b"." * 300)
                        b.put(b"w%d:z" % w, b"%d" % j)
                    if j % 50 == 0:
                        db.put(b"ttl%d" % w, b"x", ttl=30)
            except BaseException as e:
                errors.append(e)

        def reader() -> None:
            try:
                while not done.is_set():
                    with db.snapshot() as snap:
                        for w in range(WRITERS):
                            a, z = snap.get(b"w%d:a" % w), snap.get(b"w%d:z" % w)
                            assert a == z, (w, a, z)  # a batch is seen whole or not at all
                            if a is not None:
                                # every key of the batches up to this one, under the snapshot
                                n = len(snap.keys(prefix=b"w%d:k" % w))
                                assert n == int(a) + 1, (w, n, a)
                    checks["snapshots"] += 1
                    keys = list(db.keys())
                    assert keys == sorted(keys)
                    checks["scans"] += 1
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
        rt = threading.Thread(target=reader)
        rt.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120 * SLOW)
        time.sleep(0.05)
        done.set()
        rt.join(120 * SLOW)
        assert not errors, errors
        assert checks["snapshots"] > 0 and checks["scans"] > 0
        for w in range(WRITERS):
            assert db[b"w%d:a" % w] == db[b"w%d:z" % w] == b"%d" % (ROUNDS - 1)
            assert len(db.keys(prefix=b"w%d:k" % w)) == ROUNDS
        assert db.stats()["last_seq"] >= WRITERS * ROUNDS * 3
