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
    """

    def __init__(self, rate_per_min: float, burst: int | None = None, max_keys: int = 100_000):
        self.rate = rate_per_min / 60.0
        self.burst = float(burst if burst is not None else max(1, int(rate_per_min)))
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str, now: float) -> bool:
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        ok = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if ok else tokens, now)
        if len(self._buckets) > self.max_keys:  # forget the least recently seen client
            self._buckets.popitem(last=False)
        return ok
