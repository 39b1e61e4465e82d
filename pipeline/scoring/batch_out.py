"""The score stage's output, handed to the producer once per batch as one Kafka batch per
partition.

`topic.send` per record costs Faust's promise objects, its send sensors, aiokafka's partitioner
(murmur2 in Python) and a future per record: most of the score process's time per feedback
after its own code. aiokafka takes a whole batch in one call (`create_batch`/`send_batch`), with
one future per partition; a location's partition is computed once.

Delivery keeps its rules: the records go to the producer before the batch's table writes and
before its offsets are acknowledged, and Faust flushes the producer before it commits. In a
test context (no producer), the records go through `topic.send` one by one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger(__name__)


class BatchOut:
    """Records for one topic, collected during a batch and sent by `flush`."""

    def __init__(self, topic: Any, partitions: dict[bytes, int] | None = None) -> None:
        self.topic = topic
        self.pending: list[tuple[bytes, bytes]] = []
        # key -> its partition (a location's is fixed): kept from one batch to the next
        self.partitions = {} if partitions is None else partitions

    def add(self, key: bytes, value: bytes) -> None:
        self.pending.append((key, value))

    async def flush(self) -> int:
        """Hand what was added to the producer; how many records."""
        pending, self.pending = self.pending, []
        producer = _aiokafka_producer(self.topic)
        if producer is None:
            for key, value in pending:
                await self.topic.send(key=key, value=value)
            return len(pending)
        name = self.topic.get_topic_name()
        by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
        for key, value in pending:
            part = self.partitions.get(key)
            if part is None:
                part = self.partitions[key] = producer._partition(
                    name, None, None, None, key, value
                )
            by_partition.setdefault(part, []).append((key, value))
        for part, records in by_partition.items():
            batch = producer.create_batch()
            for key, value in records:
                if batch.append(timestamp=None, key=key, value=value) is None:  # full
                    _watch(await producer.send_batch(batch, name, partition=part))
                    batch = producer.create_batch()
                    batch.append(timestamp=None, key=key, value=value)
            _watch(await producer.send_batch(batch, name, partition=part))
        return len(pending)


def _aiokafka_producer(topic: Any) -> Any:
    """The running aiokafka producer behind a Faust topic, or None (a test's fake topic)."""
    app = getattr(topic, "app", None)
    producer = getattr(getattr(app, "producer", None), "_producer", None) if app else None
    return producer if producer is not None and hasattr(producer, "send_batch") else None


def _watch(fut: asyncio.Future[Any]) -> None:
    """Log a batch the broker refused (Faust logs a failed send the same way)."""

    def done(f: asyncio.Future[Any]) -> None:
        if not f.cancelled() and f.exception() is not None:
            logger.error("a batch of scored records was not delivered: %r", f.exception())

    fut.add_done_callback(done)
