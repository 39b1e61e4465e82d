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
        for name in ("raw", "urgent", "scored", "commands", "outbox", "events")
    }

    @ctx.app.timer(LAG_EVERY_S)
    async def measure_lag() -> None:
        # An exception in a Faust timer crashes the worker; a rebalance can take a partition
        # away between `assignment()` and `position()`. Lag is skipped then, not fatal.
        if ctx.app.rebalancing:
            return
        try:
            lag = await measure(ctx, sources)
        except Exception as e:
            logger.debug("consumer lag not measured this time: %r", e)
            return
        for topic, value in lag.items():
            ctx.metrics.consumer_lag.labels(topic).set(value)


async def measure(ctx: Pronto, sources: set[str]) -> dict[str, int]:
    """Messages behind the end of each source topic, over the partitions this worker holds."""
    consumer = ctx.app.consumer
    lag: dict[str, int] = dict.fromkeys(sources, 0)
    for feed in ctx.side_feeds:  # the topics read by a consumer of their own
        if feed.topic in lag:
            lag[feed.topic] += await feed.lag()
    tps = [tp for tp in consumer.assignment() if tp.topic in sources]
    if not tps:
        return lag
    highwaters = await consumer.highwaters(*tps)
    for tp in tps:
        pos = await consumer.position(tp)
        if pos is not None and highwaters.get(tp) is not None:
            lag[tp.topic] += max(0, highwaters[tp] - pos)
    return lag
