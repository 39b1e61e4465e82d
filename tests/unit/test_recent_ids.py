"""Ingest's memory of the ids it stored lately (`pipeline/ingest/recent.py`)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.ingest.recent import RecentIds


def test_ids_older_than_the_horizon_are_forgotten_and_younger_ones_kept() -> None:
    r = RecentIds(horizon_s=120.0)
    for t in range(0, 300):
        r.add(f"sms-{t}", t % 2 == 0, now=float(t))
    assert r.get("sms-299") is False and r.get("sms-298") is True
    assert r.get("sms-180") is not None  # within the horizon
    assert r.get("sms-100") is None  # long gone
    assert 120 <= len(r) <= 132  # the horizon, plus at most one bucket


def test_never_more_than_the_limit() -> None:
    r = RecentIds(horizon_s=1e9, limit=1_000)
    for i in range(10_000):
        r.add(f"api-{i}", False, now=i / 100)
    assert len(r) <= 1_000
    assert r.get("api-9999") is False and r.get("api-0") is None


@given(st.lists(st.tuples(st.integers(0, 30), st.booleans()), max_size=200))
def test_it_answers_as_a_dict_of_the_ids_within_the_horizon(adds: list[tuple[int, bool]]) -> None:
    """Against the plain definition: an id is known, with its last value, if it was added no
    earlier than one horizon plus one bucket ago (buckets expire whole)."""
    r, log = RecentIds(horizon_s=50.0), []
    for step, (k, value) in enumerate(adds):
        now = step * 1.0
        r.add(f"id-{k}", value, now)
        log.append((now, f"id-{k}", value))
        for key in {f"id-{j}" for j in range(31)}:
            seen = [(t, v) for t, i, v in log if i == key]
            got = r.get(key)
            if seen and seen[-1][0] > now - 50.0:  # surely kept
                assert got == seen[-1][1]
            if not seen or seen[-1][0] <= now - 50.0 - r.bucket_s:  # surely gone
                assert got is None
    assert len(r) == sum(len(ids) for _, ids in r._buckets)
