"""Create Pronto's topics before the worker subscribes, with their partitions and policies.

Faust declares its tables' changelogs itself; the source topics are ours. Creating them up
front means the first worker of a fresh cluster gets its partitions at the first rebalance.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from aiokafka.partitioner import murmur2  # the Java client's partitioner hash

from pipeline.settings import STAGES, Settings

logger = logging.getLogger(__name__)

TOPICS = {
    "raw": "feedback.raw",
    "urgent": "feedback.urgent",
    "scored": "feedback.scored",
    "dlq": "feedback.dlq",
    "commands": "alerts.commands",
    "events": "alerts.events",
    "outbox": "pages.outbox",
    "optouts": "customers.optouts",
    "model": "pronto.model",
    "snapshot": "pronto.snapshot",
}
COMPACTED = ("optouts", "model", "snapshot")
SINGLE_PARTITION = ("model", "snapshot")  # one record read whole: the latest
# Faust names a table's changelog "<app id>-<table>-changelog"; creating them here too closes a
# start-up race in which an agent wrote to a table before Faust had declared its changelog.
TABLES = {
    "score": ("score-rolling", "seen-feedback", "score-theme-vocab"),
    "alert": ("alerts", "alerts-open-index", "theme-vocab"),
    "notify": ("sent-pages",),
}
MODEL_MAX_BYTES = 32 * 1024 * 1024


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as in the Java client) gives `key`.

    >>> partition_of("bus-42", 4) == partition_of("bus-42", 4) < 4
    True
    """
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def owns(consumer: Any, settings: Settings, short: str, location_id: str) -> bool:
    """Whether `consumer` is assigned the partition of `location_id` on the topic `short`
    (so this worker, and only it, reports that location)."""
    assignment = consumer.assignment() if consumer else set()
    topic = settings.topic(TOPICS.get(short, short))
    part = partition_of(location_id, settings.partitions)
    return any(tp.topic == topic and tp.partition == part for tp in assignment)


def topic_configs(short: str) -> dict[str, str]:
    if short in SINGLE_PARTITION:
        return {"cleanup.policy": "compact", "max.message.bytes": str(MODEL_MAX_BYTES)}
    if short in COMPACTED:
        return {"cleanup.policy": "compact"}
    return {}


# A table's changelog is compacted, but Kafka never compacts the segment being written, and a
# segment rolls only after 7 days (or 1 GiB) by default: a store kept in memory (the alert
# stage's) replayed a week of every update at each start, a week-old RocksDB store the same. A
# segment of 10 minutes, compacted once 10% of it is stale, keeps a replay near the table's live
# keys plus its last minutes of updates. Deletes stay 24 h (Kafka's default): a local store
# that was down for less than that still reads every tombstone of its keys. A changelog made by
# an earlier release keeps its settings (set them with `kafka-configs.sh --alter`): kafka-python
# 3.0's alter_configs reported "OK" here and changed nothing, or reset every other setting.
CHANGELOG_CONFIGS = {
    "cleanup.policy": "compact",
    "segment.ms": str(10 * 60 * 1000),
    "min.cleanable.dirty.ratio": "0.1",
}
# A local copy of a table partition last held longer ago than this is rebuilt from the
# changelog rather than read from its offset on: half the deletes' retention (24 h), so that
# no tombstone written since it was last held can have been compacted away.
LOCAL_COPY_MAX_AGE_S = 12 * 3600.0


def changelogs(settings: Settings, processes: Iterable[frozenset[str]]) -> list[str]:
    """The changelog topics of the tables of `processes` (each a set of stages in one app).

    >>> s = Settings(app_id="p")
    >>> changelogs(s, [frozenset({"score"}), frozenset({"alert", "notify"})])[2:4]
    ['p-score-score-theme-vocab-changelog', 'p-alerts-changelog']
    """
    return [
        f"{settings.app_id_for(stages)}-{table}-changelog"
        for stages in processes
        for stage in STAGES
        if stage in stages
        for table in TABLES.get(stage, ())
    ]


def ensure_topics(
    settings: Settings,
    processes: Iterable[frozenset[str]] = (frozenset(STAGES),),
    timeout_s: float = 30.0,
) -> None:
    """Create any missing topic, and the changelogs of the tables of `processes`; an existing
    one is left as it is."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers,
                                     request_timeout_ms=10_000)  # fmt: skip
            break
        except (KafkaError, OSError) as e:
            if time.monotonic() > deadline:
                raise
            logger.warning("Kafka not reachable yet (%s); retrying", type(e).__name__)
            time.sleep(1.0)
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                settings.topic(name),
                1 if short in SINGLE_PARTITION else settings.partitions,
                settings.replication,
                topic_configs=topic_configs(short),
            )
            for short, name in TOPICS.items()
            if settings.topic(name) not in existing
        ]
        logs = changelogs(settings, processes)
        wanted += [
            NewTopic(
                name, settings.partitions, settings.replication, topic_configs=CHANGELOG_CONFIGS
            )
            for name in logs
            if name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
                admin.create_topics(wanted)
            logger.info("created topics: %s", ", ".join(t.name for t in wanted))
    finally:
        admin.close()
