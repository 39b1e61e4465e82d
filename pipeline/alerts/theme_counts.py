"""Windowed counts of feedback per location, theme and sentiment: the pure key logic.

The keys are the score counters' (`pipeline.scoring.windows`) with the field
"{theme}:{sentiment}", e.g. "resto-sol|1h|1718000100|food:negative", one integer each, so the
window specs, buckets, reads and pruning are the same. A value is `[count, partition, offset]`:
the count, and the `feedback.scored` record it last took, so a record replayed after a crash
is not counted twice (a location's records all come from one partition, its key).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from pipeline.scoring import windows as win

logger = logging.getLogger(__name__)

SENTIMENTS = ("negative", "neutral", "positive")
RECENT = "1h"  # "the last hour": the console's top themes and the manager's trend notice
TOP_N = 5


def field(theme: str, sentiment: str) -> str:
    return f"{theme}:{sentiment}"


def event_time(received_at: float, now: float, lateness_s: float) -> float:
    """The time a feedback is counted at: when it was received, but no later than `now` (clock
    skew) and no earlier than the oldest bucket still open (a scoring backlog), so every
    feedback counts once.

    >>> event_time(95.0, 100.0, 10.0), event_time(50.0, 100.0, 10.0), event_time(120.0, 100.0, 10.0)
    (95.0, 90.0, 100.0)
    """
    return min(max(received_at, now - lateness_s), now)


def keys_for(location: str, themes: Iterable[str], sentiment: str, at: float,
             windows: Iterable[win.WindowSpec]) -> list[str]:  # fmt: skip
    """The counters one feedback increments: one per window and theme.

    >>> keys_for("r", ["food"], "negative", 1000.0, win.parse_windows("5m,1h"))
    ['r|5m|990|food:negative', 'r|1h|900|food:negative']
    """
    return win.bucket_keys(location, at, tuple(windows), [field(t, sentiment) for t in themes])


def count_of(value: Any) -> int:
    """The count in a counter value.

    >>> count_of([3, 0, 17]), count_of(None), count_of(4)
    (3, 0, 4)
    """
    if value is None:
        return 0
    return int(value[0]) if isinstance(value, list | tuple) else int(value)


def bump(value: Any, partition: int, offset: int) -> list[int] | None:
    """`value` plus one, marked with the record that added it; None for a replayed record.

    >>> v = bump(None, 0, 7); v, bump(v, 0, 7), bump(v, 0, 8)
    ([1, 0, 7], None, [2, 0, 8])
    """
    marked = isinstance(value, list | tuple) and len(value) == 3
    if marked and int(value[1]) == partition and offset <= int(value[2]):
        return None
    return [count_of(value) + 1, partition, offset]


def summarize(items: Iterable[tuple[str, Any]], windows: Iterable[win.WindowSpec], now: float,
              locations: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:  # fmt: skip
    """location -> window -> theme -> {negative, neutral, positive, n}, from one pass over the
    table (only the live buckets are in it), for the buckets inside each window at `now`.

    >>> ws = win.parse_windows("5m,1h")
    >>> t = {"r|5m|990|food:negative": [2, 0, 1], "r|1h|900|food:negative": [2, 0, 1],
    ...      "r|1h|900|food:positive": [1, 0, 3], "r|5m|600|food:negative": [9, 0, 0]}
    >>> summarize(t.items(), ws, 1000.0)["r"]["1h"]["food"]
    {'negative': 2, 'neutral': 0, 'positive': 1, 'n': 3}
    >>> summarize(t.items(), ws, 1000.0)["r"]["5m"]["food"]["n"]
    2
    """
    specs = {w.name: w for w in windows}
    wanted = set(locations) if locations is not None else None
    out: dict[str, dict[str, Any]] = {}
    for k, v in items:
        parsed = win.parse_key(k)
        if parsed is None:
            continue
        loc, wname, start, f = parsed
        w = specs.get(wname)
        theme, _, sentiment = f.rpartition(":")
        if w is None or sentiment not in SENTIMENTS or (wanted is not None and loc not in wanted):
            continue
        starts = win.bucket_starts(w, now)
        if not starts.start <= start <= starts.stop - 1:
            continue
        cell = (
            out.setdefault(loc, {})
            .setdefault(wname, {})
            .setdefault(theme, {**dict.fromkeys(SENTIMENTS, 0), "n": 0})
        )
        n = count_of(v)
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


def top_negative(get: Callable[[str], Any], location: str, themes: Iterable[str],
                 windows: Iterable[win.WindowSpec], now: float,
                 recent: str = RECENT) -> tuple[str, ...]:  # fmt: skip
    """The theme with the most negative feedback at `location` in the `recent` window (or the
    largest window there is), as a 1-tuple; () when there is none.

    >>> t = {"r|1h|900|food:negative": [2, 0, 1], "r|1h|600|wait:negative": [3, 0, 2]}
    >>> top_negative(t.get, "r", ["food", "wait", "noise"], win.parse_windows("1h"), 1000.0)
    ('wait',)
    """
    specs = {w.name: w for w in windows}
    w = specs.get(recent) or max(specs.values(), key=lambda s: s.size_s)
    fields = [field(t, "negative") for t in themes]
    totals = win.window_totals(lambda k: count_of(get(k)), location, w, now, fields)
    best = max(sorted(fields), key=lambda f: totals[f], default=None)  # a tie: the first by name
    return (best.rpartition(":")[0],) if best and totals[best] > 0 else ()
