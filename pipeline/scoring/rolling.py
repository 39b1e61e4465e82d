"""Running window totals, kept in step with the counter table, so a score costs no table scan.

The table stays the truth (it is what survives a restart); this cache only saves re-summing
every bucket of every window on each message. An entry is valid while the window's bucket range
is the same; when time moves into a new bucket, or after a rebalance, it is read afresh.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from pipeline.scoring.windows import WindowSpec, bucket_starts, window_totals

logger = logging.getLogger(__name__)


class RollingTotals:
    """Per (location, window): the first bucket of the range it covers, and its totals.

    >>> w = WindowSpec("2m", 120, 30)
    >>> table = {"x|2m|960|csat_n": 2}
    >>> rt = RollingTotals((w,))
    >>> rt.totals(lambda k: table.get(k, 0), "x", w, 1000, ("csat_n",))["csat_n"]
    2
    >>> table["x|2m|990|csat_n"] = 1; rt.add("x", "2m", 990, "csat_n", 1)
    >>> rt.totals(lambda k: table.get(k, 0), "x", w, 1000, ("csat_n",))["csat_n"]
    3
    >>> rt.totals(lambda k: table.get(k, 0), "x", w, 1080, ("csat_n",))["csat_n"]  # 960 has left
    1
    """

    def __init__(self, windows: Iterable[WindowSpec]) -> None:
        self.windows = {w.name: w for w in windows}
        self._cache: dict[tuple[str, str], tuple[int, int, dict[str, int]]] = {}

    def totals(self, get: Callable[[str], int], location: str, window: WindowSpec, now: float,
               fields: tuple[str, ...]) -> dict[str, int]:  # fmt: skip
        starts = bucket_starts(window, now)
        first, last = starts[0], starts[-1]
        entry = self._cache.get((location, window.name))
        if entry is None or entry[0] != first or not all(f in entry[2] for f in fields):
            entry = (first, last, window_totals(get, location, window, now, fields))
            self._cache[(location, window.name)] = entry
        return entry[2]

    def add(self, location: str, window: str, bucket_start: int, field: str, delta: int) -> None:
        """An increment the table just took: count it if its bucket is in the cached range."""
        entry = self._cache.get((location, window))
        if entry is not None and entry[0] <= bucket_start <= entry[1] and field in entry[2]:
            entry[2][field] += delta

    def clear(self) -> None:
        """Forget everything: after a rebalance the table may hold other values."""
        self._cache.clear()
