"""Alert fatigue: the per-supervisor page cap, and burst grouping."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import pytest

from pipeline.alerts.lifecycle import open_alert
from pipeline.alerts.throttle import PageThrottle, group_burst


def test_sliding_window_per_supervisor() -> None:
    t = PageThrottle(limit=3, window_s=60)
    assert [t.allow("Ana", s) for s in (0, 1, 2, 3)] == [True, True, True, False]
    assert t.remaining("Ana", 3) == 0
    assert t.allow("Luis", 3)
    # The window slides: the page at t=0 leaves the window at t=60, not before.
    assert not t.allow("Ana", 59.9)
    assert t.allow("Ana", 60)
    assert not t.allow("Ana", 60.5)
    assert t.remaining("Ana", 200) == 3


def test_refused_pages_do_not_use_up_the_budget() -> None:
    t = PageThrottle(limit=1, window_s=10)
    assert t.allow("Ana", 0)
    assert not any(t.allow("Ana", s) for s in range(1, 10))
    assert t.allow("Ana", 10)


def test_urgent_pages_always_go_but_count() -> None:
    t = PageThrottle(limit=1, window_s=60)
    assert t.allow("Ana", 0)
    assert t.allow("Ana", 1, urgent=True)
    assert not t.allow("Ana", 2)
    assert t.remaining("Ana", 2) == 0


def test_state_stays_bounded() -> None:
    t = PageThrottle(limit=2, window_s=60)
    for i in range(100):
        t.allow(f"sup-{i}", float(i))
    t.allow("late", 1000.0)
    t.remaining("sup-0", 1000.0)
    assert "sup-0" not in t.sent


def test_state_pickles_and_round_trips() -> None:
    t = PageThrottle(limit=2, window_s=30)
    t.allow("Ana", 0)
    t.allow("Ana", 5)
    for copy in (pickle.loads(pickle.dumps(t)), PageThrottle.from_dict(t.to_dict())):
        assert copy.to_dict() == t.to_dict()
        assert not copy.allow("Ana", 10)
        assert copy.allow("Ana", 31)


@pytest.mark.parametrize(("limit", "window"), [(0, 60), (3, 0)])
def test_bad_settings(limit: int, window: float) -> None:
    with pytest.raises(ValueError):
        PageThrottle(limit, window)


@dataclass(frozen=True)
class A:
    ref: str
    location_id: str
    opened_at: float
    urgent: bool = False


def refs(groups: list[list[A]]) -> list[list[str]]:
    return [[a.ref for a in g] for g in groups]


def test_burst_groups_by_location_and_span() -> None:
    alerts = [
        A("b1", "bus", 0), A("r1", "resto", 2), A("b2", "bus", 10), A("b3", "bus", 30),
        A("b4", "bus", 31), A("r2", "resto", 40),
    ]  # fmt: skip
    assert refs(group_burst(alerts, span_s=30)) == [["b1", "b2", "b3"], ["r1"], ["b4"], ["r2"]]


def test_burst_input_order_does_not_matter() -> None:
    alerts = [A("c", "bus", 20), A("a", "bus", 0), A("b", "bus", 10)]
    assert refs(group_burst(alerts, span_s=30)) == [["a", "b", "c"]]


def test_urgent_alerts_are_never_grouped() -> None:
    alerts = [A("a", "bus", 0), A("fire", "bus", 1, urgent=True), A("b", "bus", 2)]
    assert refs(group_burst(alerts)) == [["a", "b"], ["fire"]]


def test_burst_works_on_real_alerts() -> None:
    alerts = [
        open_alert(f"{i}000", "bus-42", f"c{i}", f"f{i}", "low_score", False, 100.0 + i)[0]
        for i in range(3)
    ]
    groups = group_burst(alerts, span_s=5)
    assert len(groups) == 1 and [a.ref for a in groups[0]] == ["0000", "1000", "2000"]
    assert group_burst([]) == []
