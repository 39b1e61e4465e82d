"""A topic read by a Kafka consumer of its own, beside Faust's, for the partitions that Faust
assigned this worker.

The alert process reads two topics this way:

- `feedback.urgent`, the complaints triaged at the edge. Faust has one consumer per process,
  and aiokafka's fetcher keeps one fetch in flight per broker for all of its partitions; it
  sends no new fetch to a broker while records it fetched from there wait to be consumed (for
  up to its `prefetch_backoff`, 100 ms), and a long poll on quiet partitions holds back the
  others (`aiokafka/consumer/fetcher.py`, `_get_actions_per_node`; Faust sets
  `fetch_max_wait_ms` to 1.5 s). A complaint from the edge therefore waited for the turns of
  the scored records and the outbox in the same fetch loop. At a sustained 500/s a consumer in
  a process of its own saw the urgent copies 4 ms after the web process wrote them at p50 and
  36 ms at p99; the alert desk, reading them through Faust, 20 ms and about 200 ms (see
  README, "Performance"). Here the urgent partitions have a fetch loop and a connection of
  their own: a record there returns the long poll at once, whatever the scored lane is doing.
- `feedback.scored`, every feedback once scored: the alert process's bulk. Through Faust each
  record paid for its consumer thread's hand-over, an `Event`, the conductor, a stream buffer,
  an acknowledgement, and a commit every 100 records that flushed the producer first, about
  a fifth of the process's CPU (`faust/transport/consumer.py`, `conductor.py`, `streams.py`).
  Here a poll's records go to the desk as they are, and the commit (every `COMMIT_EVERY_S`)
  lets the producer's batches fill (see README, "Performance").

Which partitions: those of `follow` (a co-partitioned topic that Faust reads) that Faust has
assigned this worker, once `ready()` says the tables are recovered; none while it rebalances.
Offsets are committed under a group of the feed's own after the records are handled, and
after `before_commit()` (the producer's flush: what handling them wrote is in Kafka first), in
a task of its own so that the reading goes on meanwhile. A partition this group never
committed starts at its end (`reset="latest"`: the urgent copies, whose feedback reaches the
desk by its other path too), or (`reset="earliest"`) where `fallback_group` committed it,
else at its beginning: the scored records, which Faust's own group read before this feed
existed. A record handled twice (a crash before the commit, a partition moving) must be
harmless to `handle`: the alert desk knows a feedback it has handled by its id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from faust.types import Message

from pipeline.delivery import ebb, flushed
from pipeline.mirror import started_consumer

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)

POLL_S = 0.05  # a poll's longest wait: how soon a change of assignment is seen
MAX_RECORDS = 64  # records handled between two looks at the assignment (by default)
COMMIT_EVERY_S = 0.5
REFRESH_EVERY_S = 3600.0  # every partition's position is committed again this often


def partitions_of(assignment: Any, topic: str) -> frozenset[int]:
    """The partitions of `topic` in a consumer's `assignment` (topic-partition pairs).

    >>> from collections import namedtuple
    >>> TP = namedtuple("TP", "topic partition")
    >>> sorted(partitions_of({TP("a", 2), TP("b", 1), TP("a", 0)}, "a"))
    [0, 2]
    """
    return frozenset(tp.partition for tp in assignment if tp.topic == topic)


def tables_ready(app: Any) -> bool:
    """The process's tables are recovered, and no rebalance is under way."""
    return not app.rebalancing and app.tables.recovery.completed.is_set()  # type: ignore[no-any-return]


def owned_by(
    app: Any, topic: str, ready: Callable[[], bool] = lambda: True
) -> Callable[[], frozenset[int] | None]:
    """A feed's `owned`: the partitions of `topic` (co-partitioned with the feed's) that Faust
    assigned `app`, once `ready()` and its tables are recovered (None meanwhile). Read from the
    consumer once per consumer generation: a feed asks for every record it handles."""
    held: dict[str, Any] = {"generation": None, "partitions": frozenset()}

    def owned() -> frozenset[int] | None:
        if not ready() or not tables_ready(app):
            return None
        if held["generation"] != app.consumer_generation_id:
            held["partitions"] = partitions_of(app.consumer.assignment(), topic)
            held["generation"] = app.consumer_generation_id
        return held["partitions"]  # type: ignore[no-any-return]

    return owned


class FeedEvent:
    """A record of a side feed, shaped as the Faust event the table writes belong to
    (`as_event`): its key, its value and its message (topic, partition, offset), of the
    consumer generation that holds the partition now (the notify stage finishes a page
    handed over by the desk only within the generation that made it)."""

    def __init__(self, record: Any, generation_id: int) -> None:
        self.key: bytes | None = record.key
        self.value: bytes = record.value
        self.message = Message(
            record.topic, record.partition, record.offset, record.timestamp / 1000,
            record.timestamp_type, record.headers, record.key, record.value, None,
            generation_id=generation_id,
        )  # fmt: skip


class SideFeed:
    """Reads `topic` for the partitions `owned()` names (None: none, for now) and awaits
    `handle(record)` for each record (aiokafka's `ConsumerRecord`), in order per partition
    (`batched`: `handle(records)`, once for a poll's records, at most `max_records`; if
    `epoch()` (Faust's consumer generation) or the partitions owned changed meanwhile, they
    are read again from the commits).
    With `pace`, it sleeps after each poll's records for `pace(CPU seconds they took)`; it
    awaits `before_poll()` before each poll (backpressure: `delivery.ebb`)."""

    def __init__(
        self,
        topic: str,
        bootstrap: str,
        group: str,
        owned: Callable[[], frozenset[int] | None],
        handle: Callable[[Any], Awaitable[None]],
        before_commit: Callable[[], Awaitable[Any]] | None = None,
        *,
        before_poll: Callable[[], Awaitable[Any]] | None = None,
        reset: Literal["latest", "earliest"] = "latest",
        fallback_group: str | None = None,
        pace: Callable[[float], float] | None = None,
        max_records: int = MAX_RECORDS,
        batched: bool = False,
        epoch: Callable[[], Any] | None = None,
    ) -> None:
        self.topic = topic
        self.bootstrap = bootstrap
        self.group = group
        self.owned = owned
        self.handle = handle
        self.before_commit = before_commit
        self.before_poll = before_poll
        self.reset = reset
        self.fallback_group = fallback_group
        self.pace = pace
        self.max_records = max_records
        self.batched = batched
        self.epoch = epoch
        self._reassign = False  # read every partition again from its commit, at the next poll
        self.assigned: frozenset[int] = frozenset()
        self._done: dict[int, int] = {}  # partition -> next offset to commit
        self._consumer: Any = None

    async def run(self) -> None:
        consumer = await started_consumer(
            f"side feed {self.topic}", bootstrap_servers=self.bootstrap, group_id=self.group,
            enable_auto_commit=False, auto_offset_reset=self.reset,
        )  # fmt: skip
        self._consumer = consumer
        last_commit = last_refresh = time.monotonic()
        committing: asyncio.Task[None] | None = None
        try:
            while True:
                await self._follow(consumer)
                if not self.assigned:
                    await asyncio.sleep(POLL_S)
                    continue
                if self.before_poll is not None:
                    await self.before_poll()
                batch = await consumer.getmany(
                    timeout_ms=int(POLL_S * 1000), max_records=self.max_records
                )
                t0 = time.thread_time()
                if self.batched:
                    await self._handle_all(batch)
                else:
                    for tp, records in batch.items():
                        for record in records:
                            if tp.partition not in (self.owned() or ()):
                                self._reassign = True  # the rest is read again from the commit
                                break  # (by this feed, or the partition's new owner)
                            await self.handle(record)
                            self._done[tp.partition] = record.offset + 1
                if self.pace is not None and batch:
                    await asyncio.sleep(self.pace(time.thread_time() - t0))
                if time.monotonic() - last_refresh > REFRESH_EVERY_S:
                    await self._hold_positions(consumer)
                    last_refresh = time.monotonic()
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

    async def _handle_all(self, batch: dict[Any, list[Any]]) -> None:
        """A poll's records of the partitions owned now, in one `handle` call."""
        mine = self.owned() or frozenset()
        records = [r for tp, rs in batch.items() if tp.partition in mine for r in rs]
        if any(tp.partition not in mine for tp in batch):
            self._reassign = True  # those are read again from the commit (as below)
        if not records:
            return
        epoch = self.epoch() if self.epoch is not None else None
        await self.handle(records)
        if (self.epoch is not None and self.epoch() != epoch) or self.owned() != mine:
            # The partitions were reassigned while the records were handled: none is taken as
            # done, and every partition is read again from its commit (by its owner now).
            logger.info("side feed %s: reassigned during a batch, read again", self.topic)
            self._reassign = True
            return
        for r in records:
            self._done[r.partition] = r.offset + 1

    async def _hold_positions(self, consumer: Any) -> None:
        """Commit again where each assigned partition stands, though nothing came: the feed
        assigns its partitions itself, so its group has no member, and Kafka forgets such a
        group's offsets `offsets.retention.minutes` (7 days) after their last commit. A quiet
        partition would then start over from `reset` (its beginning, for the scored
        records)."""
        from aiokafka import TopicPartition

        if self._reassign:  # a position past records not handled: never committed
            return
        for p in self.assigned - self._done.keys():
            try:
                self._done[p] = await consumer.position(TopicPartition(self.topic, p))
            except Exception as e:  # taken away meanwhile: its new owner commits it
                logger.debug("side feed %s: no position for %d (%r)", self.topic, p, e)

    async def _follow(self, consumer: Any) -> None:
        """Take the partitions that `owned()` names now, committing what was done before."""
        from aiokafka import TopicPartition

        want = self.owned() or frozenset()
        if want == self.assigned and not self._reassign:
            return
        self._reassign = False
        await self._commit()
        consumer.assign([TopicPartition(self.topic, p) for p in sorted(want)])
        if self.fallback_group:
            await self._start_new(consumer, want - self.assigned)
        self.assigned = want
        logger.info("side feed %s: partitions %s", self.topic, sorted(want))

    async def _start_new(self, consumer: Any, partitions: frozenset[int]) -> None:
        """Start each of `partitions` that this feed's group never committed where
        `fallback_group` committed it, if it did (else `reset` applies)."""
        from aiokafka import TopicPartition

        fresh = [tp for tp in (TopicPartition(self.topic, p) for p in sorted(partitions))
                 if await consumer.committed(tp) is None]  # fmt: skip
        if not fresh:
            return
        other = await started_consumer(
            f"side feed {self.topic} (offsets of {self.fallback_group})",
            bootstrap_servers=self.bootstrap, group_id=self.fallback_group,
            enable_auto_commit=False,
        )  # fmt: skip
        try:
            for tp in fresh:
                offset = await other.committed(tp)
                if offset is not None:
                    consumer.seek(tp, offset)
                    logger.info("side feed %s: partition %d starts at %d, where %s left it",
                                self.topic, tp.partition, offset, self.fallback_group)  # fmt: skip
        finally:
            await other.stop()

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


def side_feed(ctx: Pronto, topic: str, group: str, owned: Callable[[], frozenset[int] | None],
              handle: Callable[[Any], Awaitable[None]], **options: Any) -> SideFeed:  # fmt: skip
    """A feed of `topic` in a worker process, run as one of its Faust app's tasks: the table
    writes that handling queued go to Kafka before each poll (`delivery.ebb`), and all that
    it wrote is in Kafka before an offset is committed (`delivery.flushed`)."""
    producer = ctx.app.producer

    async def writes_sent() -> None:
        await ebb(producer)

    async def commit_ready() -> None:
        await flushed(producer)

    feed = SideFeed(topic, ctx.settings.bootstrap_servers, group, owned, handle,
                    before_commit=commit_ready, before_poll=writes_sent, **options)  # fmt: skip
    ctx.side_feeds.append(feed)
    ctx.app.task(feed.run)
    return feed
