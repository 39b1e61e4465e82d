"""The local table stores against a real broker: a changelog deleted and created again under a
stale local copy (the score stage's RocksDB, the alert process's `spill://` file) is detected,
and that copy dropped (faust-streaming issue #158)."""

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
        spill = [tmp_path / "alerts.sqlite", tmp_path / "alerts.sqlite-wal"]  # a spill:// table
        for path in spill:
            path.write_bytes(b"x")
        tables = {"seen-feedback": topic, "alerts": topic}
        assert check_tables(tmp_path, bootstrap, tables) == []
        assert stale.exists() and all(p.exists() for p in spill)  # first sight: ids recorded
        assert check_tables(tmp_path, bootstrap, tables) == []
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
        assert check_tables(tmp_path, bootstrap, tables) == ["seen-feedback", "alerts"]
        assert not stale.exists() and not any(p.exists() for p in spill)
        assert check_tables(tmp_path, bootstrap, tables) == []
    finally:
        admin.close()
