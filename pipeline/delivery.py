"""Send from an agent and wait until Kafka has the record, before the event is acknowledged.

Faust commits an event's offset once the agent has moved past it; a record the agent sent is by
then only in the producer's buffer. A worker killed in that gap would lose the output while the
input counts as done. Waiting for the broker's ack closes the gap (at-least-once, downstream
stages dedupe by id). It costs a round trip per output, not a commit interval.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


async def deliver(topic: Any, key: bytes, value: bytes) -> None:
    """`topic.send(...)`, then wait for the broker's acknowledgement of that record."""
    fut = await topic.send(key=key, value=value)
    if fut is not None:  # test doubles record the call and return nothing to wait for
        await fut
