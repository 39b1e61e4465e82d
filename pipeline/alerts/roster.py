"""Who is on shift: time-zone-aware shifts and the escalation order.

A shift spec is `DAYS HH:MM-HH:MM` or `24/7`. DAYS is `daily`, a day (`mon`), a range
(`mon-fri`, `fri-mon` wraps), or a comma list of those (`sat,sun`, `mon-wed,fri`). Times are
wall-clock times in the location's time zone; `24:00` may end a shift. An overnight shift
(`22:00-06:00`) belongs to the day it starts on: `fri 22:00-06:00` covers Saturday 03:00 and
not Friday 03:00.

Because shifts are wall-clock, a shift on a DST change day is an hour shorter or longer in real
time, which is what the people working it expect.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from pipeline.config import Location, Supervisor

logger = logging.getLogger(__name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MIN = 24 * 60
WEEK_MIN = 7 * DAY_MIN

_SPEC_RE = re.compile(r"^\s*(\S+)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class Shift:
    """Days (0 = Monday) and a span in minutes; `end` > `start`, past 1440 when overnight."""

    days: frozenset[int]
    start: int
    end: int
    spec: str = ""

    def covers(self, weekday: int, minute: int) -> bool:
        """Whether the shift covers wall-clock `minute` (0..1439) of `weekday` (0 = Monday)."""
        t = weekday * DAY_MIN + minute
        length = self.end - self.start
        # Measured from each shift start, modulo the week, so Sunday night runs into Monday.
        return any((t - (d * DAY_MIN + self.start)) % WEEK_MIN < length for d in self.days)


def _days(text: str, spec: str) -> frozenset[int]:
    if text in ("daily", "everyday", "all"):
        return frozenset(range(7))
    out: set[int] = set()
    for part in text.split(","):
        ends = part.split("-")
        if len(ends) > 2 or any(e not in DAYS for e in ends):
            raise ValueError(f"shift {spec!r}: bad days {part!r} (use mon..sun, daily)")
        a, b = DAYS.index(ends[0]), DAYS.index(ends[-1])
        out.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return frozenset(out)


@functools.lru_cache(maxsize=1024)
def parse_shift(spec: str) -> Shift:
    """Parse a shift spec; raise ValueError naming the spec.

    >>> s = parse_shift("mon-fri 06:00-14:00")
    >>> sorted(s.days), s.start, s.end
    ([0, 1, 2, 3, 4], 360, 840)
    >>> parse_shift("daily 22:00-06:00").end  # overnight: ends 06:00 the next day
    1800
    >>> parse_shift("24/7").covers(6, 1439)
    True
    >>> parse_shift("mon 9-5")
    Traceback (most recent call last):
    ValueError: shift 'mon 9-5': expected 'DAYS HH:MM-HH:MM' or '24/7'
    """
    norm = spec.strip().lower()
    if norm in ("24/7", "always"):
        return Shift(frozenset(range(7)), 0, DAY_MIN, spec)
    m = _SPEC_RE.match(norm)
    if not m:
        raise ValueError(f"shift {spec!r}: expected 'DAYS HH:MM-HH:MM' or '24/7'")
    days = _days(m.group(1), spec)
    h1, m1, h2, m2 = (int(g) for g in m.group(2, 3, 4, 5))
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ValueError(f"shift {spec!r}: bad time of day")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end % DAY_MIN and end != DAY_MIN:
        raise ValueError(f"shift {spec!r}: empty shift (use 00:00-24:00 for a whole day)")
    if end <= start:
        end += DAY_MIN
    return Shift(days, start, end, spec)


def _local(tz: str | ZoneInfo, at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("on_shift needs a time-zone-aware datetime")
    return at.astimezone(tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz))


def on_shift(sup: Supervisor, tz: str | ZoneInfo, at: datetime) -> bool:
    """Whether `sup` is on shift at the aware datetime `at`, read in time zone `tz`.

    >>> from datetime import timezone
    >>> ana = Supervisor("Ana", "+34600000001", ("mon-fri 06:00-14:00",))
    >>> on_shift(ana, "Europe/Madrid", datetime(2024, 1, 8, 5, 30, tzinfo=timezone.utc))
    True
    """
    local = _local(tz, at)
    wd, minute = local.weekday(), local.hour * 60 + local.minute
    return any(parse_shift(s).covers(wd, minute) for s in sup.shifts)


def _chain(loc: Location) -> list[Supervisor]:
    out = []
    for name in loc.escalation.chain:
        sup = loc.supervisor(name)
        if sup is None:
            logger.warning("location %s: chain names unknown supervisor %r", loc.id, name)
        else:
            out.append(sup)
    return out


def chain_on_shift(loc: Location, at: datetime) -> list[Supervisor]:
    """The escalation chain, in chain order, filtered to who is on shift at `at`."""
    return [s for s in _chain(loc) if on_shift(s, loc.timezone, at)]


def escalation_steps(loc: Location, at: datetime) -> tuple[list[Supervisor], bool]:
    """Everyone an alert opened at `at` may page, in order, and whether it is the fallback.

    The on-shift chain and then the manager, who is paged whatever their shift: managers are
    the last resort. With nobody in the chain on shift: the fallback, then the manager.
    """
    steps = chain_on_shift(loc, at)
    fallback = not steps
    if fallback:
        fb = loc.supervisor(loc.escalation.fallback or loc.escalation.manager)
        if fb is not None:
            steps = [fb]
    manager = loc.supervisor(loc.escalation.manager)
    if manager is not None and manager not in steps:
        steps.append(manager)
    if not steps:
        raise ValueError(f"location {loc.id}: no supervisor to page")
    return steps, fallback


def recipient(loc: Location, level: int, at: datetime) -> tuple[Supervisor, bool]:
    """Who gets the page at escalation `level` (0, 1, 2...), and whether it is the fallback.

    Levels past the end of the steps stay with the last one (the manager).
    """
    steps, fallback = escalation_steps(loc, at)
    return steps[min(max(level, 0), len(steps) - 1)], fallback


def max_level(loc: Location, at: datetime) -> int:
    """The highest escalation level at `at` (the manager's)."""
    return len(escalation_steps(loc, at)[0]) - 1


def coverage_gaps(loc: Location) -> list[str]:
    """The wall-clock hours of the week ("tue 03:00") when nobody in the chain is on shift.

    An hour counts as a gap when any minute of it is uncovered.

    >>> sups = (Supervisor("A", "+1", ("mon-sun 00:00-12:00",)),
    ...         Supervisor("B", "+2", ("daily 13:00-24:00",)))
    >>> from pipeline.config import Escalation
    >>> coverage_gaps(Location("x", "X", supervisors=sups, escalation=Escalation(("A", "B"), "B")))
    ['mon 12:00', 'tue 12:00', 'wed 12:00', 'thu 12:00', 'fri 12:00', 'sat 12:00', 'sun 12:00']
    """
    shifts = [parse_shift(spec) for sup in _chain(loc) for spec in sup.shifts]
    gaps = []
    for hour in range(7 * 24):
        wd, h = divmod(hour, 24)
        minutes = range(h * 60, h * 60 + 60)
        if not all(any(s.covers(wd, m) for s in shifts) for m in minutes):
            gaps.append(f"{DAYS[wd]} {h:02d}:00")
    return gaps
