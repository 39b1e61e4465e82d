"""Opening an alert and paging its first supervisor (or joining a burst). Pure; part of
the desk (`desk.py`)."""

from __future__ import annotations

import dataclasses
import logging

from pipeline.alerts import lifecycle as lc
from pipeline.alerts import messages, roster
from pipeline.alerts.book import BURST_SPAN_S, Book, Outputs, add_message, at_time, emit
from pipeline.alerts.rules import Decision
from pipeline.config import Location, Supervisor
from pipeline.records import ScoredFeedback

logger = logging.getLogger(__name__)


def page_to(out: Outputs, alert: lc.Alert, loc: Location, sup: Supervisor, now: float) -> None:
    kind = (
        "manager"
        if sup.name == loc.escalation.manager and alert.reason in ("trend_csat", "drift")
        else "page"
    )
    add_message(out, alert, kind, alert.level, messages.page_text(alert, loc, sup, now),
                to_name=sup.name, now=now, urgent=alert.urgent)  # fmt: skip


def open_new(book: Book, loc: Location, key: str, decision: Decision, sf: ScoredFeedback | None,
             now: float, themes: tuple[str, ...] = ()) -> Outputs:  # fmt: skip
    """Open an alert about `themes` (for a trend: the location's top negative theme, which
    the score stage, where the themes are counted, sends along) and page it."""
    alert, events = new_alert(book, loc, key, decision, sf, now, themes)
    return page_new(book, loc, key, decision, sf, alert, events, now)


def new_alert(book: Book, loc: Location, key: str, decision: Decision,
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


def page_new(book: Book, loc: Location, key: str, decision: Decision, sf: ScoredFeedback | None,
             alert: lc.Alert, events: list[lc.Event], now: float) -> Outputs:  # fmt: skip
    """Page the first person for a new (`opened`) alert, or fold it into a burst."""
    out = Outputs()
    fb = sf.fb if sf else None
    ref = alert.ref
    if decision.for_manager:
        sup = loc.supervisor(loc.escalation.manager)
        fallback = False
        alert = dataclasses.replace(alert, level=roster.max_level(loc, at_time(now)))
    else:
        sup, fallback = roster.recipient(loc, 0, at_time(now))
    if sup is None:
        raise ValueError(f"location {loc.id}: nobody to page")
    if fallback:
        logger.warning("nobody on shift at %s: paging the fallback", loc.id, extra={"ref": ref})
    more: list[lc.Event]
    alert, more = lc.page(alert, sup.name, now)
    leader = (
        None
        if decision.urgent or decision.for_manager
        else burst_leader(book, loc, sup.name, now, ref)
    )
    if leader is None:
        page_to(out, alert, loc, sup, now)
    else:
        # A burst: no page of its own; the leader's grouped page covers it (see `run_timers`).
        alert = dataclasses.replace(alert, burst_of=leader.ref)
        leader, grouped = lc._step(leader, now, "grouped", ref, burst=(*leader.burst, ref))
        emit(out, leader, grouped)
    out.index[key] = ref
    # The customer's acknowledgement gave them the feedback's reference: STATUS <it> works too.
    fref = str(fb.meta.get("ref", "")) if fb else ""
    emit(out, alert, events + more, recipient_ref=f"{sup.name}@{loc.id}", fallback=fallback,
         feedback_ref=fref)  # fmt: skip
    return out


def burst_leader(book: Book, loc: Location, sup_name: str, now: float, ref: str) -> lc.Alert | None:
    """An alert at `loc` paged to the same person moments ago, still unanswered (not `ref`
    itself, which a redelivery can find)."""
    for a in book.recently_paged(loc.id):
        if a.ref == ref:
            continue
        if (a.state in lc.PAGED_STATES and a.level == 0 and not a.burst_of and not a.burst_paged
                and a.recipients[-1:] == (sup_name,) and now - (a.paged_at or 0) < BURST_SPAN_S):  # fmt: skip
            return a
    return None
