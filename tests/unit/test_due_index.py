"""The alert timers' index on disk (`alerts/due_index.py`) against the dict it replaced."""

from __future__ import annotations

import random
import sqlite3
import tracemalloc
from collections.abc import Iterator

import pytest

from pipeline.alerts.due_index import DueIndex


def test_it_answers_as_the_dict_did_over_random_changes() -> None:
    rng = random.Random(7)
    due, model = DueIndex(), {}
    for step in range(5000):
        ref, loc = f"r{rng.randrange(300)}", f"loc-{rng.randrange(12)}"
        if rng.random() < 0.3:
            due.drop(ref)
            model.pop(ref, None)
        else:
            at = rng.uniform(0, 1000)
            due.set(ref, at, loc)
            model[ref] = (at, loc)
        if step % 250 == 0:
            now = rng.uniform(0, 1000)
            expected = sorted((at, ref, loc) for ref, (at, loc) in model.items() if at <= now)
            assert due.due(now) == [(ref, loc) for _, ref, loc in expected]
            counts: dict[str, int] = {}
            for _, loc in model.values():
                counts[loc] = counts.get(loc, 0) + 1
            assert due.counts() == counts
            assert len(due) == len(model)


def test_rebuild_replaces_everything_and_recounts() -> None:
    due = DueIndex()
    due.set("old", 1.0, "a")
    due.rebuild([("x", 5.0, "b"), ("y", 50.0, "b"), ("x", 7.0, "b")])  # a ref twice: the last
    assert due.due(10.0) == [("x", "b")]
    assert due.counts() == {"b": 2}
    due.drop("x")
    assert due.counts() == {"b": 1}


def test_a_rebuild_after_a_failed_one_starts_afresh() -> None:
    """The database keeps no journal (`disk_state.shared_db`), so a failed rebuild is not rolled
    back: the tick re-arms again, from the whole table, until a rebuild has gone through."""
    due = DueIndex()
    due.set("kept", 1.0, "a")

    def broken() -> Iterator[tuple[str, float, str]]:
        yield ("new", 2.0, "a")
        raise RuntimeError("the table could not be read")

    with pytest.raises(RuntimeError):
        due.rebuild(broken())
    due.rebuild([("again", 3.0, "b")])
    assert due.due(100.0) == [("again", "b")]
    assert due.counts() == {"b": 1}


def test_each_index_has_its_own_table_in_the_database_given() -> None:
    db = sqlite3.connect("", isolation_level=None)
    one, two = DueIndex(lambda: db), DueIndex(lambda: db)
    one.set("r", 1.0, "a")
    assert two.due(10.0) == [] and one.due(10.0) == [("r", "a")]


def test_the_process_holds_almost_nothing_for_a_hundred_thousand_open_alerts() -> None:
    """As a dict of ref -> (due time, location), 100,000 open alerts held about 17 MB. (SQLite's
    own pages are outside tracemalloc: its page cache is bounded, `disk_state.CACHE_KIB`.)"""
    due = DueIndex()
    locs = [f"loc-{i}" for i in range(1000)]
    tracemalloc.start()
    try:
        due.rebuild((f"{i:07d}", 1e9 + i, locs[i % 1000]) for i in range(50_000))
        for i in range(50_000, 100_000):
            due.set(f"{i:07d}", 1e9 + i, locs[i % 1000])
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(due) == 100_000
    assert held < 2_000_000, f"{held / 1e6:.1f} MB held in Python objects"
    assert len(due.due(1e9 + 9)) == 10  # and the tick reads only what is due
