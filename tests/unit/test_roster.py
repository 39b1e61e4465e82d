"""Shifts, who is on shift, who gets the page, and coverage of the week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipeline.alerts.roster import (
    chain_on_shift,
    coverage_gaps,
    max_level,
    on_shift,
    parse_shift,
    recipient,
)
from pipeline.config import Escalation, Location, Supervisor, load_venues

MADRID = ZoneInfo("Europe/Madrid")
DEMO = Path(__file__).resolve().parents[2] / "deploy" / "pronto.demo.toml"


def at(y: int, mo: int, d: int, h: int, mi: int = 0, tz: ZoneInfo = MADRID) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=tz)


def sup(name: str, *shifts: str) -> Supervisor:
    return Supervisor(name, f"+34600000{len(name):03d}", shifts)


def venue(*sups: Supervisor, chain: tuple[str, ...], manager: str, fallback: str = "") -> Location:
    return Location(
        "v", "V", timezone="Europe/Madrid", supervisors=sups,
        escalation=Escalation(chain, manager, fallback or manager),
    )  # fmt: skip


# 2024-01-08 is a Monday.
@pytest.mark.parametrize(
    ("spec", "when", "expected"),
    [
        ("mon-fri 06:00-14:00", at(2024, 1, 8, 6, 0), True),
        ("mon-fri 06:00-14:00", at(2024, 1, 8, 13, 59), True),
        ("mon-fri 06:00-14:00", at(2024, 1, 8, 14, 0), False),  # the end is exclusive
        ("mon-fri 06:00-14:00", at(2024, 1, 8, 5, 59), False),
        ("mon-fri 06:00-14:00", at(2024, 1, 13, 8, 0), False),  # Saturday
        ("sat,sun 08:00-20:00", at(2024, 1, 14, 19, 0), True),
        ("sat,sun 08:00-20:00", at(2024, 1, 12, 19, 0), False),
        ("fri-mon 10:00-12:00", at(2024, 1, 8, 11, 0), True),  # a range that wraps
        ("fri-mon 10:00-12:00", at(2024, 1, 9, 11, 0), False),
        ("mon-wed,fri 10:00-12:00", at(2024, 1, 12, 11, 0), True),
        ("daily 12:00-24:00", at(2024, 1, 10, 23, 59), True),
        ("24/7", at(2024, 1, 10, 3, 33), True),
    ],
)
def test_shift_specs(spec: str, when: datetime, expected: bool) -> None:
    assert on_shift(sup("X", spec), MADRID, when) is expected


def test_overnight_shift_belongs_to_the_day_it_starts() -> None:
    fri_night = sup("N", "fri 22:00-06:00")
    assert on_shift(fri_night, MADRID, at(2024, 1, 12, 23, 0))  # Friday 23:00
    assert on_shift(fri_night, MADRID, at(2024, 1, 13, 3, 0))  # Saturday 03:00
    assert not on_shift(fri_night, MADRID, at(2024, 1, 12, 3, 0))  # Friday 03:00
    assert not on_shift(fri_night, MADRID, at(2024, 1, 13, 6, 0))


def test_sunday_night_runs_into_monday() -> None:
    sun_night = sup("N", "sun 22:00-06:00")
    assert on_shift(sun_night, MADRID, at(2024, 1, 8, 5, 0))  # Monday 05:00
    assert not on_shift(sun_night, MADRID, at(2024, 1, 9, 5, 0))


def test_time_zone_is_the_locations() -> None:
    ana = sup("Ana", "daily 09:00-10:00")
    noon_utc = datetime(2024, 1, 8, 8, 30, tzinfo=UTC)  # 09:30 in Madrid, 08:30 in London
    assert on_shift(ana, "Europe/Madrid", noon_utc)
    assert not on_shift(ana, "Europe/London", noon_utc)


def test_dst_spring_forward_day() -> None:
    # Madrid, 2024-03-31: 02:00 CET jumps to 03:00 CEST. Shifts are wall-clock.
    night = sup("N", "sat 22:00-06:00")
    hour_before = datetime(2024, 3, 31, 0, 30, tzinfo=UTC)  # 01:30 CET
    hour_after = datetime(2024, 3, 31, 1, 30, tzinfo=UTC)  # 03:30 CEST
    end = datetime(2024, 3, 31, 4, 0, tzinfo=UTC)  # 06:00 CEST
    assert on_shift(night, MADRID, hour_before)
    assert on_shift(night, MADRID, hour_after)
    assert on_shift(night, MADRID, end - timedelta(minutes=1))
    assert not on_shift(night, MADRID, end)
    # The lost hour: a 02:00-03:00 shift is never on that night.
    lost = sup("L", "sun 02:00-03:00")
    minutes = (datetime(2024, 3, 30, 22, tzinfo=UTC) + timedelta(minutes=m) for m in range(360))
    assert not any(on_shift(lost, MADRID, t) for t in minutes)


def test_dst_fall_back_day_covers_the_repeated_hour_twice() -> None:
    # Madrid, 2024-10-27: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
    lost = sup("L", "sun 02:00-03:00")
    first = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    second = datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    assert on_shift(lost, MADRID, first)
    assert on_shift(lost, MADRID, second)
    assert not on_shift(lost, MADRID, datetime(2024, 10, 27, 2, 0, tzinfo=UTC))


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        on_shift(sup("X", "24/7"), MADRID, datetime(2024, 1, 8, 9, 0))


@pytest.mark.parametrize(
    "spec", ["mon 9-5", "funday 08:00-10:00", "mon 25:00-26:00", "mon 08:00-08:00", "", "mon"]
)
def test_bad_specs_name_the_spec(spec: str) -> None:
    with pytest.raises(ValueError, match="shift"):
        parse_shift(spec)
    with pytest.raises(ValueError) as e:
        parse_shift(spec)
    assert repr(spec) in str(e.value)


def test_chain_on_shift_keeps_chain_order() -> None:
    loc = venue(
        sup("Bea", "24/7"), sup("Ana", "daily 08:00-16:00"), sup("Cris", "daily 16:00-24:00"),
        sup("Mar", "24/7"), chain=("Ana", "Bea", "Cris"), manager="Mar",
    )  # fmt: skip
    names = [s.name for s in chain_on_shift(loc, at(2024, 1, 8, 9))]
    assert names == ["Ana", "Bea"]
    assert [s.name for s in chain_on_shift(loc, at(2024, 1, 8, 17))] == ["Bea", "Cris"]


def test_recipient_walks_the_on_shift_chain_then_the_manager() -> None:
    loc = venue(
        sup("Ana", "daily 08:00-16:00"), sup("Bea", "24/7"), sup("Cris", "daily 16:00-24:00"),
        sup("Mar", "mon-fri 09:00-17:00"), chain=("Ana", "Bea", "Cris"), manager="Mar",
    )  # fmt: skip
    when = at(2024, 1, 13, 9)  # Saturday: the manager is off shift but still the last resort
    got = [recipient(loc, level, when) for level in range(5)]
    assert [(s.name, fb) for s, fb in got] == [
        ("Ana", False), ("Bea", False), ("Mar", False), ("Mar", False), ("Mar", False),
    ]  # fmt: skip
    assert max_level(loc, when) == 2


def test_recipient_falls_back_when_nobody_in_the_chain_is_on_shift() -> None:
    loc = venue(
        sup("Ana", "mon-fri 08:00-16:00"), sup("Bea", "mon-fri 08:00-16:00"),
        sup("Mar", "24/7"), sup("Guard", "24/7"),
        chain=("Ana", "Bea"), manager="Mar", fallback="Guard",
    )  # fmt: skip
    sunday = at(2024, 1, 14, 3)
    assert recipient(loc, 0, sunday) == (loc.supervisor("Guard"), True)
    assert recipient(loc, 1, sunday) == (loc.supervisor("Mar"), True)
    assert recipient(loc, 0, at(2024, 1, 8, 9)) == (loc.supervisor("Ana"), False)


def test_coverage_gaps_finds_uncovered_hours() -> None:
    loc = venue(
        sup("Ana", "mon-fri 06:00-14:00"), sup("Bea", "mon-fri 14:30-22:00"), sup("Mar", "24/7"),
        chain=("Ana", "Bea"), manager="Mar",
    )  # fmt: skip
    gaps = coverage_gaps(loc)
    assert "mon 14:00" in gaps  # half an hour uncovered counts
    assert "mon 13:00" not in gaps and "mon 15:00" not in gaps
    assert "sat 12:00" in gaps
    # Mon-Fri: 22-06 (8 h) + 14:00 (1 h) = 9 a day, weekend all 48.
    assert len(gaps) == 5 * 9 + 48


def test_demo_venues_cover_the_whole_week() -> None:
    venues = load_venues(DEMO)
    assert {loc.id for loc in venues.locations} == {"bus-42", "resto-sol", "hotel-mar"}
    for loc in venues.locations:
        assert coverage_gaps(loc) == [], loc.id
        assert len(loc.escalation.chain) >= 2
        assert all(s.token for s in loc.supervisors)
        # Every hour of a DST week someone on the chain is paged first, never the fallback.
        start = datetime(2024, 3, 25, tzinfo=UTC)
        for h in range(7 * 24):
            assert recipient(loc, 0, start + timedelta(hours=h))[1] is False, (loc.id, h)
