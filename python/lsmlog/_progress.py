"""Progress bars (tqdm is optional): the one place that imports it."""

from __future__ import annotations

from typing import Any, Callable, List, Tuple


def tqdm_class() -> Any:
    """``tqdm.auto.tqdm`` (a terminal bar, or a widget in a notebook), or an
    ImportError that says what to install."""
    try:
        from tqdm.auto import tqdm  # type: ignore[import, unused-ignore]
    except ImportError as e:
        raise ImportError(
            "progress=True needs tqdm: pip install 'lsmlog[progress]' (or pip install tqdm)"
        ) from e
    return tqdm


def bytes_bar(desc: str) -> Tuple[Callable[[int, int], None], Callable[[], None]]:
    """A bar counting bytes: ``(update(done, total), close())``. The bar
    appears at the first update, with the total known by then; the total may
    change as the work goes (a compaction finds out what it has to read)."""
    tqdm = tqdm_class()  # an ImportError now, before any work starts
    bars: List[Any] = []

    def update(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc))
        bar = bars[0]
        if total != bar.total:
            bar.total = total
        bar.update(done - bar.n)

    def close() -> None:
        for bar in bars:
            bar.close()

    return update, close
