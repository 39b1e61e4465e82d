"""`delivery.send_now` against the real broker: a record that would linger for seconds is
acknowledged at once, and without the call it does linger (so the check can fail)."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaProducer

from pipeline.delivery import send_now
from tests.support.kafka import new_topic

pytestmark = pytest.mark.kafka

LINGER_MS = 3000


class FaustLike:
    """What `send_now` reads of Faust's producer: the aiokafka producer it wraps."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer


async def test_send_now_sends_a_lingering_batch_at_once(bootstrap: str) -> None:
    topic = new_topic(bootstrap, "send-now", partitions=2)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=LINGER_MS)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"warm-up", partition=0)  # metadata, connection

        lingering = await producer.send(topic, b"lingers", partition=0)
        await asyncio.sleep(0.5)
        assert not lingering.done(), "the linger is not in effect: nothing to show"

        t0 = time.monotonic()
        urgent = await producer.send(topic, b"a page", partition=1)
        assert send_now(FaustLike(producer)) is True
        meta = await asyncio.wait_for(urgent, timeout=LINGER_MS / 2000)
        took = time.monotonic() - t0
        assert meta.partition == 1 and meta.offset == 0
        assert took < 1.0, f"acknowledged after {took:.2f} s"
        assert lingering.done()  # sent in the same request
    finally:
        await producer.stop()
