"""The desk's timers: escalation, the burst's grouped page, the manager's notice, expiry,
the follow-up and the conflict's deadline, and when each alert is next due. Pure."""

from __future__ import annotations

import logging

from pipeline.alerts import confirm, messages, roster
from pipeline.alerts import lifecycle as lc
from pipeline.alerts.asking import conflict_timeout, question_id
from pipeline.alerts.book import (
    BURST_SPAN_S,
    EXPIRE_AFTER_S,
    FOLLOW_UP_TIMEOUT_S,
    Book,
    Outputs,
    add_message,
    at_time,
    customer_key,
    emit,
    top_level,
)
from pipeline.alerts.opening import page_to
from pipeline.config import Location

logger = logging.getLogger(__name__)


def dues_of(alert: lc.Alert, loc: Location, now: float) -> list[lc.Due]:
    dues = lc.due_timers(alert, now, loc.ack_timeout_s, loc.resolve_timeout_s,
                         max_level=top_level(loc, now), expire_after_s=EXPIRE_AFTER_S,
                         follow_up_timeout_s=FOLLOW_UP_TIMEOUT_S)  # fmt: skip
    if alert.burst_of and alert.state in lc.PAGED_STATES:
        dues = [d for d in dues if d != lc.Due.ESCALATE]  # its leader escalates for the burst
    return dues


def group_due(alert: lc.Alert, now: float) -> bool:
    return (
        bool(alert.burst) and not alert.burst_paged and now - (alert.paged_at or 0) >= BURST_SPAN_S
    )


def group_page(book: Book, leader: lc.Alert, loc: Location, now: float) -> Outputs:
    """The burst's one grouped page, to the person the leader was paged to."""
    out = Outputs()
    members = [
        a for r in leader.burst if (a := book.alert(r)) is not None and a.state in lc.PAGED_STATES
    ]
    sup = loc.supervisor(leader.recipients[-1]) if leader.recipients else None
    leader, events = lc._step(leader, now, "group_paged", " ".join(leader.burst), burst_paged=True)
    if members and sup is not None:
        body = messages.grouped_page_text([leader, *members], loc, sup, now)
        add_message(out, leader, "page", 0, body, to_name=sup.name, now=now, kind_code="g")
    emit(out, leader, events, recipient_ref=f"{sup.name}@{loc.id}" if sup else "")
    return out


def run_timers(book: Book, alert: lc.Alert, loc: Location, now: float, *, force_escalate: bool = False,
               page_id: str = "") -> Outputs:  # fmt: skip
    if alert.state == lc.State.CONFIRMING:
        undelivered = force_escalate and page_id == question_id(alert.ref)
        return conflict_timeout(alert, loc, now, undelivered=undelivered)
    out = Outputs()
    dues = dues_of(alert, loc, now)
    top = top_level(loc, now)
    if group_due(alert, now):
        out.merge(group_page(book, alert, loc, now))
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
            emit(out, alert, events)
            out.alerts[alert.ref] = None
            out.index[
                customer_key(
                    loc.id, alert.customer_ref, alert.feedback_ids[0] if alert.feedback_ids else ""
                )
            ] = None
            return out
        if due == lc.Due.ESCALATE:
            sup, _ = roster.recipient(loc, alert.level + 1, at_time(now))
            missed = alert.recipients[-1] if alert.recipients else ""
            alert, events = lc.escalate(alert, sup.name, now)
            page_to(out, alert, loc, sup, now)
            emit(out, alert, events, recipient_ref=f"{sup.name}@{loc.id}", missed_by=missed)
        elif due == lc.Due.NOTIFY_MANAGER:
            manager = loc.supervisor(loc.escalation.manager)
            alert, events = lc.notify_manager(alert, now)
            if manager is not None:
                add_message(out, alert, "manager", 8, messages.overdue_notice(alert, loc, manager.lang, now),
                            to_name=manager.name, now=now)  # fmt: skip
            emit(out, alert, events)
    return out


def due_now(alert: lc.Alert, loc: Location, now: float) -> bool:
    """Whether the timer should send this alert a tick now."""
    if alert.state == lc.State.CONFIRMING:
        return now >= confirm.deadline(alert)
    return bool(dues_of(alert, loc, now)) or group_due(alert, now)


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
