"""Each table lives in the store its process is meant to use: the score stage's tables in
RocksDB (a restart reads only the changelogs' tail), the alert desk's in memory."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from faust.stores import memory
from faust.types import TP

from pipeline.app import build
from pipeline.settings import STAGES, Settings
from pipeline.topics import LOCAL_COPY_MAX_AGE_S, TABLES

SCORE_TABLES = set(TABLES["score"])


def store_modules(tmp_path: Path, stages: frozenset[str], **settings: str) -> dict[str, str]:
    s = Settings(broker="kafka://127.0.0.1:1", home=tmp_path, **settings)  # never contacted
    ctx = build(s, stages=stages)
    return {t.name: type(t.data).__module__ for t in ctx.app.tables.values()}


def test_the_score_stage_keeps_its_tables_in_rocksdb(tmp_path: Path) -> None:
    got = store_modules(tmp_path, frozenset({"score"}))
    assert got == dict.fromkeys(SCORE_TABLES, "pipeline.aged_rocks")


@pytest.mark.parametrize("stages", [frozenset({"alert", "notify"}), frozenset(STAGES)])
def test_the_alert_tables_are_rebuilt_at_each_start_on_disk(
    tmp_path: Path, stages: frozenset[str]
) -> None:
    got = store_modules(tmp_path, stages)
    alert_tables = {n: m for n, m in got.items() if n not in SCORE_TABLES}
    assert alert_tables and set(alert_tables.values()) == {"pipeline.spill_store"}
    if "score" in stages:
        assert {got[n] for n in SCORE_TABLES} == {"pipeline.aged_rocks"}


def test_the_memory_setting_keeps_every_table_in_memory(tmp_path: Path) -> None:
    s = Settings(broker="kafka://127.0.0.1:1", home=tmp_path, store="memory")
    tables = build(s).app.tables.values()
    assert {type(t.data).__name__ for t in tables} == {"MemoryStore"}  # spill_store's
    assert all(isinstance(t.data, memory.Store) and type(t.data.data) is dict for t in tables)


def test_every_table_partition_shares_one_bounded_cache(tmp_path: Path) -> None:
    """RocksDB's memory is bounded per process, not per partition: the memtables of every
    partition are charged to one write buffer manager (and through it to one cache)."""
    from faust.stores.rocksdb import RocksDBOptions

    from pipeline import table_store

    build(Settings(broker="kafka://127.0.0.1:1", home=tmp_path), stages=frozenset({"score"}))
    manager = table_store._SHARED["write_buffers"]
    before = manager.get_usage()
    dbs = [RocksDBOptions().open(tmp_path / f"t-{p}.db") for p in range(3)]
    for db in dbs:
        db[b"key"] = b"x" * 1000
    assert manager.get_usage() > before
    assert table_store._SHARED["cache"].get_usage() >= manager.get_usage()
    for db in dbs:
        db.close()


def test_a_partition_copy_held_too_long_ago_is_rebuilt_from_its_changelog(tmp_path: Path) -> None:
    """Deletes stay in a compacted changelog only 24 h: a partition's local copy last held
    longer ago than half that is dropped when the partition is assigned (Faust then reads the
    changelog from its start); a recent one is kept, and so is its persisted offset."""
    from faust.stores.rocksdb import RocksDBOptions

    s = Settings(broker="kafka://127.0.0.1:1", home=tmp_path)
    table = build(s, stages=frozenset({"score"})).app.tables["seen-feedback"]
    store = table.data
    topic = table.changelog_topic.get_topic_name()
    for partition in (0, 1):
        db = RocksDBOptions().open(store.partition_path(partition))
        db[store.offset_key] = b"41"
        db.close()
    old = time.time() - LOCAL_COPY_MAX_AGE_S - 60
    for f in store.partition_path(0).iterdir():
        os.utime(f, (old, old))

    asyncio.run(store.assign_partitions(table, {TP(topic, 0), TP(topic, 1)}))

    assert store.persisted_offset(TP(topic, 0)) is None  # rebuilt: read from the start
    assert store.persisted_offset(TP(topic, 1)) == 41  # kept: read on from its offset
