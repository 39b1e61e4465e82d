"""Produce a record and wait for Kafka's acknowledgement (acks=all), or fail fast.

A request is answered 2xx only after this returns. A broker that does not answer within the
timeout raises `KafkaUnavailable`, and the request is answered 503.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger(__name__)


class KafkaUnavailable(RuntimeError):
    """Kafka did not acknowledge the record in time."""


async def publish(topic: Any, key: str, value: bytes, timeout_s: float) -> None:
    """Send `value` to `topic` keyed by `key` and wait for the broker's ack."""
    try:
        # One deadline for the hand-over and the ack; no task per step, as `wait_for` makes.
        async with asyncio.timeout(timeout_s):
            fut = await topic.send(key=key.encode(), value=value)
            await asyncio.shield(fut)  # a timeout leaves the producer's future to the producer
    except TimeoutError as e:
        raise KafkaUnavailable(f"no acknowledgement from Kafka within {timeout_s}s") from e
    except Exception as e:  # aiokafka raises its own KafkaError family
        if type(e).__module__.startswith(("aiokafka", "kafka", "faust", "mode")):
            raise KafkaUnavailable(f"Kafka refused the record: {type(e).__name__}") from e
        raise
