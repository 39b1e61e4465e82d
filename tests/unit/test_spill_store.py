"""`spill://`: the memory store's semantics, with its state on disk."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import weakref
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
from faust.types import TP

from pipeline import spill_store
from pipeline.app import default_store_url, table_store_url
from pipeline.disk_state import DiskState
from pipeline.settings import Settings


def changelog(key: str, value: Any, partition: int, offset: int = 0) -> Any:
    return SimpleNamespace(key=key, value=value, message=SimpleNamespace(
        value=value, partition=partition, offset=offset))  # fmt: skip


def spill_table(home: Path, name: str = "alerts", app_id: str = "spill-test") -> Any:
    """A table on `spill://` in `home` (a new app each time: a restarted process)."""
    spill_store.register()
    app = faust.App(app_id, store="spill://", broker="kafka://127.0.0.1:1", datadir=str(home))
    return app.Table(name, default=None, partitions=4, value_type=bytes)


def test_a_table_rebuilt_from_its_changelog_lives_on_disk_and_drops_lost_partitions(
    tmp_path: Path,
) -> None:
    table = spill_table(tmp_path)
    store = table.data
    assert isinstance(store, spill_store.Store) and isinstance(store.data.disk, DiskState)
    store.apply_changelog_batch(
        [changelog("a", b"1", 0, 5), changelog("b", b"2", 1, 7), changelog("a", None, 0, 6),
         changelog("c", {"themes": ["food"]}, 2, 3)],
        lambda k: k, lambda v: v,
    )  # fmt: skip
    assert dict(store.data) == {"b": b"2", "c": {"themes": ["food"]}}  # a None deletes
    assert [store.persisted_offset(TP("x", p)) for p in range(4)] == [6, 7, 3, None]
    asyncio.run(store.on_recovery_completed({TP("alerts", 1)}, set()))
    assert dict(store.data) == {"b": b"2"}  # partition 2 went to another worker
    assert dict(store._key_partition) == {"b": 1}
    assert "b" in store and store["b"] == b"2" and "c" not in store
    again = spill_table(tmp_path).data  # a restart: what the file holds, and where it ends
    assert dict(again.data) == {"b": b"2"}
    assert [again.persisted_offset(TP("x", p)) for p in range(4)] == [None, 7, None, None]


def test_a_write_reaches_the_file_only_once_kafka_has_its_changelog_record(
    tmp_path: Path,
) -> None:
    """A SIGKILL can lose a changelog record still in the producer's buffer: a store that
    had kept its write would run ahead of the changelog (and of the page that went with it)."""
    from faust.streams import _current_event

    store = spill_table(tmp_path).data
    changelog_tp = TP("spill-test-alerts-changelog", 1)
    token = under(event := Event(1))
    try:
        store["a"], store["b"] = b"1", b"2"
        del store["b"]
    finally:
        _current_event.reset(token)
    assert dict(store) == {"a": b"1"} and "b" not in store  # read from the overlay
    killed = spill_table(tmp_path).data  # killed now: Kafka has none of the three
    assert dict(killed.data) == {} and killed.persisted_offset(changelog_tp) is None
    store.set_persisted_offset(changelog_tp, 40)  # "a" (no loop running: written at once)
    assert dict(spill_table(tmp_path).data.data) == {"a": b"1"}
    assert spill_table(tmp_path).data.persisted_offset(changelog_tp) == 40
    store.set_persisted_offset(changelog_tp, 41)
    store.set_persisted_offset(changelog_tp, 42)  # "b" set, then deleted
    restarted = spill_table(tmp_path).data
    assert dict(restarted.data) == {"a": b"1"} and restarted.persisted_offset(changelog_tp) == 42
    assert store.data.pending == {} and dict(store) == {"a": b"1"}  # reads go to the file
    assert event.message.partition == 1


def test_a_late_acknowledgement_never_overwrites_what_recovery_read_since(tmp_path: Path) -> None:
    """A partition that went away and came back was read again from the changelog, past the
    offset of a write whose acknowledgement arrives only now."""
    from faust.streams import _current_event

    store = spill_table(tmp_path).data
    token = under(event := Event(2))
    try:
        store["k"] = b"mine"
    finally:
        _current_event.reset(token)
    assert store.keeps and event.message.partition == 2
    store.apply_changelog_batch([changelog("k", b"mine", 2, 10), changelog("k", b"theirs", 2, 11)],
                                lambda k: k, lambda v: v)  # fmt: skip
    store.set_persisted_offset(TP("c", 2), 10)
    assert store["k"] == b"theirs" and store.persisted_offset(TP("c", 2)) == 11


def test_a_store_that_loses_track_or_was_left_too_long_is_rebuilt(tmp_path: Path) -> None:
    store = spill_table(tmp_path).data
    store.apply_changelog_batch([changelog("a", b"1", 0, 3)], lambda k: k, lambda v: v)
    store.set_persisted_offset(TP("c", 0), 4)  # no write of this process was waiting for it
    assert not store.keeps and store.persisted_offset(TP("c", 0)) is None
    assert store["a"] == b"1"  # it still serves this process's life
    assert spill_table(tmp_path).data.persisted_offset(TP("c", 0)) is None  # then rebuilt
    fresh = spill_table(tmp_path, name="sent-pages").data
    fresh.apply_changelog_batch([changelog("p", b"1", 0, 3)], lambda k: k, lambda v: v)
    assert spill_table(tmp_path, name="sent-pages").data.persisted_offset(TP("c", 0)) == 3
    with sqlite3.connect(tmp_path / "v1" / "tables" / "sent-pages.sqlite") as db:
        db.execute("UPDATE offsets SET v = ? WHERE k = ?",
                   (time.time() - spill_store.MAX_OFFLINE_S - 60, spill_store.FLUSHED_AT))  # fmt: skip
    old = spill_table(tmp_path, name="sent-pages").data  # its deletes may be gone from Kafka
    assert old.persisted_offset(TP("c", 0)) is None and dict(old.data) == {}


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


def test_a_key_written_since_the_start_knows_its_partition_and_a_prune_finds_only_its_own(
    tmp_path: Path,
) -> None:
    """Faust writes a deletion's changelog record to the partition of the record being
    processed: a prune must delete only keys of that partition, or their last value stays in
    their own partition's changelog for ever (and comes back at the next start)."""
    from faust.streams import _current_event

    table = spill_table(tmp_path, name="alerts-open-index", app_id="spill-prune")
    store = table.data
    store.apply_changelog_batch([changelog("fid:replayed", 1.0, 2)], lambda k: k, lambda v: v)
    events = [Event(0), Event(2)]
    token = under(events[0])
    try:
        store["fid:a"] = 1.0  # (the store itself: the table would also send a changelog record)
        store["ref:1"] = "x"
        _current_event.set(weakref.ref(events[1]))
        store["fid:b"] = 1.0
    finally:
        _current_event.reset(token)
    assert dict(store._key_partition) == {"fid:replayed": 2}  # the rest: not in Kafka yet
    for partition, offset in ((0, 1), (0, 2), (2, 1)):
        store.set_persisted_offset(TP("c", partition), offset)
    assert dict(store._key_partition) == {"fid:replayed": 2, "fid:a": 0, "ref:1": 0, "fid:b": 2}
    later = time.time() + 1
    assert spill_store.stale_keys(table, later, "fid:", 0) == ["fid:a"]
    assert spill_store.stale_keys(table, later, "fid:", 2) == ["fid:b", "fid:replayed"]
    assert spill_store.stale_keys(table, time.time() - 60, "fid:", 2) == []  # written just now
    token = under(events[1])
    try:
        del store["fid:b"]
    finally:
        _current_event.reset(token)
    assert spill_store.stale_keys(table, later, "fid:", 2) == ["fid:replayed"]  # deleted, pending
    store.set_persisted_offset(TP("c", 2), 2)
    assert "fid:b" not in store._key_partition and store.keeps
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
    old = changelog("fid:old", 1.0, 1)
    old.message.timestamp = time.time() - 7200  # read back: as old as its changelog record
    store.apply_changelog_batch([old, changelog("fid:new", 1.0, 1)], lambda k: k, lambda v: v)
    table = SimpleNamespace(data=store)
    assert spill_store.stale_keys(table, time.time() - 3600, "fid:", 1) == ["fid:old"]


def test_a_damaged_file_or_one_from_before_the_machine_booted_is_rebuilt(
    tmp_path: Path, monkeypatch: Any, caplog: Any
) -> None:
    """Commits are not synced to the disk: only a crash of the machine can lose them."""
    store = spill_table(tmp_path).data
    store.apply_changelog_batch([changelog("a", b"1", 0, 3)], lambda k: k, lambda v: v)
    assert spill_table(tmp_path).data.persisted_offset(TP("c", 0)) == 3
    monkeypatch.setattr(spill_store, "boot_time", lambda: time.time() + 60)
    rebooted = spill_table(tmp_path).data
    assert rebooted.persisted_offset(TP("c", 0)) is None and dict(rebooted.data) == {}
    monkeypatch.setattr(spill_store, "boot_time", lambda: None)  # not known: trusted
    rebooted.apply_changelog_batch([changelog("b", b"2", 0, 4)], lambda k: k, lambda v: v)
    assert spill_table(tmp_path).data.persisted_offset(TP("c", 0)) == 4
    path = rebooted.path
    with contextlib.closing(sqlite3.connect(path)) as db:  # everything into the main file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    with open(path, "r+b") as f:  # torn pages, past the header
        f.seek(4096)
        f.write(b"\xff" * (size - 4096))
    damaged = spill_table(tmp_path).data
    assert damaged.persisted_offset(TP("c", 0)) is None and dict(damaged.data) == {}
    assert "is damaged" in caplog.text
