"""The alert process's page producer against the real broker: a page written while the main
producer's lingering batch waits is acknowledged at once, in the partition Faust's producer
would have chosen for its key, and it can be read back."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from pipeline.alerts.page_out import PageWriter
from pipeline.settings import Settings
from tests.support.kafka import new_topic

pytestmark = pytest.mark.kafka

LINGER_MS = 3000


class Outbox:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_topic_name(self) -> str:
        return self.name


async def test_a_page_does_not_wait_for_the_main_producer(bootstrap: str) -> None:
    topic = new_topic(bootstrap, "pages", partitions=4)
    main = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=LINGER_MS)
    await main.start()
    s = Settings(broker=f"kafka://{bootstrap}", secret_key="k")
    ctx: Any = SimpleNamespace(settings=s, topic=lambda name: Outbox(topic), app=None)
    writer = PageWriter(ctx)
    try:
        await main.send_and_wait(topic, b"warm-up", key=b"loc-7")
        lingering = await main.send(topic, b"changelog", key=b"loc-7")
        await writer.write(b"loc-0", b"warm-up")  # the page producer's connection
        t0 = time.monotonic()
        written = await writer.write(b"loc-7", b'{"kind": "page"}')
        took = time.monotonic() - t0
        meta = await written
        assert took < 1.0, f"acknowledged after {took:.2f} s"
        assert not lingering.done(), "the main producer's batch still lingers"
        assert meta.partition == (await lingering).partition  # same key, same partition
    finally:
        await writer.stop()
        await main.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, meta.partition)
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        got = await asyncio.wait_for(consumer.getone(), 10)
        assert (got.key, got.value) == (b"loc-7", b'{"kind": "page"}')
    finally:
        await consumer.stop()
