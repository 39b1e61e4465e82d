"""Create Pronto's topics before the worker subscribes, with their partitions and policies.

Faust declares its tables' changelogs itself; the source topics are ours. Creating them up
front means the first worker of a fresh cluster gets its partitions at the first rebalance.
"""

from __future__ import annotations

import contextlib
import logging
import time

from pipeline.settings import Settings

logger = logging.getLogger(__name__)

TOPICS = {
    "raw": "feedback.raw",
    "scored": "feedback.scored",
    "dlq": "feedback.dlq",
    "commands": "alerts.commands",
    "events": "alerts.events",
    "outbox": "pages.outbox",
    "optouts": "customers.optouts",
    "model": "pronto.model",
}
COMPACTED = ("optouts", "model")
# Faust names a table's changelog "<app id>-<table>-changelog"; creating them here too closes a
# start-up race in which an agent wrote to a table before Faust had declared its changelog.
TABLES = ("score-counters", "seen-feedback", "alerts", "alerts-open-index", "sent-pages")
MODEL_MAX_BYTES = 32 * 1024 * 1024


def topic_configs(short: str) -> dict[str, str]:
    if short == "model":
        return {"cleanup.policy": "compact", "max.message.bytes": str(MODEL_MAX_BYTES)}
    if short in COMPACTED:
        return {"cleanup.policy": "compact"}
    return {}


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> None:
    """Create any missing topic; an existing one is left as it is."""
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
                1 if short == "model" else settings.partitions,
                settings.replication,
                topic_configs=topic_configs(short),
            )
            for short, name in TOPICS.items()
            if settings.topic(name) not in existing
        ]
        wanted += [
            NewTopic(
                name,
                settings.partitions,
                settings.replication,
                topic_configs={"cleanup.policy": "compact"},
            )
            for name in (f"{settings.group_id}-{t}-changelog" for t in TABLES)
            if name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
                admin.create_topics(wanted)
            logger.info("created topics: %s", ", ".join(t.name for t in wanted))
    finally:
        admin.close()
