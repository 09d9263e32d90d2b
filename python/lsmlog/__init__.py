"""lsmlog: an embedded storage library in C, for Python.

``Log`` is an append-only, segmented record log in a directory (a Kafka
partition, a Kinesis shard, a Redis Stream): dense offsets, millisecond
timestamps, reads by offset or by time, tailing from this or another process,
retention by size or age.

``DB`` is an LSM key-value store in a directory (RocksDB / LevelDB style): a
``MutableMapping`` of bytes (or, through codecs, any objects) with ordered
range scans, atomic write batches, snapshots, TTLs and compaction.

See docs/python.md.
"""

from . import _lsmlog
from ._db import DB, DBItemsView, DBKeysView, DBValuesView, Snapshot, WriteBatch
from ._log import Log, LogStats, Record, RecordIterator, Recovery
from ._lsmlog import CorruptionError, Error, LockedError, ReadOnlyError
from .codecs import Codec

__version__: str = _lsmlog.VERSION

__all__ = [
    "Log",
    "Record",
    "RecordIterator",
    "Recovery",
    "LogStats",
    "DB",
    "Snapshot",
    "WriteBatch",
    "DBKeysView",
    "DBItemsView",
    "DBValuesView",
    "Codec",
    "Error",
    "CorruptionError",
    "LockedError",
    "ReadOnlyError",
    "__version__",
]
