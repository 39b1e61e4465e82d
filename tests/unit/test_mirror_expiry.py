"""The alert index forgets, while it runs, what is older than its window; opt-outs never."""

from __future__ import annotations

import json
import time

from pipeline.alert_index import alert_of, alert_ref, apply_alert_event, last_paged, summary_of
from pipeline.disk_state import DiskState
from pipeline.mirror import TopicMirror, apply_optout

WEEK = 7 * 86400


def event(ref: str, recipient: str = "ana@loc-1") -> bytes:
    alert = {"ref": ref, "state": "paged", "location_id": "loc-1", "feedback_ids": ["f-" + ref]}
    doc = {"event": "paged", "alert": alert, "feedback_ref": "fb-" + ref,
           "recipient_ref": recipient}  # fmt: skip
    return json.dumps(doc).encode()


def test_the_alert_index_forgets_alerts_older_than_its_window() -> None:
    index = TopicMirror("alerts.events", "unused:9092", apply_alert_event, since_s=WEEK)
    now = time.time()
    index.fold("loc-1", event("OLD1"), at=now - WEEK - 3600)
    index.fold("loc-1", event("NEW1", recipient="bob@loc-1"), at=now - 60)
    assert isinstance(index.state, DiskState)
    assert index.state.expire(now) == 3  # OLD1 itself, its feedback reference, Ana's last page
    assert not [k for k in index.state if "OLD1" in k or k == "sup:ana@loc-1"]
    assert alert_of(index.state, "OLD1") is None and last_paged(index.state, "ana@loc-1") == ""
    assert alert_of(index.state, "NEW1")["ref"] == "NEW1"  # type: ignore[index]
    assert alert_ref(index.state, "fb-NEW1") == "NEW1"
    assert last_paged(index.state, "bob@loc-1") == "NEW1"


def test_a_key_written_again_is_kept() -> None:
    index = TopicMirror("alerts.events", "unused:9092", apply_alert_event, since_s=WEEK)
    now = time.time()
    index.fold("loc-1", event("K7Q2"), at=now - WEEK - 10)
    index.fold("loc-1", event("K7Q2"), at=now - 5)  # a later event of the same alert
    index.state.expire(now)  # type: ignore[attr-defined]
    assert summary_of(index.state, "K7Q2") == {
        "ref": "K7Q2",
        "state": "paged",
        "location_id": "loc-1",
        "acked_by": "",
        "lang": "",
    }


def test_opt_outs_are_never_forgotten() -> None:
    optouts = TopicMirror("customers.optouts", "unused:9092", apply_optout)
    optouts.fold("c1", {"customer_ref": "c1", "opted_out": True}, at=0.0)
    assert not isinstance(optouts.state, DiskState)
    assert optouts.state == {"c1": True}


def test_the_web_index_keeps_what_the_console_shows_and_no_customer_data() -> None:
    from pipeline.alerts.lifecycle import Alert, State
    from pipeline.web.console_page import public_alert

    full = Alert(ref="Q7K2", location_id="loc-1", customer_ref="c" * 64, reason="low score",
                 urgent=True, opened_at=1000.0, feedback_ids=("fb-1",), state=State.PAGED,
                 paged_at=1001.0, recipients=("ana",), history=((1001.0, "paged", "ana"),),
                 text="cold food", score=1, scale="csat5", contact="gAAAAB-encrypted",
                 lang="en", feedback_ref="R-1", themes=("food",)).to_dict()  # fmt: skip
    index = TopicMirror("alerts.events", "unused:9092", apply_alert_event, since_s=WEEK)
    index.fold("loc-1", {"event": "paged", "alert": full})
    kept = alert_of(index.state, "Q7K2")
    assert kept is not None
    assert public_alert(kept, "Loc 1") == public_alert(full, "Loc 1")
    assert "contact" not in kept and "customer_ref" not in kept
    assert len(kept) < len(full)
