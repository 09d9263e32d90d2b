"""Code that mypy --strict must reject (test_typing.py checks each line is flagged)."""

from __future__ import annotations

from lsmlog import DB, Log

log = Log("x")
log.append(b"v", timestamp="now")  # E: timestamp
log.read(start="0")  # E: start
n: str = log.end  # E: end is an int
log.tail(timeout="5")  # E: timeout
Log("x", durability=1)  # E: durability

db = DB("y")
DB("y", memtable_bytes="4M")  # E: memtable_bytes
db.put(b"k", b"v", ttl="60")  # E: ttl
db.compact(progress=3)  # E: progress
st: str = db.stats()  # E: stats is a dict
db.keys(reverse="yes")  # E: reverse
