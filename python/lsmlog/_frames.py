"""Log.to_pandas: records into a pandas DataFrame (pandas is optional)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, List, Optional

from ._progress import tqdm_class

if TYPE_CHECKING:
    import pandas  # type: ignore[import, unused-ignore]

    from ._log import Log, Record


def _with_progress(records: Iterable["Record"], total: Optional[int]) -> Iterable["Record"]:
    return tqdm_class()(records, total=total, unit="rec", desc="lsmlog")  # type: ignore[no-any-return]


def to_pandas(
    log: "Log",
    since: Optional[int],
    until: Optional[int],
    start: int,
    stop: Optional[int],
    progress: bool,
) -> "pandas.DataFrame":
    records: Iterable[Record] = log.read(start, stop, since=since, until=until)  # checks arguments first
    try:
        import numpy as np
        import pandas as pd
    except ImportError as e:
        raise ImportError(
            "Log.to_pandas() needs pandas and numpy: pip install 'lsmlog[pandas]' (or pip install pandas)"
        ) from e
    if progress:
        total = None
        if since is None and until is None:
            lo, hi = log.start, log.end
            total = max(0, (hi if stop is None else min(stop, hi)) - max(start, lo))
        records = _with_progress(records, total)
    offsets: List[int] = []
    stamps: List[int] = []
    values: List[Any] = []
    for rec in records:
        offsets.append(rec.offset)
        stamps.append(rec.timestamp)
        values.append(rec.value)
    frame = pd.DataFrame(
        {
            "offset": np.asarray(offsets, dtype=np.int64),
            "timestamp": np.asarray(stamps, dtype=np.int64).astype("datetime64[ms]"),
        }
    )
    if values and log._is_json() and all(isinstance(v, dict) for v in values):
        columns = pd.DataFrame.from_records(values)
        # a key named like one of ours keeps its value under "value.<key>"
        columns = columns.rename(columns={c: f"value.{c}" for c in columns.columns if c in ("offset", "timestamp")})
        return pd.concat([frame, columns], axis=1)
    column = np.empty(len(values), dtype=object)
    column[:] = values
    frame["value"] = column
    return frame
