"""A location's rolling counters as one table value, marked with the last source record taken.

One key per location (not one per counter): a feedback's 6-10 counter updates are one
changelog record, and a batch of records writes each location it touched once. The value is
`{"p": partition, "o": offset, "b": [[window, field, bucket_start, count], ...]}`; the mark
(`p`, `o`) and the counts move together, so a record replayed after a crash is not counted
again (`add_once`), whatever was written before the kill.

A location's records all come from one partition (`feedback.raw` is keyed by location), so
one mark per location is enough; a record from another partition (the topic was
repartitioned) is added and moves the mark. Expired buckets are dropped when the location is
written, so a location holds at most its windows' buckets (46 per field by default).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pipeline.scoring.windows import WindowSpec, bucket_start

logger = logging.getLogger(__name__)

Increment = tuple[str, str, int, int]  # (window, field, bucket_start, delta)


class LocationCounts:
    """The counters of one location: (window, field) -> bucket start -> count, and the mark.

    >>> w = WindowSpec("2m", 120, 30)
    >>> c = LocationCounts()
    >>> c.add_once([("2m", "csat_n", 990, 1)], 0, 10), c.add_once([("2m", "csat_n", 990, 1)], 0, 10)
    (True, False)
    >>> c.add_once([("2m", "csat_n", 960, 2)], 0, 11)
    True
    >>> c.totals(w, 1000, ("csat_n", "csat_sat"))
    {'csat_n': 3, 'csat_sat': 0}
    >>> LocationCounts.from_value(c.to_value()).totals(w, 1000, ("csat_n",))
    {'csat_n': 3}
    """

    __slots__ = ("buckets", "offset", "partition")

    def __init__(self, partition: int = -1, offset: int = -1,
                 buckets: dict[tuple[str, str], dict[int, int]] | None = None) -> None:  # fmt: skip
        self.partition = partition
        self.offset = offset
        self.buckets: dict[tuple[str, str], dict[int, int]] = buckets if buckets else {}

    @classmethod
    def from_value(cls, value: Any) -> LocationCounts:
        """Read a table value (None: a location with no answers yet)."""
        if not isinstance(value, dict):
            return cls()
        buckets: dict[tuple[str, str], dict[int, int]] = {}
        for w, f, start, n in value.get("b", ()):
            buckets.setdefault((w, f), {})[int(start)] = int(n)
        return cls(int(value.get("p", -1)), int(value.get("o", -1)), buckets)

    def to_value(self) -> dict[str, Any]:
        """The table value (JSON-friendly)."""
        rows = [[w, f, s, n] for (w, f), by in self.buckets.items() for s, n in by.items()]
        return {"p": self.partition, "o": self.offset, "b": rows}

    def add_once(self, increments: Iterable[Increment], partition: int, offset: int) -> bool:
        """Add one record's increments, unless that record (or a later one of the same
        partition) was already taken: a replay. Returns whether they were added."""
        if partition == self.partition and offset <= self.offset:
            return False
        for w, f, start, delta in increments:
            by = self.buckets.get((w, f))
            if by is None:
                by = self.buckets[(w, f)] = {}
            by[start] = by.get(start, 0) + delta
        self.partition, self.offset = partition, offset
        return True

    def totals(self, window: WindowSpec, now: float, fields: Iterable[str]) -> dict[str, int]:
        """Each field summed over the window's buckets at `now` (those in (now - size, now])."""
        last = bucket_start(now, window.bucket_s)
        first = last - (window.n_buckets - 1) * window.bucket_s
        out: dict[str, int] = {}
        for f in fields:
            by = self.buckets.get((window.name, f))
            out[f] = sum(n for s, n in by.items() if first <= s <= last) if by else 0
        return out

    def prune(self, now: float, windows: Iterable[WindowSpec], lateness_s: float) -> int:
        """Drop the buckets no read and no accepted write can touch any more; how many.

        >>> w = WindowSpec("2m", 120, 30)
        >>> c = LocationCounts(0, 1, {("2m", "csat_n"): {870: 1, 900: 2}, ("9h", "csat_n"): {0: 1}})
        >>> c.prune(1000, (w,), 0.0), c.to_value()["b"]
        (2, [['2m', 'csat_n', 900, 2]])
        """
        by_name = {w.name: w for w in windows}
        dropped = 0
        for (name, f), by in list(self.buckets.items()):
            w = by_name.get(name)
            if w is None:
                dropped += len(by)
                del self.buckets[(name, f)]
                continue
            gone = [s for s in by if s <= now - w.size_s and s + w.bucket_s <= now - lateness_s]
            for s in gone:
                del by[s]
            dropped += len(gone)
            if not by:
                del self.buckets[(name, f)]
        return dropped
