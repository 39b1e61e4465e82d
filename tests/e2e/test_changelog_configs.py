"""Table changelogs roll a segment every 10 minutes, so compaction keeps replays short."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from pipeline.settings import PROCESSES, Settings
from pipeline.topics import CHANGELOG_CONFIGS, changelogs, ensure_topics

pytestmark = pytest.mark.kafka


def topic_configs(admin: KafkaAdminClient, topic: str) -> dict[str, str]:
    """The topic's settings that differ from the broker's defaults."""
    result: Any = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    return {name: entry["value"] for name, entry in result["topic"][topic].items()}


def test_changelogs_are_made_with_short_segments(bootstrap: str) -> None:
    settings = Settings(broker=f"kafka://{bootstrap}", topic_prefix=f"t{uuid.uuid4().hex[:8]}-",
                        app_id=f"a{uuid.uuid4().hex[:8]}")  # fmt: skip
    ensure_topics(settings, PROCESSES)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        for topic in changelogs(settings, PROCESSES):
            got = topic_configs(admin, topic)
            assert {k: got.get(k) for k in CHANGELOG_CONFIGS} == CHANGELOG_CONFIGS, topic
    finally:
        admin.close()
