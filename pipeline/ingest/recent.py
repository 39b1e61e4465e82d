"""The feedback ids ingest stored lately, so that a retried request gets the first one's
answer without a second record.

A retry comes within seconds: Twilio waits 15 s for a webhook's answer and retries only when
told to (connection overrides), a browser resubmits a form at once, an API client backs off
for seconds. Ids are kept for `RETRY_HORIZON_S`, in buckets of a tenth of it (a whole
bucket expires at once), and never more than `LIMIT`. A retry later than that is stored
again under the same id, and the stages downstream count and page it once (the score stage's
dedupe keeps ids for 15 minutes, the alert desk's handled ids for an hour).

Each id holds one bool (whether it was a complaint): its reference derives from the id.
100,000 ids take 12.5 MB here (8.7 of them the ids themselves), against 21 MB as the ordered
dict of answers that kept the last 100,000 ids before, whatever their age (tracemalloc). At
500 feedback/s the horizon keeps about 60,000 ids; at 100/s, 12,000.
"""

from __future__ import annotations

from collections import deque

RETRY_HORIZON_S = 120.0
LIMIT = 100_000


class RecentIds:
    """Ids seen in the last `horizon_s` seconds (about), with one bool each.

    >>> r = RecentIds(horizon_s=100.0)
    >>> r.add("sms-SM1", True, now=0.0); r.add("sms-SM2", False, now=15.0)
    >>> r.get("sms-SM1"), r.get("sms-SM2"), r.get("sms-SM3")
    (True, False, None)
    >>> r.add("sms-SM4", False, now=111.0)  # SM1's bucket (0-10 s) ended over 100 s ago
    >>> r.get("sms-SM1"), r.get("sms-SM2"), len(r)
    (None, False, 2)
    """

    def __init__(self, horizon_s: float = RETRY_HORIZON_S, limit: int = LIMIT) -> None:
        self.bucket_s = horizon_s / 10
        self.horizon_s = horizon_s
        self.limit = limit
        self._buckets: deque[tuple[float, dict[str, bool]]] = deque()  # (start, ids), oldest first
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def get(self, fid: str) -> bool | None:
        for _, ids in reversed(self._buckets):
            found = ids.get(fid)
            if found is not None:
                return found
        return None

    def add(self, fid: str, value: bool, now: float) -> None:
        start = now - now % self.bucket_s
        if not self._buckets or self._buckets[-1][0] < start:
            self._buckets.append((start, {}))
        ids = self._buckets[-1][1]
        if fid not in ids:
            self._n += 1
        ids[fid] = value
        while self._buckets and (
            self._buckets[0][0] + self.bucket_s <= now - self.horizon_s or self._n > self.limit
        ):
            self._n -= len(self._buckets.popleft()[1])
