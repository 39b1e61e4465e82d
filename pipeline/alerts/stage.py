"""The alert stage: `feedback.scored` + `alerts.commands` -> alert tables, `alerts.events`,
`pages.outbox`. A thin agent around the pure `desk`; a timer sends ticks for due alerts.

Every change to an alert happens in the agent (Faust tables change only inside a stream), so
timers, console buttons, SMS replies and delivery reports all arrive as commands on one
co-partitioned topic, keyed by location.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from pipeline.alerts import desk
from pipeline.alerts import lifecycle as lc
from pipeline.records import RecordError, ScoredFeedback
from pipeline.scoring.stage import send_dlq

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)

TICK_EVERY_S = 1.0
TICK_RESEND_S = 10.0
FINAL_EVENTS = ("resolved", "followed_up", "expired", "dismissed")


class TableBook:
    """`desk.Book` over the Faust tables (and the worker-wide index of references)."""

    def __init__(self, alerts: Any, index: Any, known_refs: Any) -> None:
        self.alerts = alerts
        self.index = index
        self.known_refs = known_refs

    def alert(self, ref: str) -> lc.Alert | None:
        d = self.alerts.get(ref)
        return lc.Alert.from_dict(d) if d else None

    def open_ref(self, key: str) -> str | None:
        ref = self.index.get(key)
        return ref if ref and self.alerts.get(ref) else None

    def ref_taken(self, ref: str) -> bool:
        return ref in self.alerts or f"ref:{ref}" in self.known_refs

    def at_location(self, location_id: str) -> list[lc.Alert]:
        # The table holds only the alerts that are not closed: a short scan.
        return [
            lc.Alert.from_dict(d)
            for d in self.alerts.values()
            if d and d.get("location_id") == location_id
        ]


def observe(ctx: Pronto, ev: dict[str, Any]) -> None:
    """Lifecycle events feed the counters and the response-time histograms."""
    m = ctx.metrics
    kind, loc = ev["event"], ev["location_id"]
    alert = ev.get("alert") or {}
    m.alert_events.labels(loc, kind).inc()
    if kind == "opened":
        m.alerts_opened.labels(loc, alert.get("reason", "")).inc()
    elif kind == "escalated":
        m.escalations.labels(loc, "timeout" if ev.get("missed_by") else "failed").inc()
    elif kind == "acknowledged":
        m.acks.labels(loc, ev.get("channel") or "sms").inc()
        m.first_response.observe(max(0.0, ev["at"] - alert.get("opened_at", ev["at"])))
        if alert.get("paged_at"):
            m.time_to_ack.observe(max(0.0, ev["at"] - alert["paged_at"]))
    elif kind == "resolved":
        m.resolutions.labels(loc).inc()
        m.time_to_resolve.observe(max(0.0, ev["at"] - alert.get("opened_at", ev["at"])))
    elif kind == "followed_up":
        m.recoveries.labels(loc, alert.get("outcome", "")).inc()


def register(ctx: Pronto) -> None:
    from pipeline.ingest.routes import ingest_of

    app = ctx.app
    s = ctx.settings
    alerts = app.Table("alerts", default=None, partitions=s.partitions)
    index = app.Table("alerts-open-index", default=None, partitions=s.partitions)
    ctx.tables.update(alerts=alerts, alerts_index=index)
    book = TableBook(alerts, index, ingest_of(ctx).alerts.state)
    source = app.topic(s.topic("feedback.scored"), s.topic("alerts.commands"),
                       key_type=bytes, value_type=bytes, key_serializer="raw",
                       value_serializer="raw")  # fmt: skip
    ticked: dict[str, tuple[float, int, str]] = {}

    async def apply(out: desk.Outputs) -> None:
        for ref, alert in out.alerts.items():
            if alert is None:
                if ref in alerts:
                    del alerts[ref]
            else:
                alerts[ref] = alert.to_dict()
        for key, open_ref in out.index.items():
            if open_ref is None:
                if key in index:
                    del index[key]
            else:
                index[key] = open_ref
        for msg in out.messages:
            await ctx.topic("outbox").send(
                key=msg["location_id"].encode(), value=json.dumps(msg).encode()
            )
        for ev in out.events:
            await ctx.topic("events").send(
                key=ev["location_id"].encode(), value=json.dumps(ev).encode()
            )
            observe(ctx, ev)
            if ev["event"] in ("paged", "escalated", "acknowledged") or ev["event"] in FINAL_EVENTS:
                logger.info(
                    "alert %s", ev["event"], extra={"ref": ev["ref"], "location": ev["location_id"]}
                )

    @app.agent(source)
    async def alert_desk(stream: Any) -> None:
        async for event in stream.events():
            await asyncio.sleep(0)  # a backlog must not starve the other agents, timers and web
            now = time.time()
            try:
                doc = json.loads(event.value)
                if not isinstance(doc, dict):
                    raise RecordError("not a JSON object")
                if "feedback" in doc:
                    sf = ScoredFeedback.from_dict(doc)
                    loc = ctx.venues.by_id(sf.fb.location_id)
                    out = desk.on_feedback(book, loc, sf, now) if loc else desk.Outputs()
                else:
                    loc = ctx.venues.by_id(
                        (event.key or b"").decode() or str(doc.get("location_id", ""))
                    )
                    if loc is None:
                        raise RecordError(f"command for an unknown location: {event.key!r}")
                    if doc.get("type") == "drift":
                        detail = f"satisfaction fell from {doc.get('before', 0):.2f} to {doc.get('after', 0):.2f}"
                        out = desk.on_drift(book, loc, detail, now)
                    else:
                        out = desk.on_command(book, loc, doc, now)
            except (RecordError, ValueError, KeyError, TypeError) as e:
                logger.exception("alert input to the DLQ")
                await send_dlq(ctx, event.key, event.value, f"{type(e).__name__}: {e}", "alert")
                continue
            await apply(out)

    @app.timer(TICK_EVERY_S)
    async def tick() -> None:
        """Escalate unacknowledged pages, tell the manager, expire: re-armed from the table
        after every restart and rebalance, since the table is the timers' state."""
        now = time.time()
        counts: dict[str, int] = {}
        for ref, d in list(alerts.items()):
            if not d:
                continue
            alert = lc.Alert.from_dict(d)
            loc = ctx.venues.by_id(alert.location_id)
            if loc is None:
                continue
            if alert.is_open:
                counts[loc.id] = counts.get(loc.id, 0) + 1
            if not desk.due_now(alert, loc, now):
                continue
            last = ticked.get(ref)
            if (
                last
                and last[1] == alert.level
                and last[2] == alert.state
                and now - last[0] < TICK_RESEND_S
            ):
                continue
            ticked[ref] = (now, alert.level, str(alert.state))
            await ctx.topic("commands").send(
                key=loc.id.encode(),
                value=json.dumps({"schema": 1, "type": "tick", "ref": ref, "at": now}).encode(),
            )
        for loc in ctx.venues.locations:
            ctx.metrics.open_alerts.labels(loc.id).set(counts.get(loc.id, 0))
