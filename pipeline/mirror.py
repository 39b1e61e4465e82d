"""Keyed stores that every worker holds whole: the opt-out list and the alert index.

Each one tails a topic from the start (or a time) with its own consumer, outside the consumer
group, and folds every record into a dict. Ingest writes a record to the topic, waits for the
ack, and applies it locally at once, so the worker that took the request honours it at once.

A mirror read from a time (the alert index: the last 7 days) keeps its state on disk
(`disk_state.DiskState`), and forgets, while it runs, what was last written longer ago than
that: a worker that runs for a month holds a week, as one that just started does, not
everything since its start, and in a few MB of memory however busy the week was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import orjson

from pipeline.disk_state import DiskState

logger = logging.getLogger(__name__)

EXPIRE_EVERY_S = 60.0
# How a mirror fetches once it has caught up: a fetch returns when a MiB has come or after
# 100 ms, not at the first record. With aiokafka's defaults (1 byte, 500 ms) a mirror of a
# busy topic sent a fetch for every record or two: in a 60,000-record drain the web process,
# which only mirrors, sent 6,479 fetch requests (~200/s), the alert process 6,746 with its
# Faust consumer's, each one a request the broker serves. The console, a STATUS text and the
# owner of a reference see an event at most 100 ms later; a replay at start fills each fetch
# at once.
# `score_drain --stages worker --n 60000`, alternating: web 0.014 ms CPU a record instead of
# 0.059, alert 0.263 instead of 0.293-0.301, broker 0.188-0.191 instead of 0.245-0.265, and
# the score stage 2,116-2,146/s instead of 1,806-1,936/s (two pairs).
FETCH_WAIT_MS = 100
FETCH_MIN_BYTES = 1 << 20


async def started_consumer(what: str, **config: Any) -> Any:
    """An aiokafka consumer with `config`, started: tried again every second until the broker
    answers (`what` names it in the log)."""
    from aiokafka import AIOKafkaConsumer

    while True:
        consumer = AIOKafkaConsumer(**config)
        try:
            await consumer.start()
            return consumer
        except Exception as e:  # broker not up yet: keep trying
            logger.warning("%s: cannot connect (%s); retrying", what, e)
            await asyncio.sleep(1.0)


class TopicMirror:
    """A dict rebuilt from a topic. `apply(state, key, value)` folds one record in."""

    def __init__(
        self,
        topic: str,
        bootstrap: str,
        apply: Callable[[MutableMapping[str, Any], str, dict[str, Any]], None],
        since_s: float | None = None,
    ) -> None:
        self.topic = topic
        self.bootstrap = bootstrap
        self.apply = apply
        self.since_s = since_s
        self.state: MutableMapping[str, Any] = {} if since_s is None else DiskState(since_s)
        self.caught_up = asyncio.Event()
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self._consumer: Any = None

    def fold(self, key: str, value: bytes | dict[str, Any], at: float | None = None) -> None:
        """Apply one record (written `at`, epoch seconds; None: now)."""
        if isinstance(self.state, DiskState):
            self.state.written_at = at
        try:
            # orjson: a restart replays a week of alert events through here.
            doc = value if isinstance(value, dict) else orjson.loads(value)
        except ValueError:  # orjson.JSONDecodeError is one
            logger.warning("mirror %s: a record that is not JSON was skipped", self.topic)
            return
        if isinstance(doc, dict):
            self.apply(self.state, key, doc)
            for listener in list(self.listeners):
                listener(key, doc)

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Fold a batch of records in one write (a transaction on disk)."""
        if isinstance(self.state, DiskState):
            return self.state.batch()
        return contextlib.nullcontext()

    async def run(self) -> None:
        from aiokafka import TopicPartition

        # Until the broker is up; readiness stays false meanwhile.
        consumer = await started_consumer(f"mirror {self.topic}", bootstrap_servers=self.bootstrap,
                                          enable_auto_commit=False, fetch_max_wait_ms=FETCH_WAIT_MS,
                                          fetch_min_bytes=FETCH_MIN_BYTES)  # fmt: skip
        self._consumer = consumer
        try:
            parts: set[int] | None = None
            while not parts:
                parts = consumer.partitions_for_topic(self.topic)
                if not parts:
                    await consumer._client.force_metadata_update()
                    parts = consumer.partitions_for_topic(self.topic)
                    if not parts:
                        await asyncio.sleep(0.5)
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            if self.since_s is not None:
                ts = int((time.time() - self.since_s) * 1000)
                offsets = await consumer.offsets_for_times({tp: ts for tp in tps})
                for tp in tps:
                    found = offsets.get(tp)
                    if found is None:
                        await consumer.seek_to_end(tp)
                    else:
                        consumer.seek(tp, found.offset)
            else:
                await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            expired_at = time.monotonic()
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                with self.batch():
                    for _tp, records in batch.items():
                        for rec in records:
                            key = rec.key.decode() if rec.key else ""
                            if rec.value is not None:
                                self.fold(key, rec.value, rec.timestamp / 1000)
                if (isinstance(self.state, DiskState)
                        and time.monotonic() - expired_at >= EXPIRE_EVERY_S):  # fmt: skip
                    expired_at = time.monotonic()
                    if gone := self.state.expire(time.time()):
                        logger.info("mirror %s: forgot %d keys older than %.0f s", self.topic,
                                    gone, self.state.horizon_s)  # fmt: skip
                if not self.caught_up.is_set():
                    positions = {tp: await consumer.position(tp) for tp in tps}
                    if all(positions[tp] >= ends[tp] for tp in tps):
                        self.caught_up.set()
        finally:
            await consumer.stop()


def apply_optout(state: MutableMapping[str, Any], key: str, doc: dict[str, Any]) -> None:
    """customer_ref -> opted out? (the newest record wins)."""
    ref = doc.get("customer_ref") or key
    if ref:
        state[ref] = bool(doc.get("opted_out"))
