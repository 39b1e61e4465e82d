"""The notify stage: `pages.outbox` -> a `PageSender` (Twilio or the console), exactly once.

Exactly one message per page id, across redelivery, restart and rebalance:
- the `sent-pages` table records each page id that was sent;
- a message produced before this process started may have been sent by a process that died
  before it could record it, so the sender's own log is asked first (`already_sent`).
Opted-out customers are sent nothing; supervisors are throttled (urgent pages are not).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from pipeline.alerts.senders import Page, SenderError
from pipeline.alerts.throttle import PageThrottle
from pipeline.delivery import deliver
from pipeline.dlq import send_dlq
from pipeline.privacy import mask_phone

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)


def resolve_recipient(ctx: Pronto, msg: dict[str, Any]) -> str:
    """The number to send to: a supervisor's from the venues file, a customer's decrypted."""
    if msg["kind"] == "customer":
        return ctx.privacy.decrypt(str(msg.get("contact", "")))
    loc = ctx.venues.by_id(str(msg.get("location_id", "")))
    sup = loc.supervisor(str(msg.get("to_name", ""))) if loc else None
    return sup.phone if sup else ""


def register(ctx: Pronto) -> None:
    app = ctx.app
    s = ctx.settings
    sent = app.Table("sent-pages", default=None, partitions=s.partitions)
    ctx.tables["sent_pages"] = sent
    throttle = PageThrottle(limit=s.pages_per_supervisor_per_min, window_s=60.0)

    async def event(msg: dict[str, Any], kind: str, **extra: Any) -> None:
        doc = {"schema": 1, "event": kind, "ref": msg["ref"], "location_id": msg["location_id"],
               "at": time.time(), "page_id": msg["page_id"], "kind": msg["kind"],
               "to_name": msg.get("to_name", ""), **extra}  # fmt: skip
        await deliver(ctx.topic("events"), msg["location_id"].encode(), json.dumps(doc).encode())

    async def was_sent(page: Page, msg: dict[str, Any]) -> bool:
        """A message from before this process started may have gone out just before a crash:
        ask the provider's log. If it cannot be asked, send: a second page beats none."""
        try:
            return await ctx.sender.already_sent(page, since=float(msg.get("created_at", 0)) - 60)
        except SenderError as e:
            logger.warning(
                "cannot check the message log (%s): sending", e, extra={"ref": msg["ref"]}
            )
            return False

    @app.agent(ctx.topic("outbox"))
    async def notify(stream: Any) -> None:
        async for ev in stream.events():
            await asyncio.sleep(0)  # a backlog must not starve the other agents, timers and web
            try:
                msg = json.loads(ev.value)
                page_id = str(msg["page_id"])
            except (ValueError, KeyError, TypeError) as e:
                await send_dlq(ctx, ev.key, ev.value, f"{type(e).__name__}: {e}", "notify")
                continue
            if page_id in sent:
                continue
            channel = "console" if not s.twilio_enabled else "sms"
            to = resolve_recipient(ctx, msg)
            if not to:
                ctx.metrics.pages_failed.labels(channel, "no_number").inc()
                continue
            if msg["kind"] == "customer":
                cref = ctx.privacy.customer_ref(to)
                if ctx.optouts.state.get(cref):
                    ctx.metrics.pages_failed.labels(channel, "opted_out").inc()
                    logger.info("not sent: the customer opted out", extra={"ref": msg["ref"]})
                    sent[page_id] = "opted-out"
                    continue
            elif not throttle.allow(
                str(msg.get("to_name", to)), time.time(), bool(msg.get("urgent"))
            ):
                # Over the budget: the page waits in the table of its alert; the escalation
                # timer pages the next person if nobody acknowledges it.
                ctx.metrics.pages_failed.labels(channel, "throttled").inc()
                await event(msg, "page_throttled")
                sent[page_id] = "throttled"
                continue
            page = Page(page_id=page_id, to=to, body=str(msg["body"]), kind=str(msg["kind"]))
            if channel != "console" and to.startswith("whatsapp:"):
                channel = "whatsapp"
            if float(msg.get("created_at", 0)) < ctx.started_at and await was_sent(page, msg):
                logger.info(
                    "already sent before the restart", extra={"ref": msg["ref"], "page_id": page_id}
                )
                sent[page_id] = "recovered"
                continue
            called_at = time.time()
            result = await ctx.sender.send(page)
            if msg["kind"] == "page" and int(msg.get("level", 0)) == 0:
                ctx.metrics.webhook_to_page.observe(max(0.0, called_at - float(msg["received_at"])))
            if result.ok:
                sent[page_id] = result.sid or "sent"
                ctx.metrics.pages_sent.labels(channel, msg["kind"]).inc()
                await event(msg, "page_sent", sid=result.sid,
                            latency_s=round(called_at - float(msg["received_at"]), 4))  # fmt: skip
                logger.info("sent %s to %s", msg["kind"], mask_phone(to),
                            extra={"ref": msg["ref"], "page_id": page_id})  # fmt: skip
            else:
                ctx.metrics.pages_failed.labels(channel, "send_error").inc()
                logger.error(
                    "send failed: %s", result.error, extra={"ref": msg["ref"], "page_id": page_id}
                )
                sent[page_id] = f"failed:{result.error[:100]}"
                if msg["kind"] == "page":
                    failed = {"schema": 1, "type": "delivery_failed", "page_id": page_id,
                              "ref": msg["ref"]}  # fmt: skip
                    await deliver(
                        ctx.topic("commands"),
                        msg["location_id"].encode(),
                        json.dumps(failed).encode(),
                    )
