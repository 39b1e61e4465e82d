"""What a process keeps of `alerts.events`, a week of it (the `TopicMirror` forgets older
keys), and how it reads that back.

- The alert process asks only who owns a reference (`apply_alert_owner`).
- The web process answers the console, a customer's STATUS text and a supervisor's reply
  without a reference (`apply_alert_event`). It keeps each alert as the compact JSON of what
  the console shows (`kept_alert`), about 0.5 KB, and a week holds tens of thousands. An
  open alert is kept under `open:<ref>` and a closed one under `alert:<ref>`, so the console
  lists the open ones without reading the rest.

Pure: `state` is the mirror's mapping (a `DiskState` in a worker: a week on disk, not in
memory), or a dict.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, MutableMapping
from typing import Any

import orjson

from pipeline.disk_state import discard, prefixed
from pipeline.web.console_page import CLOSED_STATES, kept_alert

State = MutableMapping[str, Any]
Fold = Callable[[State, str, dict[str, Any]], None]

OPEN, CLOSED = "open:", "alert:"
SUMMARY_FIELDS = ("ref", "state", "location_id", "acked_by", "lang")  # a STATUS answer's


def compact_json(doc: dict[str, Any]) -> bytes:
    """`doc` as JSON in a buffer of its own size. orjson returns its bytes in the buffer it
    wrote them to, rounded up (8 KB for an alert of 450 bytes, measured with orjson 3.13;
    see ijl/orjson#483): fine for a record on its way to Kafka, 18 times too much for one
    kept a week. The copy costs about 0.4 µs.

    >>> compact_json({"ref": "4821"})
    b'{"ref":"4821"}'
    """
    return bytes(memoryview(orjson.dumps(doc)))


def apply_alert_owner(state: State, key: str, doc: dict[str, Any]) -> None:
    """Each alert reference -> the feedback id it was opened for (None for a trend or drift
    alert): all that the alert desk reads from the index, to keep a new alert off a reference
    another worker gave out.

    >>> state = {}
    >>> apply_alert_owner(state, "", {"alert": {"ref": "4821", "feedback_ids": ["f1", "f2"]}})
    >>> state
    {'owner:4821': 'f1'}
    """
    alert = doc.get("alert")
    if isinstance(alert, dict) and alert.get("ref"):
        state[f"owner:{alert['ref']}"] = (alert.get("feedback_ids") or [None])[0]


def apply_alert_event(state: State, key: str, doc: dict[str, Any]) -> None:
    """Keep the newest state of each alert (what the console shows), which alert each
    feedback reference opened, and the alert each supervisor was last paged for.

    >>> state = {}
    >>> apply_alert_event(state, "", {"event": "paged", "recipient_ref": "ana@bar",
    ...     "feedback_ref": "R1", "alert": {"ref": "4821", "state": "paged"}})
    >>> sorted(state), summary_of(state, "4821")["state"]
    (['fref:R1', 'open:4821', 'sup:ana@bar'], 'paged')
    >>> apply_alert_event(state, "", {"event": "resolved",
    ...     "alert": {"ref": "4821", "state": "resolved"}})
    >>> sorted(state), [a["ref"] for a in alerts(state)]
    (['alert:4821', 'fref:R1', 'sup:ana@bar'], [])
    """
    alert = doc.get("alert")
    if not isinstance(alert, dict) or not alert.get("ref"):
        return
    ref = alert["ref"]
    closed = alert.get("state") in CLOSED_STATES
    discard(state, (OPEN if closed else CLOSED) + ref)
    state[(CLOSED if closed else OPEN) + ref] = compact_json(kept_alert(alert))
    if fref := doc.get("feedback_ref"):
        state[f"fref:{fref}"] = ref
    recipient = doc.get("recipient_ref")
    if doc.get("event") in ("paged", "escalated") and recipient:
        state[f"sup:{recipient}"] = ref


def folds_for(stages: Collection[str]) -> Fold:
    """The fold of a process that runs `stages`: the web stage's index, the alert stage's
    owners, or both in a process that runs both."""
    wanted = [f for stage, f in (("web", apply_alert_event), ("alert", apply_alert_owner))
              if stage in stages]  # fmt: skip

    def fold(state: State, key: str, doc: dict[str, Any]) -> None:
        for f in wanted:
            f(state, key, doc)

    return wanted[0] if len(wanted) == 1 else fold


def alert_of(state: State, ref: str) -> dict[str, Any] | None:
    """The kept alert with reference `ref`, open or closed; None if it is not in the index."""
    blob = state.get(OPEN + ref) or state.get(CLOSED + ref)
    return orjson.loads(blob) if blob else None


def summary_of(state: State, ref: str) -> dict[str, Any] | None:
    """The fields a STATUS answer and a supervisor's reply read of alert `ref`."""
    alert = alert_of(state, ref)
    return None if alert is None else {k: alert.get(k, "") for k in SUMMARY_FIELDS}


def alert_ref(state: State, ref: str) -> str:
    """The alert reference for what a customer typed: a feedback reference that opened an
    alert gives that alert's; anything else is taken as an alert reference."""
    found = state.get(f"fref:{ref}")
    return found if isinstance(found, str) else ref


def last_paged(state: State, recipient: str) -> str:
    """The reference of the alert `recipient` ("name@location") was last paged for, or ""."""
    found = state.get(f"sup:{recipient}")
    return found if isinstance(found, str) else ""


def alerts(state: State, everything: bool = False) -> Iterator[dict[str, Any]]:
    """The kept alerts: the open ones, or with `everything` the closed ones too."""
    for prefix in (OPEN, CLOSED) if everything else (OPEN,):
        for _key, blob in prefixed(state, prefix):
            yield orjson.loads(blob)
