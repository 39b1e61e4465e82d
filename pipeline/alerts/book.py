"""What the alert desk reads and returns: the `Book` of current alerts, the `Outputs` it
makes (alerts to store, events, messages), the index keys, and the small builders of events
and messages every part of the desk shares. Pure."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pipeline.alerts import lifecycle as lc
from pipeline.alerts import roster
from pipeline.config import Location

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
        _STEPS[key] = roster.max_level(loc, at_time(now))
    return _STEPS[key]


class Book(Protocol):
    """Read access to the alert tables."""

    def alert(self, ref: str) -> lc.Alert | None: ...
    def open_ref(self, key: str) -> str | None: ...
    def ref_taken(self, ref: str, feedback_id: str) -> bool: ...
    def recently_paged(self, location_id: str) -> list[lc.Alert]: ...
    def handled(self, feedback_id: str) -> bool: ...


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


def at_time(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


def emit(out: Outputs, alert: lc.Alert, events: list[lc.Event], **extra: Any) -> None:
    out.alerts[alert.ref] = alert
    public = alert.to_dict()
    public.pop("contact", None)  # encrypted, but the event log has no use for it
    for ev in events:
        out.events.append({"schema": 1, "event": ev.kind, "ref": ev.ref, "at": ev.ts,
                           "location_id": ev.location_id, "detail": ev.detail,
                           "alert": public, **extra})  # fmt: skip


def add_message(out: Outputs, alert: lc.Alert, kind: str, level: int, body: str, *,
                to_name: str = "", contact: str = "", now: float, urgent: bool = False,
                kind_code: str = "") -> None:  # fmt: skip
    out.messages.append({
        "schema": 1, "page_id": f"P{alert.ref}-{kind_code or kind[0]}{level}", "kind": kind, "ref": alert.ref,
        "location_id": alert.location_id, "to_name": to_name, "contact": contact, "body": body,
        "created_at": now, "received_at": alert.opened_at, "level": level, "urgent": urgent,
    })  # fmt: skip


def customer_message(out: Outputs, alert: lc.Alert, level: int, body: str, now: float,
                     kind_code: str = "") -> None:  # fmt: skip
    if alert.contact and alert.channel in ("sms", "whatsapp", "web", "api", "kiosk"):
        add_message(out, alert, "customer", level, body, contact=alert.contact, now=now,
                    kind_code=kind_code)  # fmt: skip


def can_answer(alert: lc.Alert) -> bool:
    return bool(alert.contact) and alert.channel in ("sms", "whatsapp", "web", "api", "kiosk")
