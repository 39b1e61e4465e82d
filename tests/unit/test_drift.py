"""Per-location drift detection: drops fire, rises and stationary noise do not."""

from __future__ import annotations

import copy
import random

import pytest

from pipeline.scoring.drift import DriftEvent, DriftMonitor, normalise

GOOD_CSAT = [2, 3, 5, 30, 60]  # weights of 1..5: mean 4.43
BAD_CSAT = [30, 20, 20, 20, 10]  # mean 2.6
GOOD_NPS = [1, 1, 1, 1, 1, 2, 3, 10, 20, 30, 30]  # weights of 0..10
BAD_NPS = [10, 10, 10, 10, 10, 10, 10, 10, 10, 5, 5]


def answers(seed: int, weights: list[int], n: int, scale: str) -> list[float]:
    rng = random.Random(seed)
    values = range(1, 6) if scale == "csat5" else range(11)
    return [normalise(rng.choices(values, weights=weights)[0], scale) for _ in range(n)]


def feed(m: DriftMonitor, location: str, xs: list[float]) -> list[DriftEvent]:
    return [e for x in xs if (e := m.update(location, x)) is not None]


def test_normalise_maps_both_scales_onto_unit_interval() -> None:
    assert [normalise(s, "csat5") for s in range(1, 6)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [normalise(s, "nps10") for s in (0, 5, 10)] == [0.0, 0.5, 1.0]
    for s, scale in ((0, "csat5"), (6, "csat5"), (11, "nps10"), (3, "x")):
        with pytest.raises(ValueError):
            normalise(s, scale)
    with pytest.raises(ValueError):
        DriftMonitor().update("x", 1.5)


@pytest.mark.parametrize(
    ("scale", "good", "bad"), [("csat5", GOOD_CSAT, BAD_CSAT), ("nps10", GOOD_NPS, BAD_NPS)]
)
@pytest.mark.parametrize("seed", range(5))
def test_clear_drop_fires_once_soon_after_the_change(
    scale: str, good: list[int], bad: list[int], seed: int
) -> None:
    m = DriftMonitor()
    assert feed(m, "bus-42", answers(seed, good, 500, scale)) == []
    after = answers(seed + 100, bad, 500, scale)
    hits = [(i, e) for i, x in enumerate(after) if (e := m.update("bus-42", x)) is not None]
    assert hits, "a clear drop was not detected"
    first_at, event = hits[0]
    assert first_at < 150
    assert event.location == "bus-42"
    assert event.before_mean > event.after_mean
    good_mean = sum(answers(seed, good, 500, scale)) / 500
    assert event.before_mean == pytest.approx(good_mean, abs=0.05)
    assert 0 < event.after_n < event.n
    # The quiet period keeps one change from paging twice in a row.
    assert all(j - first_at >= m.min_samples for j, _ in hits[1:])


@pytest.mark.parametrize(
    ("scale", "good", "bad"), [("csat5", GOOD_CSAT, BAD_CSAT), ("nps10", GOOD_NPS, BAD_NPS)]
)
@pytest.mark.parametrize("seed", range(5))
def test_a_rise_does_not_fire(scale: str, good: list[int], bad: list[int], seed: int) -> None:
    m = DriftMonitor()
    events = feed(m, "r", answers(seed, bad, 500, scale) + answers(seed + 1, good, 500, scale))
    assert events == []
    assert m.mean("r") == pytest.approx(sum(answers(seed + 1, good, 500, scale)) / 500, abs=0.1)


@pytest.mark.parametrize(("scale", "weights"), [("csat5", GOOD_CSAT), ("nps10", BAD_NPS)])
@pytest.mark.parametrize("seed", range(5))
def test_stationary_noise_does_not_fire(scale: str, weights: list[int], seed: int) -> None:
    m = DriftMonitor()
    assert feed(m, "s", answers(seed, weights, 3000, scale)) == []


def test_no_event_before_min_samples() -> None:
    drop = [0.9] * 40 + [0.1] * 60  # ADWIN checks every 32 answers: this fires at the 96th
    assert feed(DriftMonitor(min_samples=1000), "x", drop) == []
    assert len(feed(DriftMonitor(min_samples=10), "x", drop)) == 1


def test_locations_are_independent() -> None:
    m = DriftMonitor()
    feed(m, "a", [0.9] * 300)
    events = feed(m, "b", [0.2] * 300)
    assert events == []
    assert m.mean("a") == pytest.approx(0.9)
    assert m.mean("b") == pytest.approx(0.2)
    assert m.mean("c") is None
    assert [e.location for e in feed(m, "a", [0.2] * 200)] == ["a"]


def test_round_trip_through_bytes_continues_identically() -> None:
    xs = answers(7, GOOD_CSAT, 400, "csat5") + answers(8, BAD_CSAT, 400, "csat5")
    whole = DriftMonitor()
    expected = feed(whole, "x", xs)
    assert expected, "the fixture stream must contain a drop"

    first = DriftMonitor()
    snapshot = copy.deepcopy(xs[:200])
    feed(first, "x", xs[:200])
    restored = DriftMonitor.from_bytes(first.to_bytes())
    assert restored.mean("x") == first.mean("x")
    assert feed(restored, "x", xs[200:]) == expected
    assert xs[:200] == snapshot  # the input is left as it was


def test_from_bytes_rejects_other_objects() -> None:
    import pickle

    with pytest.raises(TypeError):
        DriftMonitor.from_bytes(pickle.dumps({"not": "a monitor"}))
