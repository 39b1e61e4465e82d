"""What every ingest endpoint shares: locate the venue, dedupe, publish, count.

The HTTP handlers (`sms.py`, `web.py`) parse and answer; this stores.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from pipeline.config import UNKNOWN_LOCATION, Location
from pipeline.ingest.publish import KafkaUnavailable, publish
from pipeline.ingest.ratelimit import RateLimiter
from pipeline.ingest.recent import RecentIds
from pipeline.ingest.triage import annotate, asks_first, urgent_copy
from pipeline.records import Feedback, ScoredFeedback

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)


class Stored(NamedTuple):
    """What `Ingest.store` did: the customer's reference, and whether ingest triaged the
    feedback as a complaint (it went to `feedback.urgent` too). A score and text that
    disagree go to `feedback.urgent` as well, to ask the customer, but are no complaint yet."""

    ref: str
    complaint: bool


class Ingest:
    """Shared by the SMS webhook, the form and the JSON API of one worker."""

    def __init__(self, ctx: Pronto) -> None:
        self.ctx = ctx
        s = ctx.settings
        self.limiter = RateLimiter(s.rate_limit_per_min, burst=max(5, s.rate_limit_per_min // 3))
        self._done = RecentIds()  # feedback id -> whether it was a complaint, for retries
        self._inflight: dict[str, asyncio.Future[Stored]] = {}
        self.optouts = ctx.optouts
        self.alerts = ctx.alert_index

    def locate(self, to_number: str, body: str) -> tuple[Location | None, str, str]:
        """(location, location_id, body without the code prefix) for an inbound SMS."""
        venues = self.ctx.venues
        number = to_number.removeprefix("whatsapp:")
        loc = venues.by_number(number)
        if loc is not None:
            return loc, loc.id, body
        first, _, rest = body.strip().partition(" ")
        loc = venues.by_code(first.rstrip(":,.")) if first else None
        if loc is not None:
            return loc, loc.id, rest.strip()
        return None, UNKNOWN_LOCATION, body

    def opted_out(self, customer_ref: str) -> bool:
        return bool(self.optouts.state.get(customer_ref))

    async def set_optout(self, customer_ref: str, opted_out: bool) -> None:
        doc = {"schema": 1, "customer_ref": customer_ref, "opted_out": opted_out, "at": time.time()}
        topic = self.ctx.topic("optouts")
        await publish(
            topic, customer_ref, json.dumps(doc).encode(), self.ctx.settings.ingest_timeout_s
        )
        self.optouts.fold(customer_ref, doc)

    async def command(self, location_id: str, doc: dict[str, Any]) -> None:
        """Send a command (ack, resolve, correction...) to the alert stage of that location."""
        doc = {"schema": 1, "at": time.time(), **doc}
        await publish(
            self.ctx.topic("commands"), location_id, json.dumps(doc).encode(),
            self.ctx.settings.ingest_timeout_s,
        )  # fmt: skip

    async def store(self, fb: Feedback) -> Stored:
        """Publish `fb` once (a complaint to the fast path too), and return its reference and
        whether it is a complaint. Raises `KafkaUnavailable`.

        The same id twice (a retried webhook) is stored once: the second call waits for the
        first and returns the same answer.
        """
        ref = str(fb.meta.get("ref", ""))
        complaint = self._done.get(fb.id)
        if complaint is not None:
            self.ctx.metrics.feedback_rejected.labels("duplicate").inc()
            return Stored(ref, complaint)
        pending = self._inflight.get(fb.id)
        if pending is not None:
            self.ctx.metrics.feedback_rejected.labels("duplicate").inc()
            return await asyncio.shield(pending)
        fut: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._inflight[fb.id] = fut
        loc = self.ctx.venues.by_id(fb.location_id)
        fb = annotate(loc, fb, self.ctx.snapshot)  # a score and text that disagree: see triage
        urgent = urgent_copy(loc, fb, self.ctx.snapshot, time.time())
        try:
            timeout = self.ctx.settings.ingest_timeout_s
            to_raw = publish(self.ctx.topic("raw"), fb.location_id, fb.to_json(), timeout)
            if urgent is None:
                await to_raw
            else:
                await asyncio.gather(to_raw, self._fast_path(urgent, timeout))
        except KafkaUnavailable as e:
            fut.set_exception(e)
            fut.exception()  # mark retrieved: the waiter, if any, re-raises it
            self.ctx.metrics.feedback_rejected.labels("kafka_unavailable").inc()
            raise
        finally:
            self._inflight.pop(fb.id, None)
        stored = Stored(ref, urgent is not None and not asks_first(fb))
        fut.set_result(stored)
        self._done.add(fb.id, stored.complaint, time.time())
        self.ctx.metrics.feedback_received.labels(fb.channel, fb.location_id).inc()
        self.ctx.metrics.ingest_seconds.labels(fb.channel).observe(time.time() - fb.received_at)
        logger.info(
            "feedback stored",
            extra={
                "feedback_id": fb.id,
                "ref": ref,
                "location": fb.location_id,
                "channel": fb.channel,
            },
        )
        return stored

    async def _fast_path(self, urgent: ScoredFeedback, timeout_s: float) -> None:
        """Send a complaint to the alert stage at once. Best effort: if it fails, the scored
        copy still alerts, only later; the request's answer depends on `feedback.raw` alone."""
        loc = urgent.feedback["location_id"]
        try:
            await publish(self.ctx.topic("urgent"), loc, urgent.to_json(), timeout_s)
        except KafkaUnavailable as e:
            logger.warning("complaint not sent by the fast path: %s", e)
            return
        self.ctx.metrics.fast_path.labels(loc).inc()


__all__ = ["Ingest", "KafkaUnavailable", "Stored"]
