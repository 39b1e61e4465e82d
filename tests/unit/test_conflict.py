"""Issue 16 part 3: a score and text that disagree are resolved before anyone is paged."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from pipeline.alerts import confirm, desk
from pipeline.alerts import lifecycle as lc
from pipeline.alerts.conflict import Conflict, Kind, classify, judge
from pipeline.alerts.rules import Reason
from pipeline.config import Location
from pipeline.ingest.triage import annotate, asks_first, urgent_copy
from pipeline.records import Feedback, ScoredFeedback
from pipeline.scoring.sentiment import Prediction
from tests.unit.test_desk import BUS, DictBook

HAPPY = {"negative": 0.03, "neutral": 0.08, "positive": 0.89}
ANGRY = {"negative": 0.9, "neutral": 0.05, "positive": 0.05}
NEUTRAL = {"negative": 0.2, "neutral": 0.6, "positive": 0.2}
RESTO = Location(id="resto-sol", name="Sol", scale="csat5")


@pytest.mark.parametrize(
    ("loc", "score", "scale", "text", "bare", "probs", "kind"),
    [
        (BUS, 5, "nps10", "5, muy rápidos", True, HAPPY, Kind.WRONG_SCALE),
        (BUS, 3, "nps10", "3, todo bien", True, HAPPY, Kind.WRONG_SCALE),
        (BUS, 2, "nps10", "2, genial", True, HAPPY, Kind.LOW_SCORE_HAPPY_TEXT),
        (BUS, 5, "nps10", "5 de 10, muy rápidos", False, HAPPY, Kind.LOW_SCORE_HAPPY_TEXT),
        (BUS, 5, "nps10", "5", True, None, Kind.UNCLEAR_SCALE),
        (BUS, 5, "nps10", "5!!", True, None, Kind.UNCLEAR_SCALE),
        (BUS, 3, "nps10", "3", True, None, Kind.AGREE),  # low on either scale: pages
        (BUS, 5, "nps10", "5, tarde como siempre", True, ANGRY, Kind.AGREE),
        (BUS, 10, "nps10", "10!! nunca más", True, ANGRY, Kind.HIGH_SCORE_ANGRY_TEXT),
        (BUS, 9, "nps10", "9, algo lento pero bien", True, NEUTRAL, Kind.AGREE),
        (BUS, 2, "nps10", "2, genial pero hay humo", True, HAPPY, Kind.AGREE),  # safety
        (RESTO, 1, "csat5", "1, riquísimo todo", True, HAPPY, Kind.LOW_SCORE_HAPPY_TEXT),
        (RESTO, 5, "csat5", "5, la peor paella", True, ANGRY, Kind.HIGH_SCORE_ANGRY_TEXT),
        (RESTO, 5, "csat5", "5, muy rico", True, HAPPY, Kind.AGREE),  # no wrong scale on csat5
        (RESTO, None, None, "fatal", False, ANGRY, Kind.AGREE),
        # Words that only give the score are not happy text, whatever the model says.
        (RESTO, 2, "csat5", "I'd give it a 2", True, HAPPY, Kind.AGREE),
        (RESTO, 1, "csat5", "nota: 1", True, HAPPY, Kind.AGREE),
        (BUS, 3, "nps10", "le doy un tres ⭐", True, HAPPY, Kind.AGREE),
        (BUS, 9, "nps10", "I'd give it a 9 out of 10", False, ANGRY, Kind.AGREE),
    ],
)
def test_classify(loc, score, scale, text, bare, probs, kind) -> None:  # type: ignore[no-untyped-def]
    assert classify(loc, score, scale, text, bare=bare, probs=probs).kind == kind


def test_judge_pages_a_hidden_complaint_at_once_and_asks_a_happy_low_score() -> None:
    hidden = Conflict(Kind.HIGH_SCORE_ANGRY_TEXT, 10, "nps10", evidence="P(negative)=0.90")
    d, ask = judge(BUS, 10, "nps10", "10!! nunca más", 0.0, hidden)
    assert d is not None and d.reason == Reason.NEGATIVE_TEXT and not ask
    happy = Conflict(Kind.LOW_SCORE_HAPPY_TEXT, 2, "nps10")
    d, ask = judge(BUS, 2, "nps10", "2, genial", 1.0, happy)
    assert d is not None and ask
    d, ask = judge(BUS, 2, "nps10", "2, genial, me han robado", 1.0, happy)
    assert d is not None and d.urgent and not ask  # safety pages at once, whatever the score
    assert judge(BUS, 2, "nps10", "2", 1.0, None) == judge(BUS, 2, "nps10", "2", 1.0, None)


@dataclass
class FakeModel:
    probs: dict[str, float]
    version: int = 3

    def predict(self, text: str, lang: str = "") -> Prediction:
        return Prediction(self.probs["negative"], max(self.probs, key=self.probs.__getitem__),
                          self.probs)  # fmt: skip


def fb(text: str, score: int | None, scale: str | None = "nps10", contact: str = "enc",
       fid: str = "f1", customer: str = "c_1") -> Feedback:  # fmt: skip
    return Feedback(id=fid, received_at=time.time(), channel="sms", location_id="bus-42",
                    customer_ref=customer, score=score, scale=scale if score is not None else None,
                    text=text, lang="es", contact=contact, meta={"ref": "ABCDEF"})  # fmt: skip


def test_ingest_reads_a_wrong_scale_on_five_points_and_records_it() -> None:
    out = annotate(BUS, fb("5, muy rápidos", 5), FakeModel(HAPPY))
    assert (out.score, out.scale) == (5, "csat5")
    assert out.meta["conflict"]["kind"] == "wrong_scale" and out.meta["conflict"]["score"] == 5
    assert urgent_copy(BUS, out, FakeModel(HAPPY), 1.0) is None  # no page, no question


def test_ingest_sends_a_conflict_by_the_fast_path_to_ask_not_as_a_complaint() -> None:
    out = annotate(BUS, fb("2, genial", 2), FakeModel(HAPPY))
    assert out.score == 2 and asks_first(out)
    assert urgent_copy(BUS, out, FakeModel(HAPPY), 1.0) is not None
    agree = annotate(BUS, fb("2, fatal", 2), FakeModel(ANGRY))
    assert agree.meta.get("conflict") is None and not asks_first(agree)
    hidden = annotate(BUS, fb("10!! nunca más", 10), FakeModel(ANGRY))
    assert not asks_first(hidden) and urgent_copy(BUS, hidden, FakeModel(ANGRY), 1.0) is not None


class CountingModel(FakeModel):
    """A model that learned (as from a bench's traffic) that "I'd give it a ..." is happy."""

    calls: int = 0

    def predict(self, text: str, lang: str = "") -> Prediction:
        self.calls += 1
        return super().predict(text, lang)


def test_a_score_in_words_alone_pages_and_is_not_judged_by_the_model() -> None:
    """The quick bench's burst lost a page this way: "I'd give it a 2" at a csat5 venue, and
    a model fresh from the bench's messages (most "I'd give it a ..." are happy) asked the
    customer instead of paging."""
    model = CountingModel(HAPPY)
    resto = Location(id="bus-42", name="Sol", scale="csat5")
    out = annotate(resto, fb("I'd give it a 2", 2, scale="csat5"), model)
    assert out.meta.get("conflict") is None and not asks_first(out) and model.calls == 0
    urgent = urgent_copy(resto, out, model, 1.0)
    assert urgent is not None and urgent.sentiment_label == "negative"
    slip = annotate(resto, fb("I'd give it a 2, genial", 2, scale="csat5"), model)
    assert asks_first(slip) and model.calls == 1  # a word beyond the score: judged, asked


def sf_of(f: Feedback, p_neg: float = 0.1) -> ScoredFeedback:
    return ScoredFeedback(feedback=f.to_dict(), sentiment_negative=p_neg, sentiment_label="x",
                          model_version=1, scored_at=time.time())  # fmt: skip


def asked(book: DictBook, now: float, contact: str = "enc") -> desk.Outputs:
    first = annotate(BUS, fb("2, genial el conductor", 2, contact=contact), FakeModel(HAPPY))
    out = desk.on_feedback(book, BUS, sf_of(first), now)
    book.apply(out)
    return out


def test_a_conflict_asks_the_customer_once_and_pages_no_one() -> None:
    book, now = DictBook(), time.time()
    out = asked(book, now)
    assert [e["event"] for e in out.events] == ["opened", "conflict_asked"]
    (q,) = out.messages
    assert q["kind"] == "customer" and q["page_id"].endswith("-q0") and q["contact"] == "enc"
    assert "2 de 10" in q["body"] and "Del 0 al 10" in q["body"]
    (alert,) = book.alerts.values()
    assert alert.state == lc.State.CONFIRMING
    # The same feedback again (its scored copy after the fast-path copy) asks nothing more.
    again = annotate(BUS, fb("2, genial el conductor", 2), FakeModel(HAPPY))
    assert not desk.on_feedback(book, BUS, sf_of(again), now + 2).messages


def test_an_unhappy_answer_pages_with_the_decision_in_the_events() -> None:
    book, now = DictBook(), time.time()
    asked(book, now)
    answer = annotate(BUS, fb("2, fatal", 2, fid="f2"), FakeModel(ANGRY))
    out = desk.on_feedback(book, BUS, sf_of(answer, 0.95), now + 30)
    kinds = [e["event"] for e in out.events]
    assert kinds == ["conflict_resolved", "joined", "paged"]
    assert out.events[0]["detail"].startswith("paged: answer 2/10")
    (page,) = out.messages
    assert page["kind"] == "page" and "2, fatal" in page["body"]


def test_a_happy_answer_dismisses_without_a_page() -> None:
    book, now = DictBook(), time.time()
    asked(book, now)
    answer = annotate(BUS, fb("9", 9, fid="f2"), None)
    out = desk.on_feedback(book, BUS, sf_of(answer), now + 30)
    assert [e["event"] for e in out.events] == ["conflict_resolved", "dismissed"]
    assert out.events[0]["detail"] == "dismissed: answer 9/10" and not out.messages
    book.apply(out)
    assert not book.alerts and not any(k.startswith("bus-42|") for k in book.index)


def test_no_answer_in_time_dismisses_without_a_page() -> None:
    book, now = DictBook(), time.time()
    asked(book, now)
    (alert,) = book.alerts.values()
    assert desk.next_check_at(alert, BUS) == pytest.approx(now + confirm.CONFIRM_TIMEOUT_S)
    assert not desk.due_now(alert, BUS, now + confirm.CONFIRM_TIMEOUT_S - 1)
    tick = {"type": "tick", "ref": alert.ref}
    assert not desk.on_command(book, BUS, tick, now + 60).events
    late = now + confirm.CONFIRM_TIMEOUT_S + 1
    assert desk.due_now(alert, BUS, late)
    out = desk.on_command(book, BUS, tick, late)
    assert [e["event"] for e in out.events] == ["conflict_resolved", "dismissed"]
    assert "no answer" in out.events[0]["detail"] and not out.messages


def test_an_undelivered_question_is_settled_at_once_without_a_page() -> None:
    """The customer opted out, or the number fails: nobody can answer, so the alert does not
    wait out the ten minutes (a failure of any other message changes nothing)."""
    book, now = DictBook(), time.time()
    (q,) = asked(book, now).messages
    (alert,) = book.alerts.values()
    other = {"type": "delivery_failed", "ref": alert.ref, "page_id": f"P{alert.ref}-c0"}
    assert not desk.on_command(book, BUS, other, now + 5).events
    failed = {"type": "delivery_failed", "ref": alert.ref, "page_id": q["page_id"]}
    out = desk.on_command(book, BUS, failed, now + 5)
    assert [e["event"] for e in out.events] == ["conflict_resolved", "dismissed"]
    assert out.events[0]["detail"] == "dismissed: the question was not delivered"
    assert not out.messages


def test_safety_pages_at_once_even_with_a_question_pending() -> None:
    book, now = DictBook(), time.time()
    asked(book, now)
    answer = annotate(BUS, fb("hay humo en el bus", None, fid="f2"), FakeModel(NEUTRAL))
    out = desk.on_feedback(book, BUS, sf_of(answer, 0.2), now + 5)
    assert [e["event"] for e in out.events][-1] == "paged"
    assert out.events[-1]["alert"]["urgent"] and out.messages[0]["urgent"]


def test_safety_with_a_low_score_and_happy_text_is_never_asked() -> None:
    first = annotate(BUS, fb("2, genial, pero hay humo", 2), FakeModel(HAPPY))
    assert not asks_first(first)
    out = desk.on_feedback(DictBook(), BUS, sf_of(first), time.time())
    assert [e["event"] for e in out.events] == ["opened", "paged"]


def test_without_a_number_the_text_wins_and_the_decision_is_recorded() -> None:
    book, now = DictBook(), time.time()
    out = asked(book, now, contact="")
    kinds = [e["event"] for e in out.events]
    assert kinds == ["opened", "conflict_asked", "conflict_resolved", "dismissed"]
    assert out.events[2]["detail"] == "dismissed: no number to ask"
    assert not out.messages and not book.alerts


def test_a_hidden_complaint_pages_at_once() -> None:
    first = annotate(BUS, fb("10!! nunca más", 10), FakeModel(ANGRY))
    out = desk.on_feedback(DictBook(), BUS, sf_of(first, 0.0), time.time())
    assert [e["event"] for e in out.events] == ["opened", "paged"]
    assert out.events[0]["alert"]["reason"] == "negative_text"
