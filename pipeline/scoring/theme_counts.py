"""Windowed counts of feedback per location, theme and sentiment: the pure logic.

The score stage counts themes where it keeps a location's other rolling counters: in its
`LocationCounts` value, as the field "theme:{theme}:{sentiment}" (e.g.
"theme:food:negative"), so that the window specs, buckets and pruning are the same, the
value's replay mark keeps them exact after a crash, and they cost no changelog record of
their own (the location's value is written once per batch anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pipeline.scoring import windows as win
from pipeline.scoring.location_counts import Increment, LocationCounts

logger = logging.getLogger(__name__)

SENTIMENTS = ("negative", "neutral", "positive")
PREFIX = "theme:"
RECENT = "1h"  # "the last hour": the console's top themes and the manager's trend notice
TOP_N = 5


def field(theme: str, sentiment: str) -> str:
    """The counter of one theme and sentiment.

    >>> field("food", "negative")
    'theme:food:negative'
    """
    return f"{PREFIX}{theme}:{sentiment}"


def parse_field(f: str) -> tuple[str, str] | None:
    """(theme, sentiment) of a theme counter; None for any other field.

    >>> parse_field("theme:food:negative"), parse_field("csat_n"), parse_field("theme:x:meh")
    (('food', 'negative'), None, None)
    """
    if not f.startswith(PREFIX):
        return None
    theme, _, sentiment = f[len(PREFIX) :].rpartition(":")
    return (theme, sentiment) if theme and sentiment in SENTIMENTS else None


def event_time(received_at: float, now: float, lateness_s: float) -> float:
    """The time a feedback is counted at: when it was received, but no later than `now` (clock
    skew) and no earlier than the oldest bucket still open (a scoring backlog), so every
    feedback counts once.

    >>> event_time(95.0, 100.0, 10.0), event_time(50.0, 100.0, 10.0), event_time(120.0, 100.0, 10.0)
    (95.0, 90.0, 100.0)
    """
    return min(max(received_at, now - lateness_s), now)


def increments(themes: Iterable[str], sentiment: str, at: float,
               windows: Iterable[win.WindowSpec]) -> list[Increment]:  # fmt: skip
    """What one feedback adds: one per window and theme, in the bucket of `at`; nothing for a
    sentiment that is not one of `SENTIMENTS`.

    >>> increments(["food"], "negative", 1000.0, win.parse_windows("5m,1h"))
    [('5m', 'theme:food:negative', 990, 1), ('1h', 'theme:food:negative', 900, 1)]
    """
    if sentiment not in SENTIMENTS:
        return []
    fields = [field(t, sentiment) for t in themes]
    return [(w.name, f, win.bucket_start(at, w.bucket_s), 1) for w in windows for f in fields]


def summarize(counts: LocationCounts, windows: Iterable[win.WindowSpec],
              now: float) -> dict[str, dict[str, Any]]:  # fmt: skip
    """window -> theme -> {negative, neutral, positive, n}: a location's theme counts in the
    buckets inside each window at `now`.

    >>> ws = win.parse_windows("5m,1h")
    >>> c = LocationCounts()
    >>> _ = c.add_once(increments(["food"], "negative", 995.0, ws) * 2, 0, 1)
    >>> _ = c.add_once(increments(["food"], "positive", 600.0, ws), 0, 2)
    >>> summarize(c, ws, 1000.0)["1h"]["food"]
    {'negative': 2, 'neutral': 0, 'positive': 1, 'n': 3}
    >>> summarize(c, ws, 1000.0)["5m"]["food"]["n"]
    2
    """
    specs = {w.name: w for w in windows}
    out: dict[str, dict[str, Any]] = {}
    for (wname, f), by in counts.buckets.items():
        w = specs.get(wname)
        parsed = parse_field(f) if w is not None else None
        if w is None or parsed is None:
            continue
        theme, sentiment = parsed
        starts = win.bucket_starts(w, now)
        n = sum(c for s, c in by.items() if starts.start <= s < starts.stop)
        if not n:
            continue
        cell = out.setdefault(wname, {}).setdefault(theme, {**dict.fromkeys(SENTIMENTS, 0), "n": 0})
        cell[sentiment] += n
        cell["n"] += n
    return out


def trend(n_recent: int, recent_s: int, n_base: int, base_s: int) -> str:
    """ "up", "down" or "steady": the recent window against its usual share of the baseline
    window (which contains it).

    >>> trend(6, 3600, 6, 86400), trend(1, 3600, 96, 86400), trend(4, 3600, 96, 86400)
    ('up', 'down', 'steady')
    """
    usual = n_base * recent_s / base_s
    if n_recent >= max(2.0, 1.5 * usual):
        return "up"
    if usual >= 2.0 and n_recent <= 0.5 * usual:
        return "down"
    return "steady"


def top_themes(loc_counts: dict[str, Any], windows: Iterable[win.WindowSpec],
               recent: str = RECENT, limit: int = TOP_N) -> list[dict[str, Any]]:  # fmt: skip
    """A location's top themes in the `recent` window (most complaints first), each with its
    trend against the largest window.

    >>> ws = win.parse_windows("1h,24h")
    >>> c = {"1h": {"food": {"negative": 5, "neutral": 0, "positive": 1, "n": 6},
    ...             "wait": {"negative": 1, "neutral": 1, "positive": 0, "n": 2}},
    ...      "24h": {"food": {"n": 6}, "wait": {"n": 96}}}
    >>> [(t["theme"], t["negative"], t["trend"]) for t in top_themes(c, ws)]
    [('food', 5, 'up'), ('wait', 1, 'down')]
    """
    specs = {w.name: w for w in windows}
    w = specs.get(recent)
    if w is None:
        return []
    base = max(specs.values(), key=lambda s: s.size_s)
    rows = []
    for theme, cell in (loc_counts.get(recent) or {}).items():
        n_base = int(((loc_counts.get(base.name) or {}).get(theme) or {}).get("n", 0))
        rows.append({
            "theme": theme, "n": cell["n"], "negative": cell.get("negative", 0),
            "trend": trend(cell["n"], w.size_s, n_base, base.size_s) if base.size_s > w.size_s else "",
        })  # fmt: skip
    rows.sort(key=lambda r: (-r["negative"], -r["n"], r["theme"]))
    return rows[:limit]


def top_negative(counts: LocationCounts, windows: Iterable[win.WindowSpec], now: float,
                 recent: str = RECENT) -> tuple[str, ...]:  # fmt: skip
    """The theme with the most negative feedback in the `recent` window (or the largest
    window there is), as a 1-tuple; () when there is none. A tie: the first by name.

    >>> ws = win.parse_windows("1h")
    >>> c = LocationCounts()
    >>> _ = c.add_once(increments(["food"], "negative", 950.0, ws) * 2, 0, 1)
    >>> _ = c.add_once(increments(["wait"], "negative", 650.0, ws) * 3, 0, 2)
    >>> top_negative(c, ws, 1000.0), top_negative(LocationCounts(), ws, 1000.0)
    (('wait',), ())
    """
    specs = {w.name: w for w in windows}
    if not specs:
        return ()
    w = specs.get(recent) or max(specs.values(), key=lambda s: s.size_s)
    starts = win.bucket_starts(w, now)
    best, most = "", 0
    for (wname, f), by in counts.buckets.items():
        parsed = parse_field(f) if wname == w.name else None
        if parsed is None or parsed[1] != "negative":
            continue
        n = sum(c for s, c in by.items() if starts.start <= s < starts.stop)
        if n > most or (n == most and n and parsed[0] < best):
            best, most = parsed[0], n
    return (best,) if most else ()
