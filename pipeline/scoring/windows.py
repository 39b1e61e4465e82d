"""Rolling-window CSAT/NPS counters in buckets: the pure window and bucket logic.

The changelog carries counts, never ratios. The score stage keeps a location's counters in one
table value (`location_counts.py`); this module names one counter, as a key, like this:

    "{location}|{window}|{bucket_start}|{field}"     e.g. "bus-42|5m|1718000130|csat_n"

A window of `size_s` seconds is split into buckets of `bucket_s` seconds. A location's
window total at `now` is the sum of its buckets whose start lies in (now - size_s, now]: the
window therefore covers between size_s - bucket_s and size_s seconds of answers, which is the
price of keeping a read to `size_s / bucket_s` lookups per field (10-24 by default), never a
scan of the table.

Memory: an active location holds at most, per field it uses, one key per bucket of each
window (10 + 12 + 24 = 46 by default) plus, until the next sweep, a bucket that has just left
its window or can still take a late event. A csat5 location uses 2 fields (about 92 keys) and an
nps10 one 3 (measured peak: 130 keys with an answer every 10 s and a sweep every 30 s), so
1,000 busy locations hold about 130k small integer keys: some 13 MiB as a Python dict.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.scoring.csat import csat, is_satisfied
from pipeline.scoring.nps import category, nps

logger = logging.getLogger(__name__)

SEP = "|"
FIELDS: tuple[str, ...] = ("csat_n", "csat_sat", "nps_n", "nps_pro", "nps_det")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Bucket sizes that read well on a dashboard; the largest that divides the window into at
# least MIN_BUCKETS buckets is taken.
_NICE_BUCKETS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 300, 600, 900, 1800, 3600, 10800, 21600, 43200)
MIN_BUCKETS = 10
_DURATION = re.compile(r"^(\d+)([smhd])$")


@dataclass(frozen=True)
class WindowSpec:
    """A rolling window `name` of `size_s` seconds, kept as buckets of `bucket_s` seconds."""

    name: str
    size_s: int
    bucket_s: int

    def __post_init__(self) -> None:
        if not self.name or SEP in self.name:
            raise ValueError(f"window name must be non-empty and free of {SEP!r}: {self.name!r}")
        if self.bucket_s <= 0 or self.size_s <= 0 or self.size_s % self.bucket_s:
            raise ValueError(
                f"window {self.name}: size {self.size_s}s is not a multiple of "
                f"bucket {self.bucket_s}s"
            )

    @property
    def n_buckets(self) -> int:
        return self.size_s // self.bucket_s


def _seconds(text: str) -> int:
    m = _DURATION.match(text.strip().lower())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"a duration is a positive number with s, m, h or d: got {text!r}")
    return int(m.group(1)) * _UNITS[m.group(2)]


def default_bucket(size_s: int) -> int:
    """The bucket size for a window of `size_s` seconds.

    >>> [default_bucket(s) for s in (300, 3600, 86400, 900, 604800)]
    [30, 300, 3600, 60, 43200]
    """
    fits = [b for b in _NICE_BUCKETS if size_s % b == 0 and size_s // b >= MIN_BUCKETS]
    if not fits:
        raise ValueError(f"a window of {size_s}s is too short to split into {MIN_BUCKETS} buckets")
    return fits[-1]


def parse_windows(spec: str) -> tuple[WindowSpec, ...]:
    """Parse "5m,1h,24h"; a window may name its bucket size too, as in "1h/10m".

    >>> parse_windows("5m,1h/10m")
    (WindowSpec(name='5m', size_s=300, bucket_s=30), WindowSpec(name='1h', size_s=3600, bucket_s=600))
    """
    out: list[WindowSpec] = []
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        size_text, _, bucket_text = token.partition("/")
        size = _seconds(size_text)
        bucket = _seconds(bucket_text) if bucket_text else default_bucket(size)
        out.append(WindowSpec(size_text.strip().lower(), size, bucket))
    if not out:
        raise ValueError(f"no window in {spec!r}")
    if len({w.name for w in out}) != len(out):
        raise ValueError(f"duplicate window in {spec!r}")
    return tuple(out)


DEFAULT_WINDOWS: tuple[WindowSpec, ...] = parse_windows("5m,1h,24h")


def counter_deltas(score: int, scale: str) -> dict[str, int]:
    """The counters one answer increments (only those it changes).

    >>> counter_deltas(4, "csat5")
    {'csat_n': 1, 'csat_sat': 1}
    >>> counter_deltas(3, "nps10")
    {'nps_n': 1, 'nps_det': 1}
    """
    if scale == "csat5":
        return {"csat_n": 1, "csat_sat": 1} if is_satisfied(score) else {"csat_n": 1}
    if scale == "nps10":
        kind = category(score)
        if kind == "promoter":
            return {"nps_n": 1, "nps_pro": 1}
        return {"nps_n": 1, "nps_det": 1} if kind == "detractor" else {"nps_n": 1}
    raise ValueError(f"unknown scale {scale!r}")


def bucket_start(t: float, bucket_s: int) -> int:
    """The start (epoch seconds) of the bucket holding time `t`.

    >>> bucket_start(1000.9, 30), bucket_start(990, 30)
    (990, 990)
    """
    return int(t // bucket_s) * bucket_s


def key(location: str, window: str, start: int, field: str) -> str:
    """The table key of one counter."""
    return f"{location}{SEP}{window}{SEP}{start}{SEP}{field}"


def bucket_keys(
    location: str,
    event_time: float,
    windows: Iterable[WindowSpec] = DEFAULT_WINDOWS,
    fields: Iterable[str] = FIELDS,
) -> list[str]:
    """The keys to increment for an event: one per window and field, in the event's bucket.

    Pass the fields of `counter_deltas(...)` to touch only the counters the answer changes.
    The bucket is chosen by `event_time`, so a late event lands in its own bucket.

    >>> bucket_keys("bus-42", 1000.5, parse_windows("5m,1h"), ["csat_n"])
    ['bus-42|5m|990|csat_n', 'bus-42|1h|900|csat_n']
    """
    if SEP in location:
        raise ValueError(f"location id must not contain {SEP!r}: {location!r}")
    fs = tuple(fields)
    return [
        key(location, w.name, bucket_start(event_time, w.bucket_s), f) for w in windows for f in fs
    ]


def accept(event_time: float, now: float, lateness_s: float) -> bool:
    """Whether an event is recent enough to count: at most `lateness_s` older than `now`.

    An event from the future (clock skew) is accepted; the caller should clamp its time to
    `now` so that it does not sit in a bucket nobody reads yet.

    >>> accept(95, 100, 5), accept(94.9, 100, 5), accept(101, 100, 5)
    (True, False, True)
    """
    return event_time >= now - lateness_s


def bucket_starts(window: WindowSpec, now: float) -> range:
    """The starts of the buckets in the window at `now`: those in (now - size, now].

    >>> list(bucket_starts(WindowSpec("2m", 120, 30), 1000))
    [900, 930, 960, 990]
    """
    last = bucket_start(now, window.bucket_s)
    first = last - (window.n_buckets - 1) * window.bucket_s
    return range(first, last + 1, window.bucket_s)


def window_totals(
    get: Callable[[str], int],
    location: str,
    window: WindowSpec,
    now: float,
    fields: Iterable[str] = FIELDS,
) -> dict[str, int]:
    """Sum each counter over the window's buckets at `now`; `get` returns 0 for a missing key.

    >>> table = {"x|2m|960|csat_n": 2, "x|2m|990|csat_n": 1, "x|2m|870|csat_n": 9}
    >>> window_totals(lambda k: table.get(k, 0), "x", WindowSpec("2m", 120, 30), 1000)["csat_n"]
    3
    """
    # Hot path (every scored answer): one f-string per key, no helper call.
    prefix = f"{location}{SEP}{window.name}{SEP}"
    starts = bucket_starts(window, now)
    return {f: sum(get(f"{prefix}{s}{SEP}{f}") for s in starts) for f in fields}


def parse_key(k: str) -> tuple[str, str, int, str] | None:
    """Split a table key into (location, window, bucket_start, field); None if it is not one."""
    parts = k.split(SEP)
    if len(parts) != 4 or not parts[2].lstrip("-").isdigit():
        return None
    return parts[0], parts[1], int(parts[2]), parts[3]


def expired_keys(
    keys: Iterable[str],
    now: float,
    windows: Iterable[WindowSpec] = DEFAULT_WINDOWS,
    lateness_s: float = 0.0,
) -> list[str]:
    """The keys that no read and no accepted write can touch any more, to delete.

    A bucket is done when it has left its window (start <= now - size) and it ends at or before
    the oldest accepted event time (start + bucket <= now - lateness). Keys of a window that is
    no longer configured are expired too; keys that are not counters are left alone.

    >>> w = (WindowSpec("2m", 120, 30),)
    >>> expired_keys(["x|2m|870|csat_n", "x|2m|900|csat_n", "x|1h|0|csat_n", "other"], 1000, w)
    ['x|2m|870|csat_n', 'x|1h|0|csat_n']
    >>> expired_keys(["x|2m|870|csat_n"], 1000, w, lateness_s=120)
    []
    """
    by_name = {w.name: w for w in windows}
    out: list[str] = []
    for k in keys:
        parsed = parse_key(k)
        if parsed is None:
            continue
        _, name, start, _ = parsed
        w = by_name.get(name)
        if w is None or (start <= now - w.size_s and start + w.bucket_s <= now - lateness_s):
            out.append(k)
    return out


def summarize(totals: dict[str, int]) -> dict[str, Any]:
    """The published scores from a window's counters: CSAT on [0, 1], NPS on -100..100.

    >>> s = summarize({"csat_n": 10, "csat_sat": 8})
    >>> s["csat"], s["csat_n"], s["nps"], s["nps_n"], s["n"]
    (0.8, 10, None, 0, 10)
    """
    # The counters of one answer are separate keys, incremented one by one: a crash between
    # two increments can leave a part ahead of its total. Clamp rather than fail the stream.
    csat_n = max(0, totals.get("csat_n", 0))
    sat = min(max(0, totals.get("csat_sat", 0)), csat_n)
    nps_n = max(0, totals.get("nps_n", 0))
    pro = min(max(0, totals.get("nps_pro", 0)), nps_n)
    det = min(max(0, totals.get("nps_det", 0)), nps_n - pro)
    if (sat, pro, det) != (
        totals.get("csat_sat", 0),
        totals.get("nps_pro", 0),
        totals.get("nps_det", 0),
    ):
        logger.warning("inconsistent window counters clamped: %s", totals)
    c = csat(sat, csat_n)
    p = nps(pro, det, nps_n)
    return {
        "csat": c.value,
        "csat_low": c.low,
        "csat_high": c.high,
        "csat_n": c.n,
        "nps": p.value,
        "nps_low": p.low,
        "nps_high": p.high,
        "nps_n": p.n,
        "n": c.n + p.n,
    }
