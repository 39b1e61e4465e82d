"""The local table store against a real broker: a changelog deleted and created again under a
stale local RocksDB copy is detected, and that copy dropped (faust-streaming issue #158)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from pipeline.table_store import changelog_ids, check_tables

pytestmark = pytest.mark.kafka


def wait_described(bootstrap: str, topic: str) -> None:
    """A topic just made is described by the broker a moment later (longer on a busy one)."""
    deadline = time.monotonic() + 30
    while topic not in changelog_ids(bootstrap, [topic]):
        assert time.monotonic() < deadline, f"{topic} not described in 30 s"
        time.sleep(0.2)


def test_a_recreated_changelog_drops_the_stale_local_table(bootstrap: str, tmp_path: Path) -> None:
    topic = f"t{uuid.uuid4().hex[:8]}-seen-feedback-changelog"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 2, 1)])
        wait_described(bootstrap, topic)
        stale = tmp_path / "seen-feedback-0.db"
        stale.mkdir()  # a partition's RocksDB folder
        assert check_tables(tmp_path, bootstrap, {"seen-feedback": topic}) == []
        assert stale.exists()  # first sight: the id is recorded, nothing dropped
        assert check_tables(tmp_path, bootstrap, {"seen-feedback": topic}) == []
        admin.delete_topics([topic])
        deadline = time.monotonic() + 30
        while True:  # deletion is asynchronous on the broker
            try:
                admin.create_topics([NewTopic(topic, 2, 1)])
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        wait_described(bootstrap, topic)
        assert check_tables(tmp_path, bootstrap, {"seen-feedback": topic}) == ["seen-feedback"]
        assert not stale.exists()
        assert check_tables(tmp_path, bootstrap, {"seen-feedback": topic}) == []
    finally:
        admin.close()
