"""The web process's alert index: what it answers, and what it costs to keep a week of it."""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

from pipeline import alert_index as ai
from pipeline.alerts.lifecycle import Alert, State
from pipeline.mirror import TopicMirror

WEEK = 7 * 86400


def event(i: int, state: State = State.ESCALATED, event: str = "escalated") -> dict[str, Any]:
    alert = Alert(ref=f"Q{i:05d}", location_id=f"loc-{i % 50}", customer_ref="c" * 64,
                  reason="low score", urgent=False, opened_at=1000.0 + i,
                  feedback_ids=(f"fb-{i}-0123456789abcdef",), state=state, paged_at=1001.0 + i,
                  recipients=("ana", "bob"),
                  history=((1001.0 + i, "paged", "ana"), (1031.0 + i, "escalated", "bob")),
                  text="la comida llegó fría y el mesero nunca volvió a la mesa", score=1,
                  scale="csat5", contact="gAAAAB" + "e" * 120, lang="es",
                  feedback_ref=f"R{i:06d}", themes=("food", "service")).to_dict()  # fmt: skip
    return {"event": event, "alert": alert, "feedback_ref": f"R{i:06d}",
            "recipient_ref": f"bob@loc-{i % 50}"}  # fmt: skip


def test_an_alert_moves_out_of_the_console_list_when_it_closes_and_stays_findable() -> None:
    index = TopicMirror("alerts.events", "unused:9092", ai.apply_alert_event, since_s=WEEK)
    index.fold("loc-1", event(1))
    index.fold("loc-2", event(2))
    index.fold("loc-1", event(1, State.RESOLVED, "resolved"))
    assert [a["ref"] for a in ai.alerts(index.state)] == ["Q00002"]
    assert sorted(a["ref"] for a in ai.alerts(index.state, everything=True)) == ["Q00001", "Q00002"]
    status = ai.summary_of(index.state, ai.alert_ref(index.state, "R000001"))
    assert status == {"ref": "Q00001", "state": "resolved", "location_id": "loc-1",
                      "acked_by": "", "lang": "es"}  # fmt: skip
    assert ai.last_paged(index.state, "bob@loc-2") == "Q00002"
    assert ai.alert_of(index.state, "NOPE") is None and ai.summary_of(index.state, "NOPE") is None
    index.state.expire(time.time() + WEEK + 60)  # type: ignore[attr-defined]
    assert dict(index.state) == {}  # a closed alert's keys go with the week, none left behind


def test_a_week_of_alerts_costs_under_a_kilobyte_each() -> None:
    # As dicts the web process kept 2.6 KB an alert, and orjson's own buffers 8 KB each.
    n = 5_000
    docs = [event(i) for i in range(n)]
    index = TopicMirror("alerts.events", "unused:9092", ai.apply_alert_event, since_s=WEEK)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for doc in docs:
            index.fold("loc", doc, at=time.time())
        per_alert = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert len(list(ai.alerts(index.state))) == n
    assert per_alert < 1_000, per_alert
