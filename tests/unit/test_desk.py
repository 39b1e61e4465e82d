"""The pure alert desk: alerts opened, joined, acknowledged, escalated, followed up."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from pipeline.alerts import desk, roster
from pipeline.alerts import lifecycle as lc
from pipeline.config import load_venues
from pipeline.kafka_local import deploy_dir
from pipeline.records import Feedback, ScoredFeedback

VENUES = load_venues(deploy_dir() / "pronto.demo.toml")
BUS = VENUES.by_id("bus-42")
assert BUS is not None


@dataclass
class DictBook:
    alerts: dict[str, lc.Alert] = field(default_factory=dict)
    index: dict[str, str] = field(default_factory=dict)

    def alert(self, ref: str) -> lc.Alert | None:
        return self.alerts.get(ref)

    def open_ref(self, key: str) -> str | None:
        ref = self.index.get(key)
        return ref if ref in self.alerts else None

    def ref_taken(self, ref: str, feedback_id: str) -> bool:
        a = self.alerts.get(ref)
        return a is not None and a.feedback_ids[:1] != (feedback_id,)

    def recently_paged(self, location_id: str) -> list[lc.Alert]:
        return [a for a in self.alerts.values() if a.location_id == location_id]

    def handled(self, feedback_id: str) -> bool:
        return desk.handled_key(feedback_id) in self.index

    def apply(self, out: desk.Outputs) -> None:
        for ref, a in out.alerts.items():
            if a is None:
                self.alerts.pop(ref, None)
            else:
                self.alerts[ref] = a
        for k, r in out.index.items():
            if r is None:
                self.index.pop(k, None)
            else:
                self.index[k] = r


def scored(fid: str, score: int | None, text: str, customer: str = "c_1", p_neg: float = 0.1,
           scores: dict[str, object] | None = None) -> ScoredFeedback:  # fmt: skip
    fb = Feedback(id=fid, received_at=time.time(), channel="sms", location_id="bus-42",
                  customer_ref=customer, score=score, scale="nps10" if score is not None else None,
                  text=text, lang="es", contact="enc", meta={"ref": "ABCDEF"})  # fmt: skip
    return ScoredFeedback(feedback=fb.to_dict(), sentiment_negative=p_neg, sentiment_label="x",
                          model_version=1, scored_at=time.time(), scores=scores or {})  # fmt: skip


def test_a_complaint_opens_and_pages_the_first_on_shift() -> None:
    book, now = DictBook(), time.time()
    out = desk.on_feedback(book, BUS, scored("f1", 2, "sucio"), now)
    assert [e["event"] for e in out.events] == ["opened", "paged"]
    (page,) = out.messages
    expected, _ = roster.recipient(BUS, 0, datetime.fromtimestamp(now, UTC))
    assert page["to_name"] == expected.name and page["kind"] == "page"
    assert page["page_id"] == f"P{page['ref']}-p0"
    assert out.events[1]["feedback_ref"] == "ABCDEF"


def test_a_happy_answer_opens_nothing() -> None:
    out = desk.on_feedback(DictBook(), BUS, scored("f1", 9, "genial"), time.time())
    assert out.events == [] and out.messages == []


def test_further_messages_join_and_the_same_feedback_twice_changes_nothing() -> None:
    book, now = DictBook(), time.time()
    book.apply(desk.on_feedback(book, BUS, scored("f1", 2, "sucio"), now))
    out = desk.on_feedback(book, BUS, scored("f2", None, "y además huele mal", p_neg=0.95), now + 5)
    assert [e["event"] for e in out.events] == ["joined"] and out.messages == []
    book.apply(out)
    again = desk.on_feedback(
        book, BUS, scored("f2", None, "y además huele mal", p_neg=0.95), now + 6
    )
    assert again.events == [] and again.messages == []


def test_ack_tells_the_customer_the_name_and_resolve_asks_the_follow_up() -> None:
    book, now = DictBook(), time.time()
    book.apply(desk.on_feedback(book, BUS, scored("f1", 1, "fatal"), now))
    ref = next(iter(book.alerts))
    out = desk.on_command(book, BUS, {"type": "ack", "ref": ref, "by": "Luis"}, now + 20)
    book.apply(out)
    (msg,) = out.messages
    assert msg["kind"] == "customer" and "Luis" in msg["body"] and msg["contact"] == "enc"
    out = desk.on_command(book, BUS, {"type": "resolve", "ref": ref, "by": "Luis"}, now + 60)
    book.apply(out)
    assert "1-5" in out.messages[0]["body"]
    out = desk.on_feedback(book, BUS, scored("f3", None, "5"), now + 90)
    assert [e["event"] for e in out.events] == ["followed_up"]
    assert out.events[0]["alert"]["outcome"] == "recovered"
    assert out.alerts[ref] is None  # closed: out of the table


def test_no_ack_escalates_to_the_next_one_and_a_late_ack_stops_it() -> None:
    book, now = DictBook(), time.time()
    book.apply(desk.on_feedback(book, BUS, scored("f1", 0, "horrible"), now))
    ref = next(iter(book.alerts))
    assert not desk.due_now(book.alerts[ref], BUS, now + 30)
    assert desk.due_now(book.alerts[ref], BUS, now + BUS.ack_timeout_s + 1)
    out = desk.on_command(book, BUS, {"type": "tick", "ref": ref}, now + BUS.ack_timeout_s + 1)
    book.apply(out)
    (page,) = out.messages
    second, _ = roster.recipient(BUS, 1, datetime.fromtimestamp(now + BUS.ack_timeout_s + 1, UTC))
    assert page["to_name"] == second.name and page["page_id"] == f"P{ref}-p1"
    book.apply(desk.on_command(book, BUS, {"type": "ack", "ref": ref, "by": second.name}, now + 70))
    assert not desk.due_now(book.alerts[ref], BUS, now + 200)


def test_a_failed_delivery_escalates_at_once_but_only_for_the_latest_page() -> None:
    book, now = DictBook(), time.time()
    book.apply(desk.on_feedback(book, BUS, scored("f1", 1, "mal"), now))
    ref = next(iter(book.alerts))
    stale = desk.on_command(
        book, BUS, {"type": "delivery_failed", "page_id": f"P{ref}-p7"}, now + 1
    )
    assert stale.messages == []
    out = desk.on_command(book, BUS, {"type": "delivery_failed", "page_id": f"P{ref}-p0"}, now + 1)
    assert [m["page_id"] for m in out.messages] == [f"P{ref}-p1"]


def test_not_a_complaint_closes_it_and_teaches_the_model() -> None:
    book, now = DictBook(), time.time()
    book.apply(desk.on_feedback(book, BUS, scored("f1", None, "el bus va lleno", p_neg=0.97), now))
    ref = next(iter(book.alerts))
    out = desk.on_command(book, BUS, {"type": "not_complaint", "ref": ref, "by": "Ana"}, now + 5)
    corrected = [e for e in out.events if e["event"] == "corrected"]
    assert corrected and corrected[0]["label"] in ("neutral", "positive")
    assert corrected[0]["text"] == "el bus va lleno"
    assert out.alerts[ref] is None


def test_a_falling_csat_goes_to_the_manager_once() -> None:
    resto = VENUES.by_id("resto-sol")
    assert resto is not None
    book, now = DictBook(), time.time()
    window = {"1h": {"csat": 0.3, "csat_n": resto.trend_min_answers + 5}}
    fb = scored("f1", None, "ok", p_neg=0.2, scores=window)
    fb.feedback["location_id"] = "resto-sol"
    out = desk.on_feedback(book, resto, fb, now)
    book.apply(out)
    managers = [m for m in out.messages if m["to_name"] == resto.escalation.manager]
    assert len(managers) == 1 and managers[0]["kind"] == "manager"
    assert desk.on_feedback(book, resto, fb, now + 1).messages == []


def test_a_burst_at_one_location_becomes_one_grouped_page() -> None:
    book, now = DictBook(), time.time()
    outs = []
    for i in range(3):
        out = desk.on_feedback(
            book, BUS, scored(f"b{i}", 1, f"el aire no va {i}", customer=f"c_{i}"), now + i
        )
        book.apply(out)
        outs.append(out)
    assert [len(o.messages) for o in outs] == [1, 0, 0]  # the first pages at once, no waiting
    leader_ref = outs[0].messages[0]["ref"]
    assert book.alerts[leader_ref].burst and len(book.alerts[leader_ref].burst) == 2
    assert not desk.on_command(book, BUS, {"type": "tick", "ref": leader_ref}, now + 10).messages
    assert desk.due_now(book.alerts[leader_ref], BUS, now + desk.BURST_SPAN_S + 1)
    out = desk.on_command(
        book, BUS, {"type": "tick", "ref": leader_ref}, now + desk.BURST_SPAN_S + 1
    )
    book.apply(out)
    (grouped,) = out.messages
    assert grouped["page_id"] == f"P{leader_ref}-g0" and grouped["body"].startswith("3 quejas")
    members = [r for r in book.alerts if r != leader_ref]
    assert all(r in grouped["body"] for r in members)
    # The members never escalate on their own: the leader speaks for the burst.
    assert not any(desk.due_now(book.alerts[r], BUS, now + 45) for r in members)
    # "OK" to the leader takes the whole burst: three customers are told who is coming.
    out = desk.on_command(book, BUS, {"type": "ack", "ref": leader_ref, "by": "Ana"}, now + 50)
    assert [e["event"] for e in out.events].count("acknowledged") == 3
    assert len([m for m in out.messages if m["kind"] == "customer"]) == 3


def test_an_urgent_message_is_never_held_back_in_a_burst() -> None:
    book, now = DictBook(), time.time()
    book.apply(desk.on_feedback(book, BUS, scored("u0", 2, "sucio", customer="c_0"), now))
    out = desk.on_feedback(book, BUS, scored("u1", None, "hay una pelea", customer="c_1"), now + 2)
    assert len(out.messages) == 1 and out.messages[0]["urgent"]


def test_a_redelivered_complaint_finds_its_own_reference_again() -> None:
    book, now = DictBook(), time.time()
    first = desk.on_feedback(book, BUS, scored("r1", 1, "mal"), now)
    book.apply(first)
    ref = first.messages[0]["ref"]
    book.index.clear()  # as if the index's changelog had been lost in a crash
    again = desk.on_feedback(book, BUS, scored("r1", 1, "mal"), now + 1)
    assert again.messages[0]["page_id"] == first.messages[0]["page_id"] == f"P{ref}-p0"


def fast_copy(fid: str, score: int | None, text: str, p_neg: float = 0.1) -> ScoredFeedback:
    """The copy that ingest sends to `feedback.urgent`: no rolling scores yet."""
    sf = scored(fid, score, text, p_neg=p_neg)
    return dataclasses.replace(sf, scores={})


@pytest.mark.parametrize("first", ["fast", "scored"])
def test_a_complaint_seen_by_both_paths_opens_one_alert_and_one_page(first: str) -> None:
    book, now = DictBook(), time.time()
    copies = {"fast": fast_copy("f1", 2, "sucio"), "scored": scored("f1", 2, "sucio")}
    second = "scored" if first == "fast" else "fast"
    out = desk.on_feedback(book, BUS, copies[first], now)
    book.apply(out)
    assert [e["event"] for e in out.events] == ["opened", "paged"] and len(out.messages) == 1
    again = desk.on_feedback(book, BUS, copies[second], now + 40)
    assert again.events == [] and again.messages == [] and again.alerts == {}


def test_the_second_copy_opens_nothing_even_after_the_alert_was_closed() -> None:
    book, now = DictBook(), time.time()
    book.apply(desk.on_feedback(book, BUS, fast_copy("f1", 2, "sucio"), now))
    ref = next(iter(book.alerts))
    book.apply(
        desk.on_command(book, BUS, {"type": "not_complaint", "ref": ref, "by": "Ana"}, now + 5)
    )
    assert book.alerts == {}  # dismissed: gone from the table and the customer's index
    late = desk.on_feedback(book, BUS, scored("f1", 2, "sucio"), now + 90)  # after a backlog
    assert late.events == [] and late.messages == [] and late.alerts == {}


def test_a_message_only_the_score_stage_finds_negative_still_alerts() -> None:
    book, now = DictBook(), time.time()
    # Ingest's snapshot thought it neutral: no fast copy. The score stage's model says negative.
    out = desk.on_feedback(book, BUS, scored("f9", None, "el chófer ni saludó", p_neg=0.97), now)
    assert [e["event"] for e in out.events] == ["opened", "paged"] and len(out.messages) == 1


def test_handled_marks_are_kept_apart_from_customers_and_carry_their_time() -> None:
    book, now = DictBook(), time.time()
    out = desk.on_feedback(book, BUS, fast_copy("f1", 2, "sucio"), now)
    mark = out.index[desk.handled_key("f1")]
    assert mark is not None and mark.split()[0] in out.alerts
    assert abs(desk.handled_at(mark) - now) <= 1.0
    happy = desk.on_feedback(book, BUS, scored("f2", 10, "genial"), now)
    assert desk.handled_key("f2") not in happy.index  # only feedback that touched an alert
