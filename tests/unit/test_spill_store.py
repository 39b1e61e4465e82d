"""`spill://`: the memory store's semantics, with its state on disk."""

from __future__ import annotations

import asyncio
import time
import weakref
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
    assert default_store_url(Settings(store="memory")) == "inmemory://"


class Event:
    """Just enough of a Faust event for `current_event()` (weak-referenceable)."""

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition)


def under(event: Event) -> Any:
    from faust.streams import _current_event

    return _current_event.set(weakref.ref(event))


def test_a_key_written_since_the_start_knows_its_partition_and_a_prune_finds_only_its_own() -> None:
    """Faust writes a deletion's changelog record to the partition of the record being
    processed: a prune must delete only keys of that partition, or their last value stays in
    their own partition's changelog for ever (and comes back at the next start)."""
    from faust.streams import _current_event

    spill_store.register()
    app = faust.App("spill-prune", store="spill://", broker="kafka://127.0.0.1:1")
    table = app.Table("alerts-open-index", default=None, partitions=4)
    store = table.data
    store.apply_changelog_batch([changelog("fid:replayed", 1.0, 2)], lambda k: k, lambda v: v)
    store.data.written_at = None
    events = [Event(0), Event(2)]
    token = under(events[0])
    try:
        store["fid:a"] = 1.0  # (the store itself: the table would also send a changelog record)
        store["ref:1"] = "x"
        _current_event.set(weakref.ref(events[1]))
        store["fid:b"] = 1.0
    finally:
        _current_event.reset(token)
    store["fid:nobody"] = 1.0  # outside any event: no partition known
    assert dict(store._key_partition) == {"fid:replayed": 2, "fid:a": 0, "ref:1": 0, "fid:b": 2}
    later = time.time() + 1
    assert spill_store.stale_keys(table, later, "fid:", 0) == ["fid:a"]
    assert spill_store.stale_keys(table, later, "fid:", 2) == ["fid:b", "fid:replayed"]
    assert spill_store.stale_keys(table, time.time() - 60, "fid:", 2) == []  # written just now
    del store["fid:b"]
    assert "fid:b" not in store._key_partition
    assert spill_store.stale_keys(table, later, "fid:", 2) == ["fid:replayed"]
    memory_app = faust.App("mem-prune", store="memory://", broker="kafka://127.0.0.1:1")
    assert spill_store.stale_keys(memory_app.Table("t", default=None), later, "x", 0) is None


def test_the_memory_setting_notes_the_partition_of_keys_written_since_the_start_too() -> None:
    """So that `PRONTO_STORE=memory` prunes them in their own partition as well."""
    spill_store.register()
    app = faust.App("inmemory-test", store="inmemory://", broker="kafka://127.0.0.1:1")
    store = app.Table("alerts-open-index", default=None, partitions=4).data
    assert isinstance(store, spill_store.MemoryStore) and type(store.data) is dict
    event = Event(3)
    token = under(event)
    try:
        store["fid:a"] = 1.0
    finally:
        from faust.streams import _current_event

        _current_event.reset(token)
    store["fid:b"] = 2.0
    assert store._key_partition == {"fid:a": 3}
    del store["fid:a"]
    assert store._key_partition == {} and dict(store.data) == {"fid:b": 2.0}
