"""The alert process keeps only each reference's owner from the worker-wide alert index, and
the desk reads the same answers from it as from the whole index."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from pipeline.alert_index import apply_alert_owner, folds_for
from pipeline.alerts.stage import TableBook

EVENTS = [
    {"event": "paged", "alert": {"ref": "4821", "feedback_ids": ["f1", "f2"], "state": "paged"}},
    {"event": "opened", "alert": {"ref": "7777", "feedback_ids": [], "state": "open"}},  # a trend
    {"event": "resolved", "alert": {"ref": "1234", "feedback_ids": ["f9"], "state": "resolved"}},
]


def table(data: dict[str, Any]) -> Any:
    """A stand-in for a Faust table: the book reads its store (`data`)."""
    return SimpleNamespace(data=data)


def book_from(apply: Any) -> TableBook:
    index: dict[str, Any] = {}
    for doc in EVENTS:
        apply(index, "loc", doc)
    return TableBook(alerts=table({}), index=table({}), known_refs=index)


@pytest.mark.parametrize(
    "apply", [apply_alert_owner, folds_for({"alert"}), folds_for({"web", "alert"})]
)
def test_a_reference_is_taken_only_by_another_feedback(apply: Any) -> None:
    book = book_from(apply)
    assert not book.ref_taken("4821", "f1")  # its own (a redelivery makes the same ref)
    assert book.ref_taken("4821", "f3")
    assert book.ref_taken("7777", "f1")  # a trend alert owns its reference
    assert book.ref_taken("1234", "f1") and not book.ref_taken("1234", "f9")
    assert not book.ref_taken("0000", "f1")  # nobody's


def test_the_alert_process_keeps_one_small_entry_per_alert() -> None:
    index: dict[str, Any] = {}
    for doc in EVENTS:
        apply_alert_owner(index, "loc", doc)
    assert index == {"owner:4821": "f1", "owner:7777": None, "owner:1234": "f9"}


def test_an_alert_in_this_process_s_table_wins_over_the_index() -> None:
    index: dict[str, Any] = {}
    apply_alert_owner(index, "loc", EVENTS[0])
    stored = orjson.dumps({"feedback_ids": ["f3"]})  # the alerts table keeps the JSON bytes
    book = TableBook(alerts=table({"4821": stored}), index=table({}), known_refs=index)
    assert not book.ref_taken("4821", "f3") and book.ref_taken("4821", "f1")
