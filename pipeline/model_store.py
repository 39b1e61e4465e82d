"""The saved sentiment model, shared by the stages that read it: the score stage (which learns
and saves it) and ingest (which triages complaints with a snapshot of it).

The model lives in the compacted `pronto.model` topic, one record per save.
"""

from __future__ import annotations

import json
import logging
import time
import zlib

from pipeline.scoring.drift import DriftMonitor
from pipeline.scoring.seed_cache import seeded_model
from pipeline.scoring.sentiment import SentimentModel
from pipeline.settings import Settings

logger = logging.getLogger(__name__)

MODEL_KEY = b"sentiment"


def latest_offset(settings: Settings) -> int:
    """The end offset of `pronto.model` (0: nothing saved yet): a cheap "has it changed?"."""
    from kafka import KafkaConsumer, TopicPartition

    topic = settings.topic("pronto.model")
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers,
                             enable_auto_commit=False)  # fmt: skip
    try:
        tp = TopicPartition(topic, 0)
        return int(consumer.end_offsets([tp]).get(tp) or 0)
    finally:
        consumer.close()


def load_model(settings: Settings) -> tuple[SentimentModel, DriftMonitor]:
    """The newest saved model from `pronto.model`, or a fresh one learned from the seed corpus."""
    from kafka import KafkaConsumer, TopicPartition

    topic = settings.topic("pronto.model")
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers,
                             enable_auto_commit=False, consumer_timeout_ms=3000,
                             max_partition_fetch_bytes=64 * 1024 * 1024)  # fmt: skip
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if parts:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            end = consumer.end_offsets([tp])[tp]
            if end > 0:
                consumer.seek(tp, end - 1)
                for rec in consumer:
                    model_bytes, drift_bytes = decode_model(rec.value)
                    model = SentimentModel.from_bytes(model_bytes)
                    drift = DriftMonitor.from_bytes(drift_bytes)
                    logger.info("restored the model, version %s", model.version)
                    return model, drift
    finally:
        consumer.close()
    logger.info("no saved model: starting from the seed corpus")
    return seeded_model(), DriftMonitor()


MODEL_FORMAT = b"pronto-model-2\n"


def encode_model(model: bytes, drift: bytes, version: int) -> bytes:
    """The `pronto.model` record: a format line, then the pickled model and drift monitor as
    zlib-compressed JSON-free bytes (no hex copy: the model is megabytes).

    >>> decode_model(encode_model(b"m", b"d", 3))
    (b'm', b'd')
    """
    head = json.dumps({"version": version, "at": time.time(), "model": len(model)}).encode()
    return MODEL_FORMAT + zlib.compress(head + b"\n" + model + drift, 1)


def decode_model(value: bytes) -> tuple[bytes, bytes]:
    """(model, drift) pickles from a `pronto.model` record, this format or the first one
    (zlib-compressed JSON with hex strings).

    >>> old = zlib.compress(json.dumps({"model": b"m".hex(), "drift": b"d".hex()}).encode())
    >>> decode_model(old)
    (b'm', b'd')
    """
    if value.startswith(MODEL_FORMAT):
        raw = zlib.decompress(value[len(MODEL_FORMAT) :])
        head, _, rest = raw.partition(b"\n")
        n = int(json.loads(head)["model"])
        return rest[:n], rest[n:]
    blob = json.loads(zlib.decompress(value))
    return bytes.fromhex(blob["model"]), bytes.fromhex(blob["drift"])
