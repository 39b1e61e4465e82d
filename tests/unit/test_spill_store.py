"""`spill://`: the memory store's semantics, with its state on disk."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import faust
from faust.types import TP

from pipeline import spill_store
from pipeline.app import default_store_url, table_store_url
from pipeline.disk_state import DiskState
from pipeline.settings import Settings


def changelog(key: str, value: Any, partition: int) -> Any:
    return SimpleNamespace(key=key, value=value,
                           message=SimpleNamespace(value=value, partition=partition))  # fmt: skip


def test_a_table_rebuilt_from_its_changelog_lives_on_disk_and_drops_lost_partitions() -> None:
    spill_store.register()
    app = faust.App("spill-test", store="spill://", broker="kafka://127.0.0.1:1")
    table = app.Table("alerts", default=None, partitions=4, value_type=bytes)
    store = table.data
    assert isinstance(store, spill_store.Store) and isinstance(store.data, DiskState)
    store.apply_changelog_batch(
        [changelog("a", b"1", 0), changelog("b", b"2", 1), changelog("a", None, 0),
         changelog("c", {"themes": ["food"]}, 2)],
        lambda k: k, lambda v: v,
    )  # fmt: skip
    assert dict(store.data) == {"b": b"2", "c": {"themes": ["food"]}}  # a None deletes
    asyncio.run(store.on_recovery_completed({TP("alerts", 1)}, set()))
    assert dict(store.data) == {"b": b"2"}  # partition 2 went to another worker
    assert dict(store._key_partition) == {"b": 1}
    assert "b" in store and store["b"] == b"2" and "c" not in store


def test_the_score_stage_keeps_rocksdb_and_memory_mode_keeps_dicts() -> None:
    assert table_store_url(Settings(), frozenset({"score"})) == "rocksdb://"
    assert table_store_url(Settings(), frozenset({"alert", "notify"})) == "spill://"
    assert default_store_url(Settings(store="memory")) == "memory://"
