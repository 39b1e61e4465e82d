"""When each open alert is next due: the desk's timers' index, in memory. Pure.

The tick runs every second and needs only the alerts due by now. It used to walk every open
alert for them, and again to count them by location: with nobody acknowledging (a surge, or a
bench) alerts stay open for hours, and at 80,000 that walk took about 30 ms of the alert
process's loop every second, in front of the complaints it serves. A heap of (check at, ref)
gives the due ones in O(due · log n), and the counts by location are kept as alerts come and go.

A ref re-armed leaves its old heap entry behind; an entry is live only while it still matches
the ref's current time (`_at`), and the heap is rebuilt from the live ones when the stale ones
outnumber them.
"""

from __future__ import annotations

import heapq
from collections import Counter

COMPACT_SLACK = 1_000  # stale entries tolerated beyond as many as the live ones


class TimerIndex:
    """ref -> (next check, location), with the refs due by a time and the count by location.

    >>> ix = TimerIndex()
    >>> ix.arm("4821", 10.0, "loc-1"); ix.arm("4822", 30.0, "loc-1"); ix.arm("4823", 5.0, "loc-2")
    >>> ix.due(12.0)
    [('4823', 'loc-2'), ('4821', 'loc-1')]
    >>> ix.arm("4821", 40.0, "loc-1")  # re-armed: its old time no longer counts
    >>> ix.due(35.0), dict(ix.counts())
    ([('4823', 'loc-2'), ('4822', 'loc-1')], {'loc-1': 2, 'loc-2': 1})
    >>> ix.disarm("4823"); len(ix), "4823" in ix, dict(ix.counts())
    (2, False, {'loc-1': 2})
    """

    def __init__(self) -> None:
        self._at: dict[str, tuple[float, str]] = {}
        self._heap: list[tuple[float, str]] = []
        self._by_location: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._at)

    def __contains__(self, ref: object) -> bool:
        return ref in self._at

    def arm(self, ref: str, check_at: float, location_id: str) -> None:
        old = self._at.get(ref)
        if old is not None:
            if old == (check_at, location_id):
                return
            self._uncount(old[1])
        self._at[ref] = (check_at, location_id)
        self._by_location[location_id] += 1
        heapq.heappush(self._heap, (check_at, ref))
        if len(self._heap) > 2 * len(self._at) + COMPACT_SLACK:
            self._compact()

    def disarm(self, ref: str) -> None:
        old = self._at.pop(ref, None)
        if old is not None:
            self._uncount(old[1])

    def clear(self) -> None:
        self._at.clear()
        self._heap.clear()
        self._by_location.clear()

    def due(self, now: float) -> list[tuple[str, str]]:
        """(ref, location) of each alert due by `now`, soonest first. They stay armed at
        their time: the caller re-arms each (or disarms it) after acting on it."""
        out: list[tuple[str, str]] = []
        live: list[tuple[float, str]] = []
        while self._heap and self._heap[0][0] <= now:
            check_at, ref = heapq.heappop(self._heap)
            current = self._at.get(ref)
            if current is not None and current[0] == check_at:
                out.append((ref, current[1]))
                live.append((check_at, ref))
        for entry in live:  # still armed: until the caller re-arms them
            heapq.heappush(self._heap, entry)
        return out

    def counts(self) -> Counter[str]:
        """Open alerts by location (only locations that have some)."""
        return self._by_location

    def _uncount(self, location_id: str) -> None:
        self._by_location[location_id] -= 1
        if not self._by_location[location_id]:
            del self._by_location[location_id]

    def _compact(self) -> None:
        self._heap = [(at, ref) for ref, (at, _) in self._at.items()]
        heapq.heapify(self._heap)
