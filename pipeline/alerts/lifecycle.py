"""The alert state machine, shaped by ISO 10002 complaint handling.

```
opened -> paged -> acknowledged -> resolved -> followed_up (recovered | not_recovered)
            |  ^
            v  |  escalate: level+1, the next person is paged (state `escalated`)
          escalated
any open state -> expired      (open too long, or the customer never answered the follow-up)
any open state -> dismissed    (a supervisor said "NC": not a complaint)
opened -> confirming -> opened | dismissed   (a score and text that disagree: see `confirm`)
```

Every transition is a pure function `f(alert, ..., now) -> (new_alert, events)`; an invalid one
raises `TransitionError`. The alert keeps its audit trail in `history` as (ts, event, detail).
Time is always passed in (epoch seconds), never read from the clock.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

logger = logging.getLogger(__name__)


class State(StrEnum):
    OPENED = "opened"
    PAGED = "paged"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    FOLLOWED_UP = "followed_up"
    EXPIRED = "expired"
    DISMISSED = "dismissed"
    CONFIRMING = "confirming"  # the customer is asked which they meant (`confirm`): no page yet


class Outcome(StrEnum):
    RECOVERED = "recovered"
    NOT_RECOVERED = "not_recovered"


class Due(StrEnum):
    ESCALATE = "escalate"
    NOTIFY_MANAGER = "notify_manager"
    EXPIRE = "expire"


PAGED_STATES = frozenset({State.PAGED, State.ESCALATED})
OPEN_STATES = frozenset({State.OPENED, *PAGED_STATES, State.ACKNOWLEDGED})
TERMINAL_STATES = frozenset({State.FOLLOWED_UP, State.EXPIRED, State.DISMISSED})


class TransitionError(ValueError):
    """The transition is not allowed from the alert's current state."""


@dataclass(frozen=True)
class Event:
    """One lifecycle event, as published on `alerts.events`."""

    ts: float
    kind: str
    ref: str
    location_id: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Alert:
    ref: str
    location_id: str
    customer_ref: str
    reason: str
    urgent: bool
    opened_at: float
    feedback_ids: tuple[str, ...] = ()
    state: State = State.OPENED
    level: int = 0
    paged_at: float | None = None  # the first page: time to first response starts here
    last_paged_at: float | None = None  # the latest page: the ack timer runs from here
    acked_at: float | None = None
    acked_by: str = ""
    resolved_at: float | None = None
    resolved_by: str = ""
    followed_up_at: float | None = None
    outcome: str = ""
    recipients: tuple[str, ...] = ()  # supervisor names paged so far, in order
    history: tuple[tuple[float, str, str], ...] = ()
    text: str = ""  # the latest message from the customer
    score: int | None = None
    scale: str | None = None
    p_negative: float | None = None
    channel: str = ""
    contact: str = ""  # the encrypted customer number, "" when there is none
    lang: str = ""
    manager_notified: bool = False
    feedback_ref: str = ""  # the reference the customer was given for the first message
    burst_of: str = ""  # the leader's ref, when this alert joined a burst at its location
    burst: tuple[str, ...] = ()  # on a leader: the refs that joined its burst
    burst_paged: bool = False  # on a leader: the grouped page has gone out
    themes: tuple[str, ...] = ()  # what the complaint is about (theme ids, sorted)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def to_dict(self) -> dict[str, Any]:
        # Field by field: `dataclasses.asdict` deep-copies every value, and took 5% of the alert
        # process's CPU on a backlog of scored feedback; every value here is immutable.
        d = {name: getattr(self, name) for name in _ALERT_FIELDS}
        d["state"] = str(self.state)
        d["feedback_ids"] = list(self.feedback_ids)
        d["recipients"] = list(self.recipients)
        d["burst"] = list(self.burst)
        d["themes"] = list(self.themes)
        d["history"] = [list(h) for h in self.history]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Alert:
        """Rebuild an alert from `to_dict`; unknown keys are ignored (newer writers)."""
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["state"] = State(kw.get("state", State.OPENED))
        kw["feedback_ids"] = tuple(kw.get("feedback_ids", ()))
        kw["recipients"] = tuple(kw.get("recipients", ()))
        kw["burst"] = tuple(kw.get("burst", ()))
        kw["themes"] = tuple(kw.get("themes", ()))
        kw["history"] = tuple((float(t), str(e), str(x)) for t, e, x in kw.get("history", ()))
        return cls(**kw)


Result = tuple[Alert, list[Event]]


def _step(alert: Alert, now: float, kind: str, detail: str = "", **changes: Any) -> Result:
    new = dataclasses.replace(alert, history=(*alert.history, (now, kind, detail)), **changes)
    return new, [Event(now, kind, alert.ref, alert.location_id, detail)]


def _require(alert: Alert, allowed: frozenset[State] | set[State], action: str) -> None:
    if alert.state not in allowed:
        raise TransitionError(f"alert {alert.ref}: cannot {action} when {alert.state}")


def make_ref(seed: str, taken: Callable[[str], bool], digits: int = 4) -> str:
    """A short numeric reference from a hash of `seed`; rehash while `taken(ref)` says so.

    After 50 collisions it grows a digit, so it always ends.

    >>> ref = make_ref("fb-1", lambda r: False)
    >>> len(ref), ref.isdigit(), make_ref("fb-1", lambda r: False) == ref
    (4, True, True)
    >>> make_ref("fb-1", lambda r: r == ref) != ref
    True
    """
    for attempt in range(50 * 4):
        width = digits + attempt // 50
        h = hashlib.sha256(f"{seed}#{attempt}".encode()).digest()
        ref = str(int.from_bytes(h[:8], "big") % 10**width).zfill(width)
        if not taken(ref):
            return ref
    raise RuntimeError("make_ref: no free reference")  # needs 10**7 refs taken


def open_alert(
    ref: str,
    location_id: str,
    customer_ref: str,
    feedback_id: str,
    reason: str,
    urgent: bool,
    now: float,
    *,
    detail: str = "",
    text: str = "",
    score: int | None = None,
    scale: str | None = None,
    p_negative: float | None = None,
    channel: str = "",
    contact: str = "",
    lang: str = "",
    opened_at: float | None = None,
    themes: tuple[str, ...] = (),
) -> Result:
    """A new alert in state `opened`. `opened_at` defaults to `now`; pass the feedback's
    `received_at` so that the sixty-second clock starts at the customer's message."""
    alert = Alert(
        ref=ref,
        location_id=location_id,
        customer_ref=customer_ref,
        reason=str(reason),
        urgent=urgent,
        opened_at=now if opened_at is None else opened_at,
        feedback_ids=(feedback_id,),
        text=text,
        score=score,
        scale=scale,
        p_negative=p_negative,
        channel=channel,
        contact=contact,
        lang=lang,
        themes=tuple(sorted(set(themes))),
    )
    return _step(alert, now, "opened", detail or str(reason))


def page(alert: Alert, to: str, now: float) -> Result:
    """The first page, to supervisor `to`: opened -> paged."""
    _require(alert, {State.OPENED}, "page")
    return _step(
        alert, now, "paged", to, state=State.PAGED, paged_at=now, last_paged_at=now,
        recipients=(*alert.recipients, to),
    )  # fmt: skip


def escalate(alert: Alert, to: str, now: float) -> Result:
    """Nobody acknowledged in time: level+1 and page `to` (paged|escalated -> escalated)."""
    _require(alert, PAGED_STATES, "escalate")
    return _step(
        alert, now, "escalated", f"level {alert.level + 1}: {to}", state=State.ESCALATED,
        level=alert.level + 1, last_paged_at=now, recipients=(*alert.recipients, to),
    )  # fmt: skip


def acknowledge(alert: Alert, by: str, now: float) -> Result:
    """`by` takes it ("OK 4821"): opened|paged|escalated -> acknowledged."""
    _require(alert, {State.OPENED, *PAGED_STATES}, "acknowledge")
    return _step(
        alert, now, "acknowledged", by, state=State.ACKNOWLEDGED, acked_at=now, acked_by=by
    )


def resolve(alert: Alert, by: str, now: float) -> Result:
    """`by` fixed it. Resolving an unacknowledged alert acknowledges it too (one reply)."""
    _require(alert, OPEN_STATES, "resolve")
    events: list[Event] = []
    if alert.state != State.ACKNOWLEDGED:
        alert, events = acknowledge(alert, by, now)
    alert, more = _step(
        alert, now, "resolved", by, state=State.RESOLVED, resolved_at=now, resolved_by=by
    )
    return alert, events + more


def follow_up(alert: Alert, recovered: bool, now: float) -> Result:
    """The customer answered the follow-up: resolved -> followed_up with the outcome."""
    _require(alert, {State.RESOLVED}, "record a follow-up")
    outcome = Outcome.RECOVERED if recovered else Outcome.NOT_RECOVERED
    return _step(
        alert, now, "followed_up", str(outcome), state=State.FOLLOWED_UP, followed_up_at=now,
        outcome=str(outcome),
    )  # fmt: skip


def dismiss(alert: Alert, by: str, now: float) -> Result:
    """A supervisor says it was not a complaint ("NC 4821"); the sentiment model learns it."""
    _require(alert, OPEN_STATES | {State.RESOLVED}, "dismiss")
    return _step(alert, now, "dismissed", by, state=State.DISMISSED)


def expire(alert: Alert, now: float, why: str = "") -> Result:
    """Close an alert nobody can act on any more (open too long, customer gone)."""
    _require(alert, OPEN_STATES | {State.RESOLVED}, "expire")
    return _step(alert, now, "expired", why, state=State.EXPIRED)


def notify_manager(alert: Alert, now: float, why: str = "overdue") -> Result:
    """Record that the manager was told; the state does not change, and it happens once."""
    if alert.manager_notified:
        raise TransitionError(f"alert {alert.ref}: manager already notified")
    return _step(alert, now, "manager_notified", why, manager_notified=True)


def join(
    alert: Alert,
    feedback_id: str,
    text: str,
    now: float,
    *,
    score: int | None = None,
    scale: str | None = None,
    p_negative: float | None = None,
    urgent: bool = False,
    themes: tuple[str, ...] = (),
) -> Result:
    """A further message from the same customer joins their open alert.

    A redelivered feedback (same id) changes nothing. An urgent message makes the alert urgent.
    The alert's themes become the union of its own and the message's.
    """
    _require(alert, OPEN_STATES, "join")
    if feedback_id in alert.feedback_ids:
        return alert, []
    changes: dict[str, Any] = {"feedback_ids": (*alert.feedback_ids, feedback_id)}
    if text:
        changes["text"] = text
    if score is not None:
        changes["score"], changes["scale"] = score, scale
    if p_negative is not None:
        changes["p_negative"] = p_negative
    if not set(themes) <= set(alert.themes):
        changes["themes"] = tuple(sorted({*alert.themes, *themes}))
    new, events = _step(alert, now, "joined", feedback_id, **changes)
    if urgent and not alert.urgent:
        new, more = _step(new, now, "urgent", feedback_id, urgent=True)
        events += more
    return new, events


def set_themes(alert: Alert, themes: tuple[str, ...], by: str, now: float) -> Result:
    """A supervisor says what the complaint is about; no change, no event.

    >>> a, _ = open_alert("1", "x", "c", "f1", "low_score", False, 0.0, themes=("food",))
    >>> a, ev = set_themes(a, ("wait", "food"), "Ana", 5.0)
    >>> a.themes, ev[0].kind, ev[0].detail
    (('food', 'wait'), 'themes_corrected', 'Ana: food -> food wait')
    >>> set_themes(a, ("food", "wait"), "Ana", 6.0)[1]
    []
    """
    after = tuple(sorted(set(themes)))
    if after == alert.themes:
        return alert, []
    detail = f"{by}: {' '.join(alert.themes) or '-'} -> {' '.join(after) or '-'}"
    return _step(alert, now, "themes_corrected", detail, themes=after)


def due_timers(
    alert: Alert,
    now: float,
    ack_timeout_s: float,
    resolve_timeout_s: float,
    *,
    max_level: int = 2,
    expire_after_s: float = 4 * 3600.0,
    follow_up_timeout_s: float = 24 * 3600.0,
) -> list[Due]:
    """What should happen to `alert` at `now`, most important first (often nothing).

    - EXPIRE: open longer than `expire_after_s`, or resolved with no follow-up answer after
      `follow_up_timeout_s`. Nothing else is due then.
    - ESCALATE: paged, not acknowledged within `ack_timeout_s` of the latest page, and below
      `max_level` (the manager's level, see `roster.max_level`).
    - NOTIFY_MANAGER: still not resolved `resolve_timeout_s` after opening (once).

    >>> a, _ = open_alert("1", "x", "c", "f1", "low_score", False, now=0.0)
    >>> a, _ = page(a, "Ana", now=1.0)
    >>> due_timers(a, 30.0, 60, 600), due_timers(a, 61.0, 60, 600)
    ([], [<Due.ESCALATE: 'escalate'>])
    """
    if alert.state in TERMINAL_STATES:
        return []
    if alert.state == State.RESOLVED:
        since = alert.resolved_at if alert.resolved_at is not None else alert.opened_at
        return [Due.EXPIRE] if now - since >= follow_up_timeout_s else []
    if now - alert.opened_at >= expire_after_s:
        return [Due.EXPIRE]
    due: list[Due] = []
    if (
        alert.state in PAGED_STATES
        and alert.last_paged_at is not None
        and now - alert.last_paged_at >= ack_timeout_s
        and alert.level < max_level
    ):
        due.append(Due.ESCALATE)
    if not alert.manager_notified and now - alert.opened_at >= resolve_timeout_s:
        due.append(Due.NOTIFY_MANAGER)
    return due


_ALERT_FIELDS = tuple(f.name for f in dataclasses.fields(Alert))
