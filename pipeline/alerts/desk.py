"""The alert desk: what happens to alerts when a scored feedback or a command arrives.

Pure: it reads the current alerts through the `Book` it is given and returns `Outputs` (the
alerts to store, the lifecycle events to publish, the messages to send). The agent applies them.
Every message has a deterministic id (`P<ref>-<kind><level>`), so a redelivered input makes the
same message, which the notify stage sends once.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pipeline.alerts import confirm, messages, roster
from pipeline.alerts import lifecycle as lc
from pipeline.alerts.conflict import Conflict, judge
from pipeline.alerts.replies import parse_follow_up
from pipeline.alerts.rules import Decision, evaluate_feedback, evaluate_trend
from pipeline.config import Location, Supervisor
from pipeline.records import ScoredFeedback

logger = logging.getLogger(__name__)

TREND_WINDOW = "1h"
BURST_SPAN_S = 30.0  # complaints this close together at one location share one grouped page
EXPIRE_AFTER_S = 4 * 3600.0  # an alert nobody closed is expired after this
FOLLOW_UP_TIMEOUT_S = 24 * 3600.0  # a resolved alert waits this long for the customer's answer
# A complaint comes twice, by the fast path (`feedback.urgent`) and the normal one (scored);
# its id is remembered this long, far longer than a scoring backlog lasts.
HANDLED_HORIZON_S = 3600.0
_STEPS: dict[tuple[str, int], int] = {}  # (location, minute) -> the top escalation level


def top_level(loc: Location, now: float) -> int:
    """`roster.max_level`, cached per minute: shifts change on the minute, not per message."""
    key = (loc.id, int(now // 60))
    if key not in _STEPS:
        if len(_STEPS) > 10_000:
            _STEPS.clear()
        _STEPS[key] = roster.max_level(loc, _at(now))
    return _STEPS[key]


class Book(Protocol):
    """Read access to the alert tables."""

    def alert(self, ref: str) -> lc.Alert | None: ...
    def open_ref(self, key: str) -> str | None: ...
    def ref_taken(self, ref: str, feedback_id: str) -> bool: ...
    def recently_paged(self, location_id: str) -> list[lc.Alert]: ...
    def handled(self, feedback_id: str) -> bool: ...
    def top_themes(self, location_id: str) -> tuple[str, ...]:
        """The location's top negative theme of the last hour (a trend notice names it)."""
        ...


@dataclass
class Outputs:
    alerts: dict[str, lc.Alert | None] = field(default_factory=dict)  # ref -> new (None: drop)
    index: dict[str, str | None] = field(default_factory=dict)  # customer key -> ref
    events: list[dict[str, Any]] = field(default_factory=list)  # for alerts.events
    messages: list[dict[str, Any]] = field(default_factory=list)  # for pages.outbox

    def merge(self, other: Outputs) -> None:
        self.alerts.update(other.alerts)
        self.index.update(other.index)
        self.events.extend(other.events)
        self.messages.extend(other.messages)


def customer_key(location_id: str, customer_ref: str, feedback_id: str) -> str:
    """One open alert per customer and location; anonymous feedback is its own customer."""
    return f"{location_id}|{customer_ref or 'fb:' + feedback_id}"


def trend_key(location_id: str) -> str:
    return f"{location_id}|trend"


def handled_key(feedback_id: str) -> str:
    """The index key that marks a feedback the desk has already acted on (opened, joined or
    followed up an alert), whichever path brought it first."""
    return f"fid:{feedback_id}"


def handled_mark(ref: str, now: float) -> str:
    """The mark's value: the alert it went to, and when (for pruning).

    >>> handled_mark("K7Q2", 1700000000.4)
    'K7Q2 1700000000'
    >>> handled_at(handled_mark("K7Q2", 1700000000.4))
    1700000000.0
    """
    return f"{ref} {int(now)}"


def handled_at(mark: str) -> float:
    try:
        return float(mark.rsplit(" ", 1)[1])
    except (IndexError, ValueError):
        return 0.0


def _at(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


def _emit(out: Outputs, alert: lc.Alert, events: list[lc.Event], **extra: Any) -> None:
    out.alerts[alert.ref] = alert
    public = alert.to_dict()
    public.pop("contact", None)  # encrypted, but the event log has no use for it
    for ev in events:
        out.events.append({"schema": 1, "event": ev.kind, "ref": ev.ref, "at": ev.ts,
                           "location_id": ev.location_id, "detail": ev.detail,
                           "alert": public, **extra})  # fmt: skip


def _message(out: Outputs, alert: lc.Alert, kind: str, level: int, body: str, *,
             to_name: str = "", contact: str = "", now: float, urgent: bool = False,
             kind_code: str = "") -> None:  # fmt: skip
    out.messages.append({
        "schema": 1, "page_id": f"P{alert.ref}-{kind_code or kind[0]}{level}", "kind": kind, "ref": alert.ref,
        "location_id": alert.location_id, "to_name": to_name, "contact": contact, "body": body,
        "created_at": now, "received_at": alert.opened_at, "level": level, "urgent": urgent,
    })  # fmt: skip


def _page(out: Outputs, alert: lc.Alert, loc: Location, sup: Supervisor, now: float) -> None:
    kind = (
        "manager"
        if sup.name == loc.escalation.manager and alert.reason in ("trend_csat", "drift")
        else "page"
    )
    _message(out, alert, kind, alert.level, messages.page_text(alert, loc, sup, now),
             to_name=sup.name, now=now, urgent=alert.urgent)  # fmt: skip


def _open(book: Book, loc: Location, key: str, decision: Decision, sf: ScoredFeedback | None,
          now: float, themes: tuple[str, ...] = ()) -> Outputs:  # fmt: skip
    if decision.for_manager and not themes:
        themes = book.top_themes(loc.id)
    alert, events = _new_alert(book, loc, key, decision, sf, now, themes)
    return _page_new(book, loc, key, decision, sf, alert, events, now)


def _new_alert(book: Book, loc: Location, key: str, decision: Decision,
               sf: ScoredFeedback | None, now: float,
               themes: tuple[str, ...] = ()) -> lc.Result:  # fmt: skip
    """A new alert in state `opened` about `themes`, its reference derived from the feedback."""
    fb = sf.fb if sf else None
    seed = fb.id if fb else f"{key}@{int(now)}"
    # A redelivered feedback whose first processing already opened (and published) an alert
    # finds its own reference again, so its pages keep their ids and go out once.
    ref = lc.make_ref(f"{loc.id}|{seed}", lambda r: book.ref_taken(r, fb.id if fb else seed))
    alert, events = lc.open_alert(
        ref, loc.id, fb.customer_ref if fb else "", fb.id if fb else "", str(decision.reason),
        decision.urgent, now, detail=decision.detail, text=fb.text if fb else decision.detail,
        score=fb.score if fb else None, scale=fb.scale if fb else None,
        p_negative=sf.sentiment_negative if sf else None, channel=fb.channel if fb else "",
        contact=fb.contact if fb else "", lang=fb.lang if fb else loc.lang,
        opened_at=fb.received_at if fb else now, themes=themes,
    )  # fmt: skip
    if fb is not None:
        alert = dataclasses.replace(alert, feedback_ref=str(fb.meta.get("ref", "")))
    return alert, events


def _page_new(book: Book, loc: Location, key: str, decision: Decision, sf: ScoredFeedback | None,
              alert: lc.Alert, events: list[lc.Event], now: float) -> Outputs:  # fmt: skip
    """Page the first person for a new (`opened`) alert, or fold it into a burst."""
    out = Outputs()
    fb = sf.fb if sf else None
    ref = alert.ref
    if decision.for_manager:
        sup = loc.supervisor(loc.escalation.manager)
        fallback = False
        alert = dataclasses.replace(alert, level=roster.max_level(loc, _at(now)))
    else:
        sup, fallback = roster.recipient(loc, 0, _at(now))
    if sup is None:
        raise ValueError(f"location {loc.id}: nobody to page")
    if fallback:
        logger.warning("nobody on shift at %s: paging the fallback", loc.id, extra={"ref": ref})
    more: list[lc.Event]
    alert, more = lc.page(alert, sup.name, now)
    leader = (
        None
        if decision.urgent or decision.for_manager
        else _burst_leader(book, loc, sup.name, now, ref)
    )
    if leader is None:
        _page(out, alert, loc, sup, now)
    else:
        # A burst: no page of its own; the leader's grouped page covers it (see `_timers`).
        alert = dataclasses.replace(alert, burst_of=leader.ref)
        leader, grouped = lc._step(leader, now, "grouped", ref, burst=(*leader.burst, ref))
        _emit(out, leader, grouped)
    out.index[key] = ref
    # The customer's acknowledgement gave them the feedback's reference: STATUS <it> works too.
    fref = str(fb.meta.get("ref", "")) if fb else ""
    _emit(out, alert, events + more, recipient_ref=f"{sup.name}@{loc.id}", fallback=fallback,
          feedback_ref=fref)  # fmt: skip
    return out


def _burst_leader(
    book: Book, loc: Location, sup_name: str, now: float, ref: str
) -> lc.Alert | None:
    """An alert at `loc` paged to the same person moments ago, still unanswered (not `ref`
    itself, which a redelivery can find)."""
    for a in book.recently_paged(loc.id):
        if a.ref == ref:
            continue
        if (a.state in lc.PAGED_STATES and a.level == 0 and not a.burst_of and not a.burst_paged
                and a.recipients[-1:] == (sup_name,) and now - (a.paged_at or 0) < BURST_SPAN_S):  # fmt: skip
            return a
    return None


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
        out.merge(_open(book, loc, trend_key(loc.id), trend, None, now))
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
        return _answer_conflict(book, loc, key, alert, sf, now, themes)
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
            _message(out, alert, "customer", 9, messages.thanks_text(alert.lang or loc.lang, recovered),
                     contact=alert.contact, now=now)  # fmt: skip
            _emit(out, alert, events)
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
            _emit(out, alert, events)
    elif decision is not None and ask and conflict is not None:
        out.merge(_ask_customer(book, loc, key, decision, sf, conflict, now, themes))
    elif decision is not None and fb.customer_ref is not None:
        out.merge(_open(book, loc, key, decision, sf, now, themes))
    return out


# Conflicts: a score and text that disagree ask the customer before anyone is paged (`confirm`).


def _ask_customer(book: Book, loc: Location, key: str, decision: Decision, sf: ScoredFeedback,
                  conflict: Conflict, now: float, themes: tuple[str, ...] = ()) -> Outputs:  # fmt: skip
    """Open the alert in `confirming` and ask the customer once; without a number to ask,
    the text wins at once (no page), as it would after an unanswered question."""
    out = Outputs()
    alert, events = _new_alert(book, loc, key, decision, sf, now, themes)
    alert, more = confirm.ask(alert, conflict, now)
    events += more
    if _can_answer(alert):
        _customer_message(out, alert, 0, confirm.question_text(alert, conflict, loc), now,
                          kind_code="q")  # fmt: skip
        out.index[key] = alert.ref
    else:
        alert, more = confirm.settle(alert, False, "no number to ask", now)
        events += more
    _emit(out, alert, events, feedback_ref=str(sf.fb.meta.get("ref", "")))
    if alert.state == lc.State.DISMISSED:
        out.alerts[alert.ref] = None
    return out


def _answer_conflict(book: Book, loc: Location, key: str, alert: lc.Alert, sf: ScoredFeedback,
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
        _emit(out, alert, events)
        out.alerts[alert.ref] = None
        out.index[key] = None
        return out
    alert, events = confirm.settle(alert, True, f"answer {said}: {decision.detail}", now)
    alert, more = lc.join(alert, fb.id, fb.text, now, score=fb.score, scale=fb.scale,
                          p_negative=sf.sentiment_negative, urgent=decision.urgent,
                          themes=themes)  # fmt: skip
    alert = dataclasses.replace(alert, reason=str(decision.reason))
    out.merge(_page_new(book, loc, key, decision, sf, alert, events + more, now))
    return out


def _conflict_timeout(alert: lc.Alert, loc: Location, now: float) -> Outputs:
    """No answer in time: the text was clearly happy, so nobody is paged."""
    out = Outputs()
    if now < confirm.deadline(alert):
        return out
    waited = int(confirm.CONFIRM_TIMEOUT_S)
    alert, events = confirm.settle(alert, False, f"no answer in {waited} s", now)
    _emit(out, alert, events)
    out.alerts[alert.ref] = None
    out.index[customer_key(loc.id, alert.customer_ref, alert.feedback_ids[0])] = None
    return out


def _can_answer(alert: lc.Alert) -> bool:
    return bool(alert.contact) and alert.channel in ("sms", "whatsapp", "web", "api", "kiosk")


def on_drift(book: Book, loc: Location, detail: str, now: float) -> Outputs:
    """A drift detector fired on the location's satisfaction: the manager hears of it."""
    decision = evaluate_trend(loc, None, 0, drift=True, drift_detail=detail)
    if decision is None or book.open_ref(trend_key(loc.id)) is not None:
        return Outputs()
    return _open(book, loc, trend_key(loc.id), decision, None, now)


def _customer_message(out: Outputs, alert: lc.Alert, level: int, body: str, now: float,
                      kind_code: str = "") -> None:  # fmt: skip
    if alert.contact and alert.channel in ("sms", "whatsapp", "web", "api", "kiosk"):
        _message(out, alert, "customer", level, body, contact=alert.contact, now=now,
                 kind_code=kind_code)  # fmt: skip


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
                    _customer_message(out, member, 0, text, now)
                _emit(out, member, events, channel=cmd.get("channel", ""))
        elif kind == "resolve":
            alert, events = lc.resolve(alert, by, now)
            _customer_message(
                out, alert, 1, messages.follow_up_text(alert.lang or loc.lang, alert.ref), now
            )
            _emit(out, alert, events, channel=cmd.get("channel", ""))
        elif kind in ("not_complaint", "was_complaint"):
            label = (
                "negative"
                if kind == "was_complaint"
                else ("positive" if (alert.score or 0) >= 4 else "neutral")
            )
            if kind == "not_complaint":
                alert, events = lc.dismiss(alert, by, now)
                _emit(out, alert, events)
                out.alerts[alert.ref] = None
                out.index[customer_key(loc.id, alert.customer_ref, alert.feedback_ids[0])] = None
            if alert.text:
                out.events.append({"schema": 1, "event": "corrected", "ref": alert.ref, "at": now,
                                   "location_id": loc.id, "label": label, "text": alert.text,
                                   "lang": alert.lang})  # fmt: skip
        elif kind in ("delivery_failed", "tick"):
            out.merge(_timers(book, alert, loc, now, force_escalate=kind == "delivery_failed",
                              page_id=str(cmd.get("page_id", ""))))  # fmt: skip
    except lc.TransitionError as e:
        logger.info("command ignored: %s", e, extra={"ref": ref})
    return out


def _dues(alert: lc.Alert, loc: Location, now: float) -> list[lc.Due]:
    dues = lc.due_timers(alert, now, loc.ack_timeout_s, loc.resolve_timeout_s,
                         max_level=top_level(loc, now), expire_after_s=EXPIRE_AFTER_S,
                         follow_up_timeout_s=FOLLOW_UP_TIMEOUT_S)  # fmt: skip
    if alert.burst_of and alert.state in lc.PAGED_STATES:
        dues = [d for d in dues if d != lc.Due.ESCALATE]  # its leader escalates for the burst
    return dues


def _group_due(alert: lc.Alert, now: float) -> bool:
    return (
        bool(alert.burst) and not alert.burst_paged and now - (alert.paged_at or 0) >= BURST_SPAN_S
    )


def _group_page(book: Book, leader: lc.Alert, loc: Location, now: float) -> Outputs:
    """The burst's one grouped page, to the person the leader was paged to."""
    out = Outputs()
    members = [
        a for r in leader.burst if (a := book.alert(r)) is not None and a.state in lc.PAGED_STATES
    ]
    sup = loc.supervisor(leader.recipients[-1]) if leader.recipients else None
    leader, events = lc._step(leader, now, "group_paged", " ".join(leader.burst), burst_paged=True)
    if members and sup is not None:
        body = messages.grouped_page_text([leader, *members], loc, sup, now)
        _message(out, leader, "page", 0, body, to_name=sup.name, now=now, kind_code="g")
    _emit(out, leader, events, recipient_ref=f"{sup.name}@{loc.id}" if sup else "")
    return out


def _timers(book: Book, alert: lc.Alert, loc: Location, now: float, *, force_escalate: bool = False,
            page_id: str = "") -> Outputs:  # fmt: skip
    if alert.state == lc.State.CONFIRMING:
        return _conflict_timeout(alert, loc, now)
    out = Outputs()
    dues = _dues(alert, loc, now)
    top = top_level(loc, now)
    if _group_due(alert, now):
        out.merge(_group_page(book, alert, loc, now))
        alert = out.alerts[alert.ref] or alert
    latest_page = f"P{alert.ref}-p{alert.level}"
    if (
        force_escalate
        and page_id == latest_page
        and alert.state in lc.PAGED_STATES
        and alert.level < top
    ):
        dues = [lc.Due.ESCALATE, *[d for d in dues if d != lc.Due.ESCALATE]]
    for due in dues:
        if due == lc.Due.EXPIRE:
            alert, events = lc.expire(alert, now, "no action in time")
            _emit(out, alert, events)
            out.alerts[alert.ref] = None
            out.index[
                customer_key(
                    loc.id, alert.customer_ref, alert.feedback_ids[0] if alert.feedback_ids else ""
                )
            ] = None
            return out
        if due == lc.Due.ESCALATE:
            sup, _ = roster.recipient(loc, alert.level + 1, _at(now))
            missed = alert.recipients[-1] if alert.recipients else ""
            alert, events = lc.escalate(alert, sup.name, now)
            _page(out, alert, loc, sup, now)
            _emit(out, alert, events, recipient_ref=f"{sup.name}@{loc.id}", missed_by=missed)
        elif due == lc.Due.NOTIFY_MANAGER:
            manager = loc.supervisor(loc.escalation.manager)
            alert, events = lc.notify_manager(alert, now)
            if manager is not None:
                _message(out, alert, "manager", 8, messages.overdue_notice(alert, loc, manager.lang, now),
                         to_name=manager.name, now=now)  # fmt: skip
            _emit(out, alert, events)
    return out


def due_now(alert: lc.Alert, loc: Location, now: float) -> bool:
    """Whether the timer should send this alert a tick now."""
    if alert.state == lc.State.CONFIRMING:
        return now >= confirm.deadline(alert)
    return bool(_dues(alert, loc, now)) or _group_due(alert, now)


def next_check_at(alert: lc.Alert, loc: Location) -> float:
    """The earliest moment a timer could be due for `alert` (inf: never), so the tick looks
    only at the alerts whose moment has come instead of every alert every second."""
    if alert.state in lc.TERMINAL_STATES:
        return float("inf")
    if alert.state == lc.State.CONFIRMING:
        return confirm.deadline(alert)
    if alert.state == lc.State.RESOLVED:
        return (alert.resolved_at or alert.opened_at) + FOLLOW_UP_TIMEOUT_S
    moments = [alert.opened_at + EXPIRE_AFTER_S]
    if alert.state in lc.PAGED_STATES and alert.last_paged_at is not None:
        moments.append(alert.last_paged_at + loc.ack_timeout_s)
    if not alert.manager_notified:
        moments.append(alert.opened_at + loc.resolve_timeout_s)
    if alert.burst and not alert.burst_paged:
        moments.append((alert.paged_at or alert.opened_at) + BURST_SPAN_S)
    return min(moments)
