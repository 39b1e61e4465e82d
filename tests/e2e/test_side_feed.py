"""The urgent copies' own consumer (`pipeline/side_feed.py`), against the real broker: it reads
only the partitions it is told it owns, starts a partition it never committed at its end,
follows a change of ownership, and after a restart resumes from what it committed."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from pipeline.side_feed import SideFeed

pytestmark = pytest.mark.kafka


async def produce(bootstrap: str, topic: str, records: list[tuple[int, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for partition, value in records:
            await producer.send_and_wait(topic, value, partition=partition)
    finally:
        await producer.stop()


async def until(check: Any, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_the_feed_reads_its_partitions_follows_ownership_and_resumes(bootstrap: str) -> None:
    topic, group = f"urgent-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])
    admin.close()
    # Before the feed ever ran: a partition never committed starts at its end.
    await produce(bootstrap, topic, [(0, b"old-0"), (1, b"old-1")])

    seen: list[tuple[int, bytes]] = []
    owned: dict[str, frozenset[int] | None] = {"now": None}  # None: the tables are recovering

    async def handle(record: Any) -> None:
        seen.append((record.partition, record.value))

    def start() -> tuple[SideFeed, asyncio.Task[None]]:
        feed = SideFeed(topic, bootstrap, group, lambda: owned["now"], handle)
        return feed, asyncio.create_task(feed.run())

    feed, task = start()
    try:
        await asyncio.sleep(1.0)
        assert feed.assigned == frozenset() and seen == []  # nothing while not ready
        owned["now"] = frozenset({0, 1})
        await until(lambda: feed.assigned == {0, 1})
        await asyncio.sleep(1.0)  # the positions are reset to the end
        await produce(bootstrap, topic, [(0, b"a"), (1, b"b"), (2, b"not mine"), (0, b"c")])
        await until(lambda: len(seen) >= 3)
        assert sorted(seen) == [(0, b"a"), (0, b"c"), (1, b"b")]
        # Partition 1 moves away and 2 comes: 2 is read from its end, 1 no longer.
        owned["now"] = frozenset({0, 2})
        await until(lambda: feed.assigned == {0, 2})
        await asyncio.sleep(1.0)
        await produce(bootstrap, topic, [(1, b"moved away"), (2, b"d")])
        await until(lambda: (2, b"d") in seen)
        assert (1, b"moved away") not in seen and (2, b"not mine") not in seen
        assert await feed.lag() == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # commits what it handled

    # A restart resumes from the commits: what came meanwhile is read, nothing twice.
    await produce(bootstrap, topic, [(0, b"while down")])
    before = len(seen)
    feed, task = start()
    try:
        await until(lambda: len(seen) > before)
        await asyncio.sleep(1.0)
        assert seen[before:] == [(0, b"while down")]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
