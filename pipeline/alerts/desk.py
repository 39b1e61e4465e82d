"""The alert desk: what happens to alerts when a scored feedback or a command arrives.

Pure: it reads the current alerts through the `Book` it is given and returns `Outputs` (the
alerts to store, the lifecycle events to publish, the messages to send). The agent applies them.
Every message has a deterministic id (`P<ref>-<kind><level>`), so a redelivered input makes the
same message, which the notify stage sends once.
"""

from __future__ import annotations

import logging
from typing import Any

from pipeline.alerts import lifecycle as lc
from pipeline.alerts import messages
from pipeline.alerts.asking import answer_conflict, ask_customer
from pipeline.alerts.book import (
    BURST_SPAN_S,
    EXPIRE_AFTER_S,
    FOLLOW_UP_TIMEOUT_S,
    HANDLED_HORIZON_S,
    TREND_WINDOW,
    Book,
    Outputs,
    add_message,
    customer_key,
    customer_message,
    emit,
    handled_at,
    handled_key,
    handled_mark,
    top_level,
    trend_key,
)
from pipeline.alerts.conflict import Conflict, judge
from pipeline.alerts.opening import open_new
from pipeline.alerts.replies import parse_follow_up
from pipeline.alerts.rules import evaluate_feedback, evaluate_trend
from pipeline.alerts.timers import due_now, next_check_at, run_timers
from pipeline.config import Location
from pipeline.records import ScoredFeedback

logger = logging.getLogger(__name__)

# The desk's public names, wherever they live.
__all__ = [
    "BURST_SPAN_S",
    "EXPIRE_AFTER_S",
    "FOLLOW_UP_TIMEOUT_S",
    "HANDLED_HORIZON_S",
    "TREND_WINDOW",
    "Book",
    "Outputs",
    "customer_key",
    "due_now",
    "emit",
    "handled_at",
    "handled_key",
    "handled_mark",
    "next_check_at",
    "on_command",
    "on_drift",
    "on_feedback",
    "top_level",
    "trend_key",
]


def on_feedback(book: Book, loc: Location, sf: ScoredFeedback, now: float,
                themes: tuple[str, ...] = ()) -> Outputs:  # fmt: skip
    """A scored feedback (or its fast-path copy) about `themes`: a follow-up answer, a message
    joining an open alert, a new alert, and the location's trend check. A feedback the desk
    already acted on (its other copy came first, or this is a redelivery) does nothing for its
    customer."""
    out = Outputs()
    fb = sf.fb
    if not book.handled(fb.id):
        out.merge(_on_customer(book, loc, sf, now, themes))
        touched = next(iter(out.alerts), None)  # the alert this feedback opened or reached
        if touched is not None:
            out.index[handled_key(fb.id)] = handled_mark(touched, now)
    window = sf.scores.get(TREND_WINDOW) or {}
    trend = evaluate_trend(loc, window.get("csat"), int(window.get("csat_n") or 0))
    if trend is not None and book.open_ref(trend_key(loc.id)) is None:
        top = (sf.top_theme,) if sf.top_theme else ()  # the score stage counts the themes
        out.merge(open_new(book, loc, trend_key(loc.id), trend, None, now, top))
    return out


def _on_customer(book: Book, loc: Location, sf: ScoredFeedback, now: float,
                 themes: tuple[str, ...] = ()) -> Outputs:  # fmt: skip
    """What one customer's feedback does to their alert: answer a follow-up, join the open
    alert, or open one."""
    out = Outputs()
    fb = sf.fb
    key = customer_key(loc.id, fb.customer_ref, fb.id)
    ref = book.open_ref(key)
    alert = book.alert(ref) if ref else None
    if alert is not None and alert.state == lc.State.CONFIRMING:
        return answer_conflict(book, loc, key, alert, sf, now, themes)
    conflict = Conflict.from_meta(fb.meta)
    decision, ask = judge(loc, fb.score, fb.scale, fb.text, sf.sentiment_negative, conflict)
    if alert is not None and alert.state == lc.State.RESOLVED:
        answer = parse_follow_up(fb.text) if fb.text else None
        recovered = (
            answer.recovered
            if answer
            else (
                fb.score is not None
                and evaluate_feedback(loc, fb.score, fb.scale, "", None) is None
            )
        )
        if answer is not None or fb.score is not None:
            alert, events = lc.follow_up(alert, recovered, now)
            add_message(out, alert, "customer", 9, messages.thanks_text(alert.lang or loc.lang, recovered),
                        contact=alert.contact, now=now)  # fmt: skip
            emit(out, alert, events)
            out.alerts[alert.ref] = None
            out.index[key] = None
            alert = None
            decision = None  # the answer to "did we fix it?" is not a new complaint
    if alert is not None and alert.is_open:
        if fb.id not in alert.feedback_ids:
            alert, events = lc.join(alert, fb.id, fb.text, now, score=fb.score, scale=fb.scale,
                                    p_negative=sf.sentiment_negative,
                                    urgent=bool(decision and decision.urgent),
                                    themes=themes)  # fmt: skip
            emit(out, alert, events)
    elif decision is not None and ask and conflict is not None:
        out.merge(ask_customer(book, loc, key, decision, sf, conflict, now, themes))
    elif decision is not None and fb.customer_ref is not None:
        out.merge(open_new(book, loc, key, decision, sf, now, themes))
    return out


def on_drift(book: Book, loc: Location, detail: str, now: float,
             themes: tuple[str, ...] = ()) -> Outputs:  # fmt: skip
    """A drift detector fired on the location's satisfaction: the manager hears of it, and
    of `themes` (the top negative theme of the last hour, from the score stage's drift
    command)."""
    decision = evaluate_trend(loc, None, 0, drift=True, drift_detail=detail)
    if decision is None or book.open_ref(trend_key(loc.id)) is not None:
        return Outputs()
    return open_new(book, loc, trend_key(loc.id), decision, None, now, themes)


def on_command(book: Book, loc: Location, cmd: dict[str, Any], now: float) -> Outputs:
    """ack | resolve | not_complaint | was_complaint | delivery_failed | tick."""
    out = Outputs()
    ref = str(cmd.get("ref") or cmd.get("page_id", "")[1:].split("-")[0])
    alert = book.alert(ref)
    kind = cmd.get("type")
    if alert is None:
        if kind == "was_complaint" and cmd.get("text"):
            out.events.append({"schema": 1, "event": "corrected", "ref": ref, "at": now,
                               "location_id": loc.id, "label": "negative", "text": cmd["text"]})  # fmt: skip
        return out
    by = str(cmd.get("by", ""))
    try:
        if kind == "ack":
            # Acknowledging a burst's leader takes the whole burst.
            burst = [a for r in alert.burst if (a := book.alert(r)) is not None]
            for member in [alert, *burst]:
                if member is not alert and member.state not in (lc.State.OPENED, *lc.PAGED_STATES):
                    continue  # already taken by someone else
                member, events = lc.acknowledge(member, by, now)
                sup = loc.supervisor(by)
                if sup is not None:
                    text = messages.coming_text(sup, loc, member.lang or loc.lang, member.ref)
                    customer_message(out, member, 0, text, now)
                emit(out, member, events, channel=cmd.get("channel", ""))
        elif kind == "resolve":
            alert, events = lc.resolve(alert, by, now)
            customer_message(
                out, alert, 1, messages.follow_up_text(alert.lang or loc.lang, alert.ref), now
            )
            emit(out, alert, events, channel=cmd.get("channel", ""))
        elif kind in ("not_complaint", "was_complaint"):
            label = (
                "negative"
                if kind == "was_complaint"
                else ("positive" if (alert.score or 0) >= 4 else "neutral")
            )
            if kind == "not_complaint":
                alert, events = lc.dismiss(alert, by, now)
                emit(out, alert, events)
                out.alerts[alert.ref] = None
                out.index[customer_key(loc.id, alert.customer_ref, alert.feedback_ids[0])] = None
            if alert.text:
                out.events.append({"schema": 1, "event": "corrected", "ref": alert.ref, "at": now,
                                   "location_id": loc.id, "label": label, "text": alert.text,
                                   "lang": alert.lang})  # fmt: skip
        elif kind in ("delivery_failed", "tick"):
            out.merge(run_timers(book, alert, loc, now, force_escalate=kind == "delivery_failed",
                                 page_id=str(cmd.get("page_id", ""))))  # fmt: skip
    except lc.TransitionError as e:
        logger.info("command ignored: %s", e, extra={"ref": ref})
    return out
