"""A topic read by a Kafka consumer of its own, beside Faust's, for the partitions that Faust
assigned this worker.

Why the alert process reads `feedback.urgent` this way: Faust has one consumer per process,
and aiokafka's fetcher keeps one fetch in flight per broker for all of its partitions; it sends
no new fetch to a broker while records it fetched from there wait to be consumed (for up to
its `prefetch_backoff`, 100 ms), and a long poll on quiet partitions holds back the others
(`aiokafka/consumer/fetcher.py`, `_get_actions_per_node`; Faust sets `fetch_max_wait_ms` to
1.5 s). A complaint from the edge therefore waited for the turns of the scored records and the
outbox in the same fetch loop. At a sustained 500/s a consumer in a process of its own saw the
urgent copies 4 ms after the web process wrote them at p50 and 36 ms at p99; the alert desk,
reading them through Faust, 20 ms and about 200 ms (see README, "Performance"). Here the urgent
partitions have a fetch loop and a connection of their own: a record there returns the long
poll at once, whatever the scored lane is doing.

Which partitions: those of `follow` (a co-partitioned topic that Faust reads) that Faust has
assigned this worker, once `ready()` says the tables are recovered; none while it rebalances.
Offsets are committed under a group of the feed's own after the records are handled, and
after `before_commit()` (the producer's flush: what handling them wrote is in Kafka first), in
a task of its own so that the reading goes on meanwhile. A partition never committed starts at
its end: what came before reaches the desk by its other path. A record handled twice (a crash before the commit, a partition moving) must be harmless
to `handle`: the alert desk knows a feedback it has handled by its id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pipeline.mirror import started_consumer

logger = logging.getLogger(__name__)

POLL_S = 0.05  # a poll's longest wait: how soon a change of assignment is seen
MAX_RECORDS = 64  # records handled between two looks at the assignment
COMMIT_EVERY_S = 0.5


def partitions_of(assignment: Any, topic: str) -> frozenset[int]:
    """The partitions of `topic` in a consumer's `assignment` (topic-partition pairs).

    >>> from collections import namedtuple
    >>> TP = namedtuple("TP", "topic partition")
    >>> sorted(partitions_of({TP("a", 2), TP("b", 1), TP("a", 0)}, "a"))
    [0, 2]
    """
    return frozenset(tp.partition for tp in assignment if tp.topic == topic)


class SideFeed:
    """Reads `topic` for the partitions `owned()` names (None: none, for now) and awaits
    `handle(record)` for each record (aiokafka's `ConsumerRecord`), in order per partition."""

    def __init__(
        self,
        topic: str,
        bootstrap: str,
        group: str,
        owned: Callable[[], frozenset[int] | None],
        handle: Callable[[Any], Awaitable[None]],
        before_commit: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self.topic = topic
        self.bootstrap = bootstrap
        self.group = group
        self.owned = owned
        self.handle = handle
        self.before_commit = before_commit
        self.assigned: frozenset[int] = frozenset()
        self._done: dict[int, int] = {}  # partition -> next offset to commit
        self._consumer: Any = None

    async def run(self) -> None:
        consumer = await started_consumer(
            f"side feed {self.topic}", bootstrap_servers=self.bootstrap, group_id=self.group,
            enable_auto_commit=False, auto_offset_reset="latest",
        )  # fmt: skip
        self._consumer = consumer
        last_commit = time.monotonic()
        committing: asyncio.Task[None] | None = None
        try:
            while True:
                await self._follow(consumer)
                if not self.assigned:
                    await asyncio.sleep(POLL_S)
                    continue
                batch = await consumer.getmany(
                    timeout_ms=int(POLL_S * 1000), max_records=MAX_RECORDS
                )
                for tp, records in batch.items():
                    for record in records:
                        if tp.partition not in (self.owned() or ()):
                            break  # taken away meanwhile: its new owner reads from the commit
                        await self.handle(record)
                        self._done[tp.partition] = record.offset + 1
                if time.monotonic() - last_commit > COMMIT_EVERY_S and (
                    committing is None or committing.done()
                ):
                    committing = asyncio.create_task(self._commit())
                    last_commit = time.monotonic()
        finally:
            if committing is not None:
                await asyncio.gather(committing, return_exceptions=True)
            await self._commit()
            await consumer.stop()

    async def _follow(self, consumer: Any) -> None:
        """Take the partitions that `owned()` names now, committing what was done before."""
        from aiokafka import TopicPartition

        want = self.owned() or frozenset()
        if want == self.assigned:
            return
        await self._commit()
        consumer.assign([TopicPartition(self.topic, p) for p in sorted(want)])
        self.assigned = want
        logger.info("side feed %s: partitions %s", self.topic, sorted(want))

    async def _commit(self) -> None:
        from aiokafka import TopicPartition

        done, self._done = self._done, {}
        if not done or self._consumer is None:
            return
        try:
            if self.before_commit is not None:
                await self.before_commit()
            await self._consumer.commit({TopicPartition(self.topic, p): o for p, o in done.items()})
        except Exception as e:  # read again after a restart; the handler knows what it did
            logger.warning("side feed %s: commit failed (%s)", self.topic, e)

    async def lag(self) -> int:
        """Records behind the end of the assigned partitions (as of the last fetch)."""
        consumer = self._consumer
        if consumer is None:
            return 0
        from aiokafka import TopicPartition

        behind = 0
        for p in self.assigned:
            tp = TopicPartition(self.topic, p)
            end = consumer.highwater(tp)
            if end is not None:
                behind += max(0, end - await consumer.position(tp))
        return behind
