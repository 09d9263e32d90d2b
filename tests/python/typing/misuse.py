"""Code that mypy --strict must reject (test_typing.py checks each line is flagged)."""

from __future__ import annotations

from lsmlog import Log

log = Log("x")
log.append(b"v", timestamp="now")  # E: timestamp
log.read(start="0")  # E: start
n: str = log.end  # E: end is an int
log.tail(timeout="5")  # E: timeout
Log("x", durability=1)  # E: durability
