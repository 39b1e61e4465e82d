"""Conflicts: a score and text that disagree ask the customer before anyone is paged
(`confirm` has the transitions, `conflict` the classification). Pure; part of the desk."""

from __future__ import annotations

import dataclasses
import logging

from pipeline.alerts import confirm
from pipeline.alerts import lifecycle as lc
from pipeline.alerts.book import Book, Outputs, can_answer, customer_key, customer_message, emit
from pipeline.alerts.conflict import Conflict, judge
from pipeline.alerts.opening import new_alert, page_new
from pipeline.alerts.rules import Decision
from pipeline.config import Location
from pipeline.records import ScoredFeedback

logger = logging.getLogger(__name__)


def ask_customer(book: Book, loc: Location, key: str, decision: Decision, sf: ScoredFeedback,
                 conflict: Conflict, now: float, themes: tuple[str, ...] = ()) -> Outputs:  # fmt: skip
    """Open the alert in `confirming` and ask the customer once; without a number to ask,
    the text wins at once (no page), as it would after an unanswered question."""
    out = Outputs()
    alert, events = new_alert(book, loc, key, decision, sf, now, themes)
    alert, more = confirm.ask(alert, conflict, now)
    events += more
    if can_answer(alert):
        customer_message(out, alert, 0, confirm.question_text(alert, conflict, loc), now,
                         kind_code="q")  # fmt: skip
        out.index[key] = alert.ref
    else:
        alert, more = confirm.settle(alert, False, "no number to ask", now)
        events += more
    emit(out, alert, events, feedback_ref=str(sf.fb.meta.get("ref", "")))
    if alert.state == lc.State.DISMISSED:
        out.alerts[alert.ref] = None
    return out


def answer_conflict(book: Book, loc: Location, key: str, alert: lc.Alert, sf: ScoredFeedback,
                    now: float, themes: tuple[str, ...] = ()) -> Outputs:  # fmt: skip
    """The customer's next message answers the question, taken at face value: a complaint
    pages now (the answer's own words and score go on the page), anything else dismisses."""
    out = Outputs()
    fb = sf.fb
    decision, _ = judge(loc, fb.score, fb.scale, fb.text, sf.sentiment_negative,
                        Conflict.from_meta(fb.meta))  # fmt: skip
    said = f"{fb.score}/{10 if fb.scale == 'nps10' else 5}" if fb.score is not None else "text"
    if decision is None:
        alert, events = confirm.settle(alert, False, f"answer {said}", now)
        emit(out, alert, events)
        out.alerts[alert.ref] = None
        out.index[key] = None
        return out
    alert, events = confirm.settle(alert, True, f"answer {said}: {decision.detail}", now)
    alert, more = lc.join(alert, fb.id, fb.text, now, score=fb.score, scale=fb.scale,
                          p_negative=sf.sentiment_negative, urgent=decision.urgent,
                          themes=themes)  # fmt: skip
    alert = dataclasses.replace(alert, reason=str(decision.reason))
    out.merge(page_new(book, loc, key, decision, sf, alert, events + more, now))
    return out


def question_id(ref: str) -> str:
    """The message id of the one question an alert asks (`customer_message`, kind code q)."""
    return f"P{ref}-q0"


def conflict_timeout(alert: lc.Alert, loc: Location, now: float, *,
                     undelivered: bool = False) -> Outputs:  # fmt: skip
    """No answer in time, or a question that could not be delivered (the customer opted out,
    the number fails): the text was clearly happy, so nobody is paged. Settled at once when
    undelivered, as when there is no number to ask."""
    out = Outputs()
    if not undelivered and now < confirm.deadline(alert):
        return out
    why = "the question was not delivered" if undelivered else (
        f"no answer in {int(confirm.CONFIRM_TIMEOUT_S)} s")  # fmt: skip
    alert, events = confirm.settle(alert, False, why, now)
    emit(out, alert, events)
    out.alerts[alert.ref] = None
    out.index[customer_key(loc.id, alert.customer_ref, alert.feedback_ids[0])] = None
    return out
