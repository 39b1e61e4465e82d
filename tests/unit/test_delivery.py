"""`delivery.ebb` and `delivery.flushed`: the backpressure and the commit barrier of the side
feeds (`side_feed.py`), over a stand-in for Faust's producer buffer."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.delivery import ebb, flushed


class Buffer:
    """Faust's `ProducerBuffer` as these helpers see it: its `flush` gives up after one send
    (Faust's gives up after 0.1 s without one)."""

    def __init__(self, pending: int, state: str = "running") -> None:
        self.size = pending
        self.state = state
        self.flushes = 0

    async def flush(self) -> None:
        self.flushes += 1
        await asyncio.sleep(0)
        self.size = max(0, self.size - 1)


class Producer:
    def __init__(self, buffer: Buffer) -> None:
        self.buffer = buffer
        self.flushed = 0

    async def flush(self) -> None:
        self.flushed += 1


async def test_ebb_waits_until_every_queued_write_is_sent() -> None:
    producer = Producer(Buffer(pending=5))
    await ebb(producer)
    assert producer.buffer.size == 0 and producer.buffer.flushes == 5
    assert producer.flushed == 0  # the Kafka producer's own batches are not waited for


async def test_flushed_sends_the_queue_then_flushes_the_producer() -> None:
    producer = Producer(Buffer(pending=3))
    await flushed(producer)
    assert producer.buffer.size == 0 and producer.flushed == 1


async def test_a_stopping_buffer_blocks_the_commit_but_not_the_poll() -> None:
    producer = Producer(Buffer(pending=2, state="stopping"))
    await ebb(producer)  # returns: a stopping buffer sends nothing more
    with pytest.raises(RuntimeError, match="2 table writes not sent"):
        await flushed(producer)
    assert producer.flushed == 0
