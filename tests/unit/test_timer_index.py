import random

from pipeline.alerts import timer_index
from pipeline.alerts.timer_index import TimerIndex


def walk(armed: dict[str, tuple[float, str]], now: float) -> list[tuple[str, str]]:
    """What the tick did before the index: walk every alert for the due ones."""
    due = [(at, ref, loc) for ref, (at, loc) in armed.items() if at <= now]
    return [(ref, loc) for _, ref, loc in sorted(due)]


def test_due_matches_a_walk_of_every_alert_through_arms_rearms_and_disarms(monkeypatch):
    monkeypatch.setattr(timer_index, "COMPACT_SLACK", 10)  # compact often
    rng = random.Random(7)
    ix, armed = TimerIndex(), {}
    now = 0.0
    for step in range(5_000):
        ref = str(1000 + rng.randrange(300))
        roll = rng.random()
        if roll < 0.6:
            at, loc = now + rng.uniform(0, 50), f"loc-{rng.randrange(5)}"
            ix.arm(ref, at, loc)
            armed[ref] = (at, loc)
        elif roll < 0.8:
            ix.disarm(ref)
            armed.pop(ref, None)
        else:
            now += rng.uniform(0, 5)
            assert ix.due(now) == walk(armed, now), step
        assert len(ix) == len(armed)
        counts = {}
        for _, loc in armed.values():
            counts[loc] = counts.get(loc, 0) + 1
        assert dict(ix.counts()) == counts
    assert len(ix._heap) <= 2 * len(armed) + 10 + 1  # stale entries do not pile up


def test_due_ones_stay_armed_until_rearmed():
    ix = TimerIndex()
    ix.arm("4821", 10.0, "loc-1")
    assert ix.due(11.0) == [("4821", "loc-1")]
    assert ix.due(12.0) == [("4821", "loc-1")]  # not acted on yet: still due
    ix.arm("4821", 22.0, "loc-1")  # the tick re-arms it for later
    assert ix.due(12.0) == []
    assert ix.due(22.0) == [("4821", "loc-1")]


def test_clear_and_a_ref_moving_location():
    ix = TimerIndex()
    ix.arm("1", 5.0, "loc-1")
    ix.arm("1", 5.0, "loc-2")  # the same time, another location: counted there only
    assert dict(ix.counts()) == {"loc-2": 1}
    ix.disarm("nope")  # unknown: nothing happens
    ix.clear()
    assert len(ix) == 0 and ix.due(100.0) == [] and not ix.counts()
