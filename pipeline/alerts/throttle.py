"""Alert fatigue: a cap on pages per supervisor, and one page for a burst of alerts.

- `PageThrottle`: at most `limit` pages per supervisor in any `window_s` seconds (a sliding
  window). A page that is refused is not lost: the caller keeps the alert and sends it with the
  next page that is allowed, grouped (below). Urgent pages bypass the cap (`allow(urgent=True)`
  always says yes but still counts), since a safety page must never wait.
- `group_burst`: alerts at one location opened within `span_s` of the first one of a group
  become one page ("3 quejas en Linea 42: ..."). Urgent alerts are never grouped: each gets
  its own page, so that it stands out.

Both are pure: time is passed in, and the throttle's state is a plain dict (picklable, and
`to_dict`/`from_dict` for a Faust table).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

logger = logging.getLogger(__name__)


class PageThrottle:
    """At most `limit` pages per supervisor in a sliding window of `window_s` seconds.

    >>> t = PageThrottle(limit=2, window_s=60)
    >>> [t.allow("Ana", now) for now in (0, 10, 20, 61, 65)]
    [True, True, False, True, False]
    >>> t.allow("Luis", 20)  # each supervisor has their own budget
    True
    """

    def __init__(self, limit: int = 3, window_s: float = 60.0) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("PageThrottle: limit >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self.sent: dict[str, list[float]] = {}

    def _recent(self, key: str, now: float) -> list[float]:
        recent = [t for t in self.sent.get(key, ()) if now - t < self.window_s]
        if recent:
            self.sent[key] = recent
        else:
            self.sent.pop(key, None)  # keeps the state bounded by the active supervisors
        return recent

    def allow(self, supervisor: str, now: float, urgent: bool = False) -> bool:
        """Whether a page to `supervisor` (a name or phone) may go now; if so, count it."""
        recent = self._recent(supervisor, now)
        if len(recent) >= self.limit and not urgent:
            logger.info(
                "throttled a page to %s (%d in %ss)", supervisor, len(recent), self.window_s
            )
            return False
        self.sent[supervisor] = [*recent, now]
        return True

    def remaining(self, supervisor: str, now: float) -> int:
        """How many more pages `supervisor` may get now."""
        return max(0, self.limit - len(self._recent(supervisor, now)))

    def to_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "window_s": self.window_s, "sent": self.sent}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PageThrottle:
        t = cls(int(d["limit"]), float(d["window_s"]))
        t.sent = {str(k): [float(x) for x in v] for k, v in d.get("sent", {}).items()}
        return t


class Groupable(Protocol):
    @property
    def location_id(self) -> str: ...
    @property
    def opened_at(self) -> float: ...
    @property
    def urgent(self) -> bool: ...


A = TypeVar("A", bound=Groupable)


def group_burst(alerts: Iterable[A], span_s: float = 30.0) -> list[list[A]]:
    """Group alerts that open at one location within `span_s` of a group's first alert.

    Groups come out in the order of their first alert; urgent alerts stay alone.

    >>> from types import SimpleNamespace as A
    >>> burst = [A(location_id="bus", opened_at=t, urgent=False, ref=r)
    ...          for t, r in ((0, "a"), (5, "b"), (12, "c"), (50, "d"))]
    >>> [[a.ref for a in g] for g in group_burst(burst, span_s=30)]
    [['a', 'b', 'c'], ['d']]
    """
    groups: list[list[A]] = []
    open_group: dict[str, list[A]] = {}
    for alert in sorted(alerts, key=lambda a: a.opened_at):
        if alert.urgent:
            groups.append([alert])
            continue
        g = open_group.get(alert.location_id)
        if g is not None and alert.opened_at - g[0].opened_at <= span_s:
            g.append(alert)
        else:
            g = [alert]
            open_group[alert.location_id] = g
            groups.append(g)
    return groups
