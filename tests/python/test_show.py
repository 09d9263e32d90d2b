"""to_pandas, repr and _repr_html_."""

from __future__ import annotations

import builtins
import sys
from pathlib import Path
from typing import Any

import pytest

from lsmlog import Log
from lsmlog._show import iso_ms

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def test_to_pandas_bytes(path: Path) -> None:
    pd = pytest.importorskip("pandas")
    with Log(path) as log:
        log.append(b"a", timestamp=T0)
        log.extend([b"b", b"c"], timestamp=T0 + 1000)
        df = log.to_pandas()
        assert list(df.columns) == ["offset", "timestamp", "value"]
        assert str(df["timestamp"].dtype) == "datetime64[ms]"
        assert str(df["offset"].dtype) == "int64"
        assert df["offset"].tolist() == [0, 1, 2]
        assert df["value"].tolist() == [b"a", b"b", b"c"]
        assert df["timestamp"].iloc[0] == pd.Timestamp("2023-11-14T22:13:20")
        assert df["timestamp"].iloc[2] == pd.Timestamp("2023-11-14T22:13:21")
        part = log.to_pandas(since=T0 + 1)
        assert part["offset"].tolist() == [1, 2]
        assert log.to_pandas(until=T0 + 1)["offset"].tolist() == [0]
        assert log.to_pandas(start=1, stop=2)["value"].tolist() == [b"b"]


def test_to_pandas_empty(log: Log) -> None:
    pytest.importorskip("pandas")
    df = log.to_pandas()
    assert len(df) == 0 and list(df.columns) == ["offset", "timestamp", "value"]
    assert str(df["timestamp"].dtype) == "datetime64[ms]"


def test_to_pandas_json_dicts_become_columns(path: Path) -> None:
    pytest.importorskip("pandas")
    with Log(path, codec="json") as log:
        log.append({"user": "ann", "n": 1}, timestamp=T0)
        log.append({"user": "bob", "n": 2, "extra": True, "offset": 99}, timestamp=T0 + 5)
        df = log.to_pandas()
        assert list(df.columns) == ["offset", "timestamp", "user", "n", "extra", "value.offset"]
        assert df["user"].tolist() == ["ann", "bob"]
        assert df["n"].tolist() == [1, 2]
        assert df["offset"].tolist() == [0, 1]
        assert df["value.offset"].iloc[1] == 99
        log.append([1, 2])  # not all dicts any more: one value column
        df = log.to_pandas()
        assert list(df.columns) == ["offset", "timestamp", "value"]
        assert df["value"].tolist()[2] == [1, 2]


def test_to_pandas_utf8(path: Path) -> None:
    pytest.importorskip("pandas")
    with Log(path, codec="utf-8") as log:
        log.extend(["x", "ÿ"])
        assert log.to_pandas()["value"].tolist() == ["x", "ÿ"]


def test_to_pandas_progress(log: Log) -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("tqdm")
    log.extend([b"a"] * 10)
    assert len(log.to_pandas(progress=True)) == 10


def test_to_pandas_without_pandas_says_how_to_get_it(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pandas(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "pandas", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ImportError, match=r"pip install 'lsmlog\[pandas\]'"):
        log.to_pandas()


def test_repr_shows_offsets_segments_sizes_and_times(path: Path) -> None:
    with Log(path, segment_bytes=4096) as log:
        assert "[0, 0)" in repr(log) and "no records" in repr(log)
        for i in range(100):
            log.append(b"." * 60, timestamp=T0 + i)
        log.truncate_before(50)
        st = log.stats()
        text = repr(log)
        assert text.startswith("<lsmlog.Log ") and str(path) in text
        assert f"[{st.start}, {st.end})" in text
        assert f"{st.end - st.start} records" in text
        assert f"{st.segments} segments" in text
        assert f"{st.bytes} bytes" in text
        assert st.first_timestamp is not None and st.max_timestamp is not None
        assert iso_ms(st.first_timestamp) in text and iso_ms(st.max_timestamp) in text
        assert "2023-11-14T22:13:20.099Z" in text
        html = log._repr_html_()
        assert html.startswith("<table>")
        for figure in (f"[{st.start}, {st.end})", str(st.segments), f"{st.bytes} bytes",
                       iso_ms(st.first_timestamp), iso_ms(st.max_timestamp)):
            assert figure in html
    assert "closed" in repr(log) and "closed" in log._repr_html_()


def test_repr_html_escapes_the_path(tmp_path: Path) -> None:
    p = tmp_path / "<b>&"
    with Log(p) as log:
        html = log._repr_html_()
        assert "<b>&" not in html and "&lt;b&gt;&amp;" in html


def test_repr_of_a_readonly_handle(path: Path) -> None:
    Log(path).close()
    with Log(path, readonly=True) as ro:
        assert "read-only" in repr(ro)
