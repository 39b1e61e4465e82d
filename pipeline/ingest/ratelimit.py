"""A per-client token bucket, so one script cannot flood a location. Pure: time is passed in."""

from __future__ import annotations

import logging
from collections import OrderedDict

logger = logging.getLogger(__name__)


class RateLimiter:
    """`rate_per_min` requests a minute per key, with bursts up to `burst`.

    >>> rl = RateLimiter(rate_per_min=60, burst=2)
    >>> [rl.allow("a", now=0.0) for _ in range(3)]
    [True, True, False]
    >>> rl.allow("a", now=1.0)
    True

    A client not seen for as long as a full bucket takes to refill is forgotten: it would
    start again with a full bucket anyway. So the table holds the clients of the last minute
    or so, not every number that ever wrote (up to `max_keys`, about 28 MB at 100,000).

    >>> rl.allow("b", now=1.5), len(rl)
    (True, 2)
    >>> rl.allow("c", now=60.0), len(rl)  # "a" and "b" have refilled by then
    (True, 1)
    """

    def __init__(self, rate_per_min: float, burst: int | None = None, max_keys: int = 100_000):
        self.rate = rate_per_min / 60.0
        self.burst = float(burst if burst is not None else max(1, int(rate_per_min)))
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, key: str, now: float) -> bool:
        self._forget_refilled(now)
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        ok = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if ok else tokens, now)
        if len(self._buckets) > self.max_keys:  # forget the least recently seen client
            self._buckets.popitem(last=False)
        return ok

    def _forget_refilled(self, now: float) -> None:
        """Drop the least recently seen clients whose bucket is full again by `now`."""
        if self.rate <= 0:
            return
        horizon = now - self.burst / self.rate
        buckets = self._buckets
        while buckets:
            key, (_, last) = next(iter(buckets.items()))
            if last > horizon:
                return
            del buckets[key]
