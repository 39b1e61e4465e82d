"""Consumer lag per source topic, for `pronto_consumer_lag_messages` (label reason = topic)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)

LAG_EVERY_S = 5.0


def register(ctx: Pronto) -> None:
    sources = {
        ctx.topic(name).get_topic_name()
        for name in ("raw", "scored", "commands", "outbox", "events")
    }

    @ctx.app.timer(LAG_EVERY_S)
    async def measure_lag() -> None:
        consumer = ctx.app.consumer
        tps = [tp for tp in consumer.assignment() if tp.topic in sources]
        if not tps:
            return
        highwaters = await consumer.highwaters(*tps)
        lag: dict[str, int] = dict.fromkeys(sources, 0)
        for tp in tps:
            pos = await consumer.position(tp)
            if pos is not None and highwaters.get(tp) is not None:
                lag[tp.topic] += max(0, highwaters[tp] - pos)
        for topic, value in lag.items():
            ctx.metrics.consumer_lag.labels(topic).set(value)
