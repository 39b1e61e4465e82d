"""The notify stage: `pages.outbox` -> a `PageSender` (Twilio or the console), exactly once.

Sends are concurrent, supervisors' pages first, and retried (`sendqueue.py`); the agent only
decodes each record and hands it over.

Exactly one message per page id, across redelivery, restart and rebalance:
- the `sent-pages` table records each page id that was sent (or failed, for good);
- a record is acknowledged only after that, so its offset is never committed while its send is
  under way (Faust commits the run of acknowledged offsets from the committed one; see
  `pipeline/faust_fixes.py`), and the producer is flushed before a commit;
- a message produced before this process started may have been sent by a process that died
  before it could record it, so the sender's own log is asked first (`already_sent`);
- when partitions are revoked, the sends under way finish and are recorded before they move.

One Kafka hop fewer: the desk in the same process hands each message over (`hand_off`) once
the broker has its outbox record, and it is sent at once, recorded in `sent-pages` under the
desk's record (the same partition: both are keyed by location). The outbox record, when it
comes back from Kafka, finds it recorded, or waits behind it in the queue (one job per page
id), and is acknowledged. A crash between the send and its record is the case above (the
record is older than the next process: the log is asked). A message is handed over only when
this process owns its outbox partition, and the outbox record is always the one acknowledged.
Opted-out customers are sent nothing; supervisors are throttled (urgent pages are not).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faust.streams import current_event
from faust.types import TP

from pipeline import spill_store
from pipeline.alerts.retry import RetryPolicy
from pipeline.alerts.senders import PAGE_KINDS, Page
from pipeline.alerts.sendqueue import RECOVERED, SENT, Outcome, SendJob, SendQueue, priority
from pipeline.alerts.throttle import PageThrottle
from pipeline.current_event import as_event
from pipeline.delivery import deliver
from pipeline.dlq import send_dlq
from pipeline.phones import mask_phone

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)

SETTLE_S = 10.0  # how long a revocation waits for the sends under way (Twilio's own timeout)
LOG_SLACK_S = 60.0  # the provider's log is searched from this long before the message was made
# A page id is forgotten this long after it was recorded: longer than `pages.outbox` keeps a
# page (the broker's default retention, 7 days), so no copy of it can be read again after.
# Without it, `sent-pages` grew by every page ever sent, and so did each start's replay.
SENT_HORIZON_S = 8 * 86_400.0
SENT_PRUNE_EVERY_S = 600.0


def decode(value: bytes | None) -> dict[str, Any]:
    """An outbox record, checked for what the stage reads; ValueError/KeyError/TypeError if not.

    >>> msg = decode(b'{"page_id": "P1-p0", "kind": "page", "ref": "1", "location_id": "x", '
    ...              b'"body": "Reply OK 1"}')
    >>> msg["level"], msg["created_at"]
    (0, 0.0)
    >>> decode(b'{"page_id": "P1-p0", "kind": "sms", "ref": "1", "location_id": "x", "body": "."}')
    Traceback (most recent call last):
    ...
    ValueError: kind: one of ('page', 'customer', 'manager')
    """
    msg = json.loads(value or b"")
    for name in ("page_id", "ref", "location_id", "body"):
        if not isinstance(msg[name], str) or not msg[name]:
            raise ValueError(f"{name}: a non-empty string")
    if msg["kind"] not in PAGE_KINDS:
        raise ValueError(f"kind: one of {PAGE_KINDS}")
    msg["level"] = int(msg.get("level") or 0)
    msg["created_at"] = float(msg.get("created_at") or 0)
    return msg


def resolve_recipient(ctx: Pronto, msg: dict[str, Any]) -> str:
    """The number to send to: a supervisor's from the venues file, a customer's decrypted."""
    if msg["kind"] == "customer":
        return ctx.privacy.decrypt(str(msg.get("contact", "")))
    loc = ctx.venues.by_id(str(msg.get("location_id", "")))
    sup = loc.supervisor(str(msg.get("to_name", ""))) if loc else None
    return sup.phone if sup else ""


@dataclass
class Outgoing:
    """A record on its way out: the Faust event (to acknowledge) and its decoded message."""

    ev: Any
    msg: dict[str, Any]
    channel: str = "console"
    to: str = ""  # the number, once resolved
    early: bool = False  # handed over by the desk: `ev` is the desk's record, not acknowledged

    @property
    def page_id(self) -> str:
        return str(self.msg["page_id"])

    @property
    def extra(self) -> dict[str, Any]:
        return {"ref": self.msg["ref"], "page_id": self.page_id}


class Recorder:
    """The queue's `SendHandler`: decides what to send, records each outcome in the table and
    on `alerts.events`, observes it, and then acknowledges the record. The queue runs these
    in the context of the record, so the table writes go to the record's partition."""

    def __init__(self, ctx: Pronto, sent: Any, throttle: PageThrottle, stream: Any) -> None:
        self.ctx = ctx
        self.sent = sent
        self.throttle = throttle
        self.stream = stream

    def live(self, item: Outgoing) -> bool:
        # A record of an older generation is not ours to finish: after a rebalance the
        # consumer reads again from the committed offset, so it is delivered once more.
        return bool(item.ev.message.generation_id == self.ctx.app.consumer_generation_id)

    def flowing(self) -> bool:
        return bool(self.ctx.app.flow_control.is_active())

    async def ack(self, item: Outgoing) -> None:
        if self.live(item) and not item.early:
            await self.stream.ack(item.ev)

    async def event(self, item: Outgoing, kind: str, **extra: Any) -> None:
        msg = item.msg
        doc = {"schema": 1, "event": kind, "ref": msg["ref"], "location_id": msg["location_id"],
               "at": time.time(), "page_id": msg["page_id"], "kind": msg["kind"],
               "to_name": msg.get("to_name", ""), **extra}  # fmt: skip
        await deliver(
            self.ctx.topic("events"), msg["location_id"].encode(), json.dumps(doc).encode()
        )

    async def prepare(self, item: Outgoing) -> Page | None:
        ctx, msg, page_id = self.ctx, item.msg, item.page_id
        if page_id in self.sent:  # a copy that waited for the first one to be recorded
            await self.ack(item)
            return None
        item.channel = "sms" if ctx.settings.twilio_enabled else "console"
        to = item.to = resolve_recipient(ctx, msg)
        if not to:
            ctx.metrics.pages_failed.labels(item.channel, "no_number").inc()
            await self.ack(item)
            return None
        if msg["kind"] == "customer":
            if ctx.optouts.state.get(ctx.privacy.customer_ref(to)):
                ctx.metrics.pages_failed.labels(item.channel, "opted_out").inc()
                logger.info("not sent: the customer opted out", extra=item.extra)
                self.sent[page_id] = "opted-out"
                await self.undelivered(item)
                await self.ack(item)
                return None
        elif not self.throttle.allow(
            str(msg.get("to_name", to)), time.time(), bool(msg.get("urgent"))
        ):
            # Over the budget: the page waits in the table of its alert; the escalation timer
            # pages the next person if nobody acknowledges it.
            ctx.metrics.pages_failed.labels(item.channel, "throttled").inc()
            await self.event(item, "page_throttled")
            self.sent[page_id] = "throttled"
            await self.ack(item)
            return None
        if item.channel != "console" and to.startswith("whatsapp:"):
            item.channel = "whatsapp"
        return Page(page_id=page_id, to=to, body=msg["body"], kind=msg["kind"])

    def calling(self, item: Outgoing, page: Page) -> None:
        msg = item.msg
        if msg["kind"] == "page" and msg["level"] == 0:
            delay = time.time() - float(msg.get("received_at") or 0)
            self.ctx.metrics.webhook_to_page.observe(max(0.0, delay))

    async def finish(self, item: Outgoing, outcome: Outcome) -> None:
        ctx, msg, page_id = self.ctx, item.msg, item.page_id
        result = outcome.result
        if outcome.state == RECOVERED:
            logger.info("already sent: found in the provider's log", extra=item.extra)
            self.sent[page_id] = "recovered"
        elif outcome.state == SENT and result is not None:
            self.sent[page_id] = result.sid or "sent"
            ctx.metrics.pages_sent.labels(item.channel, msg["kind"]).inc()
            latency = outcome.called_at - float(msg.get("received_at") or 0)
            await self.event(item, "page_sent", sid=result.sid, latency_s=round(latency, 4))
            logger.info("sent %s to %s", msg["kind"], mask_phone(item.to), extra=item.extra)
        else:
            error = result.error if result else "unknown"
            ctx.metrics.pages_failed.labels(item.channel, "send_error").inc()
            logger.error("send failed after %d attempts: %s", outcome.attempts, error,
                         extra=item.extra)  # fmt: skip
            self.sent[page_id] = f"failed:{error[:100]}"
            await self.undelivered(item)
        await self.ack(item)

    async def undelivered(self, item: Outgoing) -> None:
        """Tell the desk when a page or the customer's one question did not go out: a page
        escalates at once, an unasked question is settled (other customer messages need
        nothing more)."""
        msg = item.msg
        if msg["kind"] == "page" or (msg["kind"] == "customer" and item.page_id.endswith("-q0")):
            failed = {"schema": 1, "type": "delivery_failed", "page_id": item.page_id,
                      "ref": msg["ref"]}  # fmt: skip
            key = msg["location_id"].encode()
            await deliver(self.ctx.topic("commands"), key, json.dumps(failed).encode())


def register(ctx: Pronto) -> None:
    app = ctx.app
    s = ctx.settings
    sent = app.Table("sent-pages", default=None, partitions=s.partitions)
    ctx.tables["sent_pages"] = sent
    throttle = PageThrottle(limit=s.pages_per_supervisor_per_min, window_s=60.0)
    running: dict[str, SendQueue[Outgoing]] = {}
    last_prune: dict[int, float] = {}  # partition -> when its old page ids were last pruned

    def prune_sent(partition: int, now: float) -> None:
        """Forget the page ids of `partition` recorded more than the horizon ago, under a
        record of that partition (`spill_store.stale_keys` says why)."""
        if now - last_prune.get(partition, 0.0) < SENT_PRUNE_EVERY_S:
            return
        last_prune[partition] = now
        for key in spill_store.stale_keys(sent, now - SENT_HORIZON_S, "", partition) or ():
            del sent[key]

    handing: set[asyncio.Task[None]] = set()

    def hand_off(value: bytes, written: Any) -> None:
        """The desk (this process) wrote `value` to the outbox; `written` is the producer's
        future for it. Take it from here once the broker has it: see the module doc."""
        event = current_event()
        if event is not None:
            task = asyncio.get_running_loop().create_task(take_early(value, written, event))
            handing.add(task)
            task.add_done_callback(handing.discard)

    async def take_early(value: bytes, written: Any, event: Any) -> None:
        left = ctx.metrics.pages_handed_off.labels("left")
        try:
            meta = await written
        except Exception:  # not written: whatever writes it again sends it
            left.inc()
            return
        queue = running.get("queue")
        partition = event.message.partition
        mine = TP(meta.topic, meta.partition) in app.consumer.assignment()
        if queue is None or meta.partition != partition or not mine:
            left.inc()  # its record comes back to this process, or to the partition's owner
            return
        try:
            msg = decode(value)
        except (ValueError, KeyError, TypeError):  # the outbox record goes to the DLQ
            left.inc()
            return
        as_event(event)  # the outcome is recorded in the partition of the outbox record
        if msg["page_id"] in sent:
            left.inc()
            return
        await queue.put(job_for(Outgoing(event, msg, early=True), check_log=False))
        ctx.metrics.pages_handed_off.labels("taken").inc()

    def job_for(item: Outgoing, check_log: bool) -> SendJob[Outgoing]:
        msg = item.msg
        return SendJob(
            key=msg["page_id"],
            item=item,
            priority=priority(msg["kind"], bool(msg.get("urgent")), msg["level"]),
            context=contextvars.copy_context(),  # holds Faust's current event
            since=msg["created_at"] - LOG_SLACK_S,
            check_log=check_log,
        )

    if s.page_handoff and "alert" in ctx.stages:
        ctx.hand_off = hand_off

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def settle_sends(sender: Any, *args: Any, **kwargs: Any) -> None:
        # Faust has suspended the flow, so no waiting job starts; the calls under way end and
        # are recorded, and those records reach Kafka before the partitions (and the table)
        # move to another worker.
        queue = running.get("queue")
        if queue is not None and await queue.settle(SETTLE_S):
            await app.producer.flush()

    @app.agent(ctx.topic("outbox"))
    async def notify(stream: Any) -> None:
        records = stream.noack()  # acknowledged one by one, once recorded (by `Recorder`)
        assert ctx.sender is not None, "build() gives the notify stage a sender"
        queue: SendQueue[Outgoing] = SendQueue(
            ctx.sender,
            Recorder(ctx, sent, throttle, records),
            concurrency=s.send_concurrency,
            policy=RetryPolicy(budget_s=s.send_retry_s),
        )
        running["queue"] = queue
        try:
            async with queue:
                async for ev in records.events():
                    await asyncio.sleep(0)  # a backlog must not starve the other agents and timers
                    prune_sent(ev.message.partition, time.time())
                    try:
                        msg = decode(ev.value)
                    except (ValueError, KeyError, TypeError) as e:
                        await send_dlq(ctx, ev.key, ev.value, f"{type(e).__name__}: {e}", "notify")
                        await records.ack(ev)
                        continue
                    if msg["page_id"] in sent:
                        await records.ack(ev)
                        continue
                    check = msg["created_at"] < ctx.started_at
                    await queue.put(job_for(Outgoing(ev, msg), check_log=check))
        finally:
            if running.get("queue") is queue:
                del running["queue"]
            await ctx.sender.aclose()  # Twilio's HTTP session: the next start reopens it
