"""The urgent copies' own consumer (`pipeline/side_feed.py`), against the real broker: it reads
only the partitions it is told it owns, starts a partition it never committed at its end,
follows a change of ownership, and after a restart resumes from what it committed."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
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


async def commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit `offsets` (partition -> offset) in `group`, as a reader that left them there."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        tps = {TopicPartition(topic, p): o for p, o in offsets.items()}
        consumer.assign(list(tps))
        await consumer.commit(tps)
    finally:
        await consumer.stop()


async def test_the_scored_feed_starts_where_fausts_group_left_off_else_at_the_beginning(
    bootstrap: str,
) -> None:
    """The scored records' feed (`reset="earliest"`, `fallback_group`): a partition its own group
    never committed starts where the group that read the topic before (Faust's) committed it,
    or at its beginning if that group never did; once it has committed, its own offsets rule.
    It sleeps after each poll for what `pace` asks, given the CPU time the records took."""
    topic, group, faust_group = (f"{n}-{uuid.uuid4().hex[:8]}" for n in ("scored", "g", "faust"))
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    admin.close()
    await produce(bootstrap, topic, [(0, b"handled-0"), (0, b"handled-1"), (0, b"new-0"),
                                     (1, b"first-1"), (1, b"second-1")])  # fmt: skip
    await commit(bootstrap, faust_group, topic, {0: 2})  # Faust's agent had handled two
    seen: list[tuple[int, bytes]] = []
    paced: list[float] = []

    async def handle(record: Any) -> None:
        seen.append((record.partition, record.value))

    def pace(cpu_s: float) -> float:
        paced.append(cpu_s)
        return 0.0

    def start() -> asyncio.Task[None]:
        feed = SideFeed(topic, bootstrap, group, lambda: frozenset({0, 1}), handle,
                        reset="earliest", fallback_group=faust_group, pace=pace)  # fmt: skip
        return asyncio.create_task(feed.run())

    task = start()
    try:
        await until(lambda: len(seen) >= 3)
        await asyncio.sleep(1.0)
        assert sorted(seen) == [(0, b"new-0"), (1, b"first-1"), (1, b"second-1")]
        assert paced and all(p >= 0.0 for p in paced)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # commits what it handled
    # Faust's group moves on meanwhile (an older worker): the feed's own commits rule now.
    await commit(bootstrap, faust_group, topic, {0: 0, 1: 0})
    await produce(bootstrap, topic, [(0, b"later-0")])
    before = len(seen)
    task = start()
    try:
        await until(lambda: len(seen) > before)
        await asyncio.sleep(1.0)
        assert seen[before:] == [(0, b"later-0")]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_quiet_partition_keeps_its_committed_offset(
    bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The feed's group has no member, and Kafka forgets such a group's offsets a week after
    their last commit: the position of a partition where nothing came is committed again."""
    import pipeline.side_feed as side_feed

    monkeypatch.setattr(side_feed, "REFRESH_EVERY_S", 0.3)
    topic, group = f"quiet-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    admin.close()
    await produce(bootstrap, topic, [(1, b"before")])

    async def handle(record: Any) -> None:
        raise AssertionError(f"nothing was to be read: {record!r}")

    feed = SideFeed(topic, bootstrap, group, lambda: frozenset({0, 1}), handle)
    task = asyncio.create_task(feed.run())
    try:
        reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                  enable_auto_commit=False)  # fmt: skip
        await reader.start()
        try:
            tps = [TopicPartition(topic, p) for p in (0, 1)]
            committed: dict[int, int | None] = {}
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                committed = {tp.partition: await reader.committed(tp) for tp in tps}
                if None not in committed.values():
                    break
                await asyncio.sleep(0.2)
            assert committed == {0: 0, 1: 1}  # where each stood: its end ("latest")
        finally:
            await reader.stop()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_batch_whose_partitions_moved_meanwhile_is_read_again(bootstrap: str) -> None:
    """`batched`: a poll's records in one call. If the consumer generation (`epoch`) changed
    while they were handled, none counts as done: they are read again from the commit, and
    only a batch handled within one generation is committed."""
    topic, group = f"raw-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()
    await produce(bootstrap, topic, [(0, b"a"), (0, b"b"), (0, b"c")])
    generation = {"now": 1}
    calls: list[list[bytes]] = []

    async def handle(records: list[Any]) -> None:
        calls.append(sorted(r.value for r in records))
        if len(calls) == 1:
            generation["now"] += 1  # a rebalance while the first batch was handled

    def start() -> asyncio.Task[None]:
        feed = SideFeed(topic, bootstrap, group, lambda: frozenset({0}), handle,
                        reset="earliest", batched=True, epoch=lambda: generation["now"])  # fmt: skip
        return asyncio.create_task(feed.run())

    task = start()
    try:
        await until(lambda: sum(map(len, calls[1:])) >= 3)
        await asyncio.sleep(1.0)
        assert calls[0] and sorted(v for c in calls[1:] for v in c) == [b"a", b"b", b"c"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    done = len(calls)
    task = start()  # the second reading was committed: nothing comes again
    try:
        await asyncio.sleep(2.0)
        assert len(calls) == done
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
