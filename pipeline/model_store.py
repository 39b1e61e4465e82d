"""The saved sentiment model, shared by the stages that read it: the score stage (which learns
and saves it) and ingest (which triages complaints with a snapshot of it).

The model lives in the compacted `pronto.model` topic, one record per save: the river model
and its drift monitor (pickles, for the score stage), and the model's read-only snapshot
(`sentiment_snapshot.py`, plain data, for ingest). A save is megabytes and takes the score
stage ~200 ms of CPU, so it comes every 30 s; the snapshot alone, a third of that, is also
published more often to the compacted `pronto.snapshot` topic, so that ingest's triage judges
text with a model seconds old rather than a minute or more. Ingest reads the newest snapshot
record, or the snapshot inside the newest save while there is none. Reading a snapshot imports
no river: `load_snapshot` falls back to the river model only for a record saved before
snapshots were.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import zlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pipeline.sentiment_snapshot import CompactSnapshot, SentimentSnapshot
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.scoring.drift import DriftMonitor
    from pipeline.scoring.sentiment import SentimentModel

logger = logging.getLogger(__name__)

MODEL_KEY = b"sentiment"


MODEL_FETCH_BYTES = 64 * 1024 * 1024  # a saved model is megabytes: one fetch takes it whole
READ_TIMEOUT_S = 5.0


# aiokafka, the client the stages run on anyway: kafka-python would add about 7 MB to each
# process that reads the model (the web and score processes).
async def stop(consumer: Any) -> None:
    """Stop an aiokafka consumer that had no group. Its `stop` awaits a task it cancels
    (`NoGroupCoordinator._reset_committed_task`), and a task cancelled before it first ran
    raises CancelledError there: aiokafka's, not a cancellation of ours, which goes on."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


@contextlib.asynccontextmanager
async def model_consumer(settings: Settings, **config: Any) -> AsyncIterator[Any]:
    """A started aiokafka consumer with no group, for reading `pronto.model`; stopped after."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers,
                                enable_auto_commit=False, **config)  # fmt: skip
    await consumer.start()
    try:
        yield consumer
    finally:
        await stop(consumer)


async def latest_offsets(settings: Settings) -> tuple[int, int]:
    """The end offsets of `pronto.model` and `pronto.snapshot` (0: nothing there yet): a cheap
    "has either changed?"."""
    from aiokafka import TopicPartition

    async with model_consumer(settings) as consumer:
        tps = [TopicPartition(settings.topic(n), 0) for n in ("pronto.model", "pronto.snapshot")]
        ends = await consumer.end_offsets(tps)
        return int(ends.get(tps[0]) or 0), int(ends.get(tps[1]) or 0)


async def latest_record(settings: Settings, name: str = "pronto.model") -> bytes | None:
    """The newest record of `name` (`pronto.model` or `pronto.snapshot`), or None when there
    is none yet."""
    from aiokafka import TopicPartition

    topic = settings.topic(name)
    async with model_consumer(settings, fetch_max_bytes=MODEL_FETCH_BYTES,
                              max_partition_fetch_bytes=MODEL_FETCH_BYTES) as consumer:  # fmt: skip
        if topic not in await consumer.topics():  # (a start fetches no topic's metadata)
            return None
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        if end <= 0:
            return None
        consumer.seek(tp, end - 1)  # the last offset of a compacted topic is never compacted
        rec = await asyncio.wait_for(consumer.getone(tp), READ_TIMEOUT_S)
        return bytes(rec.value) if rec.value is not None else None


async def load_model(settings: Settings) -> tuple[SentimentModel, DriftMonitor]:
    """The newest saved model from `pronto.model`, or a fresh one learned from the seed corpus
    (unpickled or learned in a thread: it takes the CPU for a while)."""
    value = await latest_record(settings)
    return await asyncio.get_running_loop().run_in_executor(None, model_of, value)


def model_of(value: bytes | None) -> tuple[SentimentModel, DriftMonitor]:
    """The model and drift monitor of a `pronto.model` record (None: the seeded model)."""
    from pipeline.scoring.drift import DriftMonitor
    from pipeline.scoring.seed_cache import seeded_model
    from pipeline.scoring.sentiment import SentimentModel

    if value is None:
        logger.info("no saved model: starting from the seed corpus")
        return seeded_model(), DriftMonitor()
    model_bytes, drift_bytes, _ = decode_model(value)
    model = SentimentModel.from_bytes(model_bytes)
    logger.info("restored the model, version %s", model.version)
    return model, DriftMonitor.from_bytes(drift_bytes)


async def load_snapshot(settings: Settings) -> CompactSnapshot:
    """The newest published snapshot, else the newest saved model's, else the seeded model's,
    in the compact form that ingest keeps (decoded in a thread)."""
    loop = asyncio.get_running_loop()
    published = await latest_record(settings, "pronto.snapshot")
    if published is not None:
        return await loop.run_in_executor(None, published_snapshot_of, published)
    value = await latest_record(settings)
    return await loop.run_in_executor(None, snapshot_of, value)


def snapshot_of(value: bytes | None) -> CompactSnapshot:
    """The compact snapshot of a `pronto.model` record (without river when the record holds
    one, or the seeded model's is cached on this machine)."""
    return _snapshot_of(value).compact()


SNAPSHOT_FORMAT = b"pronto-snapshot-1\n"


def encode_snapshot(snapshot: SentimentSnapshot) -> bytes:
    """The `pronto.snapshot` record: a format line, then the snapshot in the compact form that
    ingest keeps, zlib-compressed (built here, in the score process's thread, so that ingest
    only reads it back)."""
    return SNAPSHOT_FORMAT + zlib.compress(snapshot.compact().to_bytes(), 1)


def published_snapshot_of(value: bytes) -> CompactSnapshot:
    """The compact snapshot of a `pronto.snapshot` record."""
    if not value.startswith(SNAPSHOT_FORMAT):
        raise ValueError(f"not a {SNAPSHOT_FORMAT.strip().decode()} record")
    return CompactSnapshot.from_bytes(zlib.decompress(value[len(SNAPSHOT_FORMAT) :]))


def _snapshot_of(value: bytes | None) -> SentimentSnapshot:
    from pipeline.scoring.seed_cache import seeded_snapshot

    if value is None:
        return seeded_snapshot()
    model_bytes, _, snapshot = decode_model(value)
    if snapshot:
        return SentimentSnapshot.from_bytes(snapshot)
    from pipeline.scoring.sentiment import SentimentModel  # a record from an older release

    return SentimentModel.from_bytes(model_bytes).snapshot()


MODEL_FORMAT = b"pronto-model-3\n"
MODEL_FORMAT_2 = b"pronto-model-2\n"


def encode_model(model: bytes, drift: bytes, version: int, snapshot: bytes = b"") -> bytes:
    """The `pronto.model` record: a format line, then the pickled model, drift monitor and
    snapshot, zlib-compressed (no hex copy: the model is megabytes).

    >>> decode_model(encode_model(b"m", b"d", 3, b"s"))
    (b'm', b'd', b's')
    """
    head = json.dumps({"version": version, "at": time.time(), "model": len(model),
                       "drift": len(drift)}).encode()  # fmt: skip
    return MODEL_FORMAT + zlib.compress(head + b"\n" + model + drift + snapshot, 1)


def decode_model(value: bytes) -> tuple[bytes, bytes, bytes]:
    """(model, drift, snapshot) from a `pronto.model` record of this format or an older one
    (which have no snapshot: b"").

    >>> two = MODEL_FORMAT_2 + zlib.compress(b'{"model": 1}\\nmd', 1)
    >>> decode_model(two)
    (b'm', b'd', b'')
    >>> one = zlib.compress(json.dumps({"model": b"m".hex(), "drift": b"d".hex()}).encode())
    >>> decode_model(one)
    (b'm', b'd', b'')
    """
    for fmt in (MODEL_FORMAT, MODEL_FORMAT_2):
        if value.startswith(fmt):
            raw = zlib.decompress(value[len(fmt) :])
            head_line, _, rest = raw.partition(b"\n")
            head = json.loads(head_line)
            n = int(head["model"])
            if "drift" not in head:
                return rest[:n], rest[n:], b""
            d = n + int(head["drift"])
            return rest[:n], rest[n:d], rest[d:]
    blob = json.loads(zlib.decompress(value))
    return bytes.fromhex(blob["model"]), bytes.fromhex(blob["drift"]), b""
