"""The web process's alert index: what it answers, and what it costs to keep a week of it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
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


FOLD_MANY = """
import sys, time
sys.path.insert(0, sys.argv[1])
from test_alert_index import event
from pipeline import alert_index as ai
from pipeline.mirror import TopicMirror

def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 1e6

index = TopicMirror("alerts.events", "unused:9092", ai.apply_alert_event, since_s=7 * 86400)
docs = [event(i) for i in range(1_000)]
sizes = []
for i in range(60_000):
    doc = docs[i % 1_000]
    doc["alert"]["ref"], doc["feedback_ref"] = f"Q{i:06d}", f"R{i:06d}"
    with index.batch():
        index.fold("loc", doc, at=time.time())
    if i in (9_999, 59_999):
        sizes.append(rss_mb())
print(len(list(ai.alerts(index.state))), sizes[1] - sizes[0])
"""


def test_a_week_of_alerts_is_kept_on_disk_not_in_memory() -> None:
    # In a dict the web process kept about 0.8 KB an alert: 50k more alerts cost ~40 MB.
    out = subprocess.run([sys.executable, "-c", FOLD_MANY, str(Path(__file__).parent)],
                         capture_output=True, text=True, check=True, timeout=120).stdout  # fmt: skip
    listed, grew_mb = out.split()
    assert int(listed) == 60_000
    assert float(grew_mb) < 4.0, grew_mb
