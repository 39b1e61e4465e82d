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
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import orjson

from pipeline import spill_store
from pipeline.alert_index import compact_json
from pipeline.alerts import desk, theme_desk, themes_stage
from pipeline.alerts import lifecycle as lc
from pipeline.alerts.due_index import DueIndex
from pipeline.alerts.pacing import Pacer
from pipeline.alerts.page_out import PageWriter
from pipeline.current_event import as_event
from pipeline.delivery import deliver
from pipeline.dlq import send_dlq
from pipeline.records import RecordError, ScoredFeedback
from pipeline.side_feed import FeedEvent, owned_by, side_feed, tables_ready

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)

TICK_EVERY_S = 1.0
TICK_RESEND_S = 10.0
PRUNE_EVERY_S = 60.0
FINAL_EVENTS = ("resolved", "followed_up", "expired", "dismissed")


def stored(alert: lc.Alert) -> bytes:
    """An alert as the alerts table keeps it: compact JSON, the bytes its changelog carries.
    Kept decoded, an alert held about 2.5 KB of dicts, floats and strings; as bytes it holds
    its own size, and a restart replays the changelog without decoding a record."""
    return compact_json(alert.to_dict())


def loaded(raw: bytes) -> lc.Alert:
    return lc.Alert.from_dict(orjson.loads(raw))


class TableBook:
    """`desk.Book` over the Faust tables (and the worker-wide index of references).

    It reads the tables' stores directly: a Faust table's `get` reads the store twice for a
    key it holds (`in`, then the value) and raises and catches a KeyError for one it does
    not, and most of the desk's reads are of keys that are not there (a feedback not handled
    yet, a customer with no open alert). Writes still go through the tables, which send
    their changelog records."""

    def __init__(self, alerts: Any, index: Any, known_refs: Any) -> None:
        self.alerts = alerts
        self.index = index
        self.known_refs = known_refs
        self.latest: dict[str, tuple[float, str]] = {}  # location -> (paged at, ref)

    def alert(self, ref: str) -> lc.Alert | None:
        raw = self.alerts.data.get(ref)
        return loaded(raw) if raw else None

    def open_ref(self, key: str) -> str | None:
        ref = self.index.data.get(key)
        return ref if ref and self.alerts.data.get(ref) else None

    def ref_taken(self, ref: str, feedback_id: str) -> bool:
        """Whether `ref` belongs to another alert (here or in the worker-wide index)."""
        mine = self.alerts.data.get(ref)
        if mine is not None:
            return (orjson.loads(mine).get("feedback_ids") or [None])[0] != feedback_id
        key = f"owner:{ref}"
        return key in self.known_refs and self.known_refs[key] != feedback_id

    def recently_paged(self, location_id: str) -> list[lc.Alert]:
        """The latest alert paged on its own at `location_id`, if within the burst span: the
        only one a new complaint can join. Kept in memory: after a restart a burst starts
        afresh, which costs one extra page, never a missed one."""
        latest = self.latest.get(location_id)
        if latest is None or latest[0] < time.time() - desk.BURST_SPAN_S:
            return []
        alert = self.alert(latest[1])
        return [alert] if alert is not None else []

    def handled(self, feedback_id: str) -> bool:
        return self.index.data.get(desk.handled_key(feedback_id)) is not None

    def note_paged(self, location_id: str, ref: str, at: float) -> None:
        self.latest[location_id] = (at, ref)


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
    app = ctx.app
    s = ctx.settings
    # value_type=bytes: Faust keeps and sends the value as it is ("raw"); keys stay JSON.
    alerts = app.Table("alerts", default=None, partitions=s.partitions, value_type=bytes)
    index = app.Table("alerts-open-index", default=None, partitions=s.partitions)
    ctx.tables.update(alerts=alerts, alerts_index=index)
    book = TableBook(alerts, index, ctx.alert_index.state)
    themes = themes_stage.register(ctx)
    urgent_topic = s.topic("feedback.urgent")

    # Complaints triaged at ingest come by `feedback.urgent`, ahead of the score stage's
    # backlog; the same feedback comes again, scored, and the desk knows it by its id. Three
    # lanes: the urgent copies and the scored records each by a Kafka consumer of its own
    # (`side_feed.py` says why), and the commands by a Faust agent, so a complaint or a
    # supervisor's command never queues behind scored records the desk has not reached yet
    # (with `PRONTO_SCORED_FEED=false` the scored records come by a Faust agent of their own,
    # with its own buffer: Faust stops fetching only the partitions whose buffer is full,
    # `Conductor.on_message`, `on_buffer_full`). Each record's desk call and table writes run
    # without an await in between (`apply`), so the lanes never interleave inside one record.
    def lane(*topics: str) -> Any:
        return app.topic(*topics, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw")  # fmt: skip

    commands_topic = s.topic("alerts.commands")
    priority_lane = lane(commands_topic) if s.urgent_feed else lane(urgent_topic, commands_topic)
    scored_topic = s.topic("feedback.scored")
    last_prune: dict[int, float] = {}  # partition -> when its handled ids were last pruned

    def prune_handled(now: float, partition: int) -> None:
        """Forget the ids of feedback acted on more than the horizon ago (both copies of a
        complaint have long arrived by then), in the partition of the record being processed
        (`spill_store.stale_keys` says why), found by their write time."""
        cutoff = now - desk.HANDLED_HORIZON_S
        for key in spill_store.stale_keys(index, cutoff, "fid:", partition) or ():
            mark = index.get(key)
            if mark is not None and desk.handled_at(mark) < cutoff:
                del index[key]

    due = DueIndex()  # ref -> (next check, location): the timers' index, on disk
    pages = PageWriter(ctx)  # the outbox records, by a producer of their own (`page_out.py`)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_page_writer(sender: Any, **kwargs: Any) -> None:
        await pages.stop()

    rearm = {"needed": True}

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def rearm_timers(sender: Any, *args: Any, **kwargs: Any) -> None:
        rearm["needed"] = True  # recovered alerts get their timers back on the next tick
        themes.on_assigned()

    def timers_of(stored_alerts: Iterable[tuple[str, bytes]]) -> Iterator[tuple[str, float, str]]:
        """(ref, next check, location) of each stored alert with a venue: the timers to arm."""
        for ref, raw in stored_alerts:
            alert = loaded(raw) if raw else None
            loc = ctx.venues.by_id(alert.location_id) if alert else None
            if alert is not None and loc is not None:
                yield ref, desk.next_check_at(alert, loc), loc.id

    def arm(ref: str, alert: lc.Alert | None) -> None:
        loc = ctx.venues.by_id(alert.location_id) if alert else None
        if alert is None or loc is None:
            due.drop(ref)
        else:
            due.set(ref, desk.next_check_at(alert, loc), loc.id)

    async def apply(out: desk.Outputs) -> None:
        for ref, alert in out.alerts.items():
            if alert is None:
                if ref in alerts:
                    del alerts[ref]
            else:
                alerts[ref] = stored(alert)
            arm(ref, alert)
        for key, open_ref in out.index.items():
            if open_ref is None:
                if key in index:
                    del index[key]
            else:
                index[key] = open_ref
        for ev in out.events:  # before any await: the other lane's next record sees it
            if ev["event"] == "paged" and not ev["alert"].get("burst_of"):
                book.note_paged(ev["location_id"], ev["ref"], ev["at"])
        for msg in out.messages:
            value = orjson.dumps(msg)
            written = await pages.write(msg["location_id"].encode(), value)
            if ctx.hand_off is not None:  # the notify stage here: one Kafka hop fewer
                ctx.hand_off(value, written)
        if out.messages:
            pages.done()  # a page waits for no linger
        for ev in out.events:
            await deliver(ctx.topic("events"), ev["location_id"].encode(), orjson.dumps(ev))
            observe(ctx, ev)
            if ev["event"] == theme_desk.EVENT and (loc := ctx.venues.by_id(ev["location_id"])):
                themes.learn(loc, ev)  # at once: the next message with these words is tagged
            if ev["event"] in ("paged", "escalated", "acknowledged") or ev["event"] in FINAL_EVENTS:
                logger.info(
                    "alert %s", ev["event"], extra={"ref": ev["ref"], "location": ev["location_id"]}
                )

    pacer = Pacer(s.scored_lane_share)
    if not s.scored_feed:

        @app.agent(lane(scored_topic))
        async def alert_desk(stream: Any) -> None:
            """Every scored feedback: the desk's normal path, a few records at a time. It takes
            at most its share of the loop (`pacing.py`): a backlog of scored records waits in
            Kafka, not in front of a complaint from the edge, which waits one small batch."""
            async for events in stream.take_events(s.alert_batch, within=s.alert_batch_s):
                t0 = time.thread_time()
                for event in events:
                    as_event(event)  # a batch holds records of several partitions
                    await handle(event, "scored")
                await asyncio.sleep(pacer.after(time.thread_time() - t0))

    @app.agent(priority_lane)
    async def alert_desk_urgent(stream: Any) -> None:
        """Complaints from the edge, and commands (acks, ticks, delivery reports)."""
        async for event in stream.events():
            await handle(event, "fast_path")

    # The partitions this worker's desk holds: those of `alerts.commands` that Faust assigned
    # it (co-partitioned with the alert tables, `feedback.urgent` and `feedback.scored`).
    owned = owned_by(app, commands_topic)

    def fed(copy: str) -> Callable[[Any], Awaitable[None]]:
        """A side feed's handler: its records are the lane `copy`'s."""

        async def handle_record(record: Any) -> None:
            event = FeedEvent(record, app.consumer_generation_id)
            as_event(event)  # the desk's table writes go to the record's partition
            await handle(event, copy)

        return handle_record

    if s.urgent_feed:
        side_feed(ctx, urgent_topic, s.side_group("urgent"), owned, fed("fast_path"))
    if s.scored_feed:
        # Faust's own group read `feedback.scored` before this feed existed: a partition this
        # feed never committed starts where that group left it, else at its beginning.
        side_feed(ctx, scored_topic, s.side_group("scored"), owned, fed("scored"),
                  reset="earliest", fallback_group=app.conf.id, pace=pacer.after,
                  max_records=s.alert_batch)  # fmt: skip

    async def handle(event: Any, copy: str) -> None:
        """One record of a lane; `copy` names the lane's copy of a feedback."""
        now = time.time()
        sf = None
        try:
            doc = orjson.loads(event.value)  # several times faster than json on a scored record
            if not isinstance(doc, dict):
                raise RecordError("not a JSON object")
            if "feedback" in doc:
                sf = ScoredFeedback.from_dict(doc)
                loc = ctx.venues.by_id(sf.fb.location_id)
                tags = themes.of(loc, sf) if loc else ()
                out = desk.on_feedback(book, loc, sf, now, tags) if loc else desk.Outputs()
            else:
                loc = ctx.venues.by_id(
                    (event.key or b"").decode() or str(doc.get("location_id", ""))
                )
                if loc is None:
                    raise RecordError(f"command for an unknown location: {event.key!r}")
                if doc.get("type") == "drift":
                    detail = f"satisfaction fell from {doc.get('before', 0):.2f} to {doc.get('after', 0):.2f}"
                    top = themes.named(loc, doc.get("top_theme"))  # the score stage's counts
                    out = desk.on_drift(book, loc, detail, now, top)
                elif doc.get("type") == theme_desk.COMMAND:
                    out = theme_desk.on_set_themes(book, loc, doc, now, themes.allowed(loc))
                else:
                    out = desk.on_command(book, loc, doc, now)
        except (RecordError, ValueError, KeyError, TypeError) as e:
            logger.exception("alert input to the DLQ")
            await send_dlq(ctx, event.key, event.value, f"{type(e).__name__}: {e}", "alert")
            return
        await apply(out)
        if sf is not None:
            count_opened(out, sf.fb.id, copy)
        partition = event.message.partition
        if now - last_prune.get(partition, 0.0) > PRUNE_EVERY_S:
            last_prune[partition] = now
            prune_handled(now, partition)

    def count_opened(out: desk.Outputs, feedback_id: str, copy: str) -> None:
        """Which copy opened a customer's alert: the fast path's, or the scored one, which
        comes seconds later under load (the edge's model snapshot missed it, or its send
        failed). A trend alert that a scored record opens is not a customer's."""
        for ev in out.events:
            if ev["event"] == "opened" and ev["alert"].get("feedback_ids", [])[:1] == [feedback_id]:
                ctx.metrics.alerts_opened_by_copy.labels(ev["location_id"], copy).inc()

    @app.timer(TICK_EVERY_S)
    async def tick() -> None:
        """Escalate unacknowledged pages, tell the manager, expire. The table is the timers'
        state: after a restart or a rebalance the index is rebuilt from it (re-armed)."""
        now = time.time()
        if rearm["needed"]:
            if not tables_ready(app):
                return  # re-arm from the whole table, once it has been recovered
            due.rebuild(timers_of(alerts.items()))
            rearm["needed"] = False  # (after it: a rebuild that failed is done again)
        for ref, loc_id in due.due(now):
            raw = alerts.get(ref)
            loc = ctx.venues.by_id(loc_id)
            if not raw or loc is None:
                due.drop(ref)
                continue
            alert = loaded(raw)
            if desk.due_now(alert, loc, now):
                await ctx.topic("commands").send(
                    key=loc.id.encode(),
                    value=json.dumps({"schema": 1, "type": "tick", "ref": ref, "at": now}).encode(),
                )
            # Until the agent has handled the tick (and re-armed it), look again only later.
            due.set(ref, max(desk.next_check_at(alert, loc), now + TICK_RESEND_S), loc_id)
        counts = due.counts()
        for loc in ctx.venues.locations:
            ctx.metrics.open_alerts.labels(loc.id).set(counts.get(loc.id, 0))
