"""The outbox records of the alert process, on a Kafka producer connection of their own.

aiokafka's producer keeps one produce request in flight per broker (`producer/sender.py`:
`drain_by_nodes(ignore_nodes=self._in_flight)`), and the alert process's requests carry up to
1 MiB of table changelogs, events and index records each (`PRONTO_ALERT_LINGER_MS`): a page
written behind one waited for that request's acknowledgement before its own could leave. So
the pages go by a producer of their own, which lingers for nothing and carries nothing else.

The desk waits for the broker's acknowledgement of each page before it goes on: Faust and the
side feeds commit an input's offset once their own producer is flushed, and know nothing of
this one, so no offset is committed before the pages it led to are in Kafka. Pages are rare
(518 in a million records of the bench's mix) and each such wait is one round trip.

With `PRONTO_PROCESSING_GUARANTEE=exactly_once` (Faust's transactional producer) or
`PRONTO_PAGE_PRODUCER=false`, the pages go by Faust's producer, as the desk's other records do,
and are pushed past its linger (`delivery.send_now`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from pipeline.delivery import deliver, send_now

if TYPE_CHECKING:
    from pipeline.app import Pronto


class PageWriter:
    """Writes the outbox records of one process: `write`, then `done` after a record's pages."""

    def __init__(self, ctx: Pronto) -> None:
        s = ctx.settings
        self._ctx = ctx
        self.own = s.page_producer and s.processing_guarantee != "exactly_once"
        self._producer: Any = None
        self._starting = asyncio.Lock()
        self._stopped = False

    async def write(self, key: bytes, value: bytes) -> Any:
        """Write one outbox record; returns an awaitable of its `RecordMetadata`."""
        topic = self._ctx.topic("outbox")
        if not self.own:
            return await deliver(topic, key, value)
        producer = await self._started()
        written = await producer.send(topic.get_topic_name(), value, key=key)
        await written  # acknowledged before the desk goes on: see the module's docstring
        return written

    def done(self) -> None:
        """The pages of one record are written: with Faust's producer, they go now."""
        if not self.own:
            send_now(self._ctx.app.producer)

    async def _started(self) -> Any:
        if self._stopped:  # the process is stopping: the record is read again at the next start
            raise RuntimeError("the page producer has stopped")
        if self._producer is None:
            async with self._starting:
                if self._producer is None:
                    self._producer = await start_producer(self._ctx.settings.bootstrap_servers)
        return self._producer

    async def stop(self) -> None:
        self._stopped = True
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()


async def start_producer(bootstrap_servers: str) -> Any:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", linger_ms=0,
                                client_id="pronto-pages")  # fmt: skip
    await producer.start()
    return producer
