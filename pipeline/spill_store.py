"""`spill://`: Faust's in-memory table store, with its dicts on disk.

The alert process's tables (`alerts`, `alerts-open-index`, `sent-pages`, `theme-vocab`) stay
in the memory store's semantics: rebuilt from their changelogs at each start, with no local
state that could run ahead of the changelog after a SIGKILL (`app.default_store_url`). What
changes is where the rebuilt state lives: in the process's private SQLite database
(`disk_state.py`) instead of dicts. With nobody acking, every alert stays open for 4 hours,
and each sent page's id is kept 8 days (`notify.SENT_HORIZON_S`), so the alert process grew
about 33 MB per 100k webhooks at the bench's mix (`paced_probe`, 400/s for 7 minutes); on
disk it holds a bounded page cache.

Registered with Faust's store registry (`register`), so a table's URL picks it by scheme, as
`rocksdb:` and `memory:` are picked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from faust.stores import STORES, memory
from faust.streams import current_event

from pipeline.disk_state import DiskState, discard

SCHEME = "spill"
MEMORY_SCHEME = "inmemory"


class NotesPartitions:
    """Notes the partition of each key written under a record (the partition Faust writes its
    changelog record to). Faust's memory store notes it only for keys read back from the
    changelog; here a key written since the start has it too, so that a prune can delete it
    under a record of its own partition (`stale_keys`), and a rebalance drops it with its
    partition (`on_recovery_completed`)."""

    data: Any
    _key_partition: Any

    def __setitem__(self, key: Any, value: Any) -> None:
        self.data[key] = value
        event = current_event()
        if event is not None:
            self._key_partition[key] = event.message.partition

    def __delitem__(self, key: Any) -> None:
        del self.data[key]
        discard(self._key_partition, key)


class MemoryStore(NotesPartitions, memory.Store):
    """`inmemory://` (`PRONTO_STORE=memory`): Faust's memory store, in dicts, with the
    partitions of keys written since the start noted too."""


class Store(NotesPartitions, memory.Store):
    """The memory store, whose `data` (key -> value) and `_key_partition` (key -> its
    partition, to drop the keys of partitions this worker lost) are `DiskState`s."""

    def __post_init__(self) -> None:
        self.data: DiskState = DiskState()  # type: ignore[assignment]
        self._key_partition: DiskState = DiskState()  # type: ignore[assignment]

    def apply_changelog_batch(
        self,
        batch: Iterable[Any],
        to_key: Callable[[Any], Any],
        to_value: Callable[[Any], Any],
    ) -> None:
        """The memory store's, in one transaction per batch for each mapping."""
        with self.data.batch(), self._key_partition.batch():
            super().apply_changelog_batch(batch, to_key, to_value)


def stale_keys(table: Any, before: float, prefix: str, partition: int) -> list[str] | None:
    """The keys of `table` in `partition` that start with `prefix` and were last written (or
    read back from the changelog) before `before`, through the index on write time; None
    when the table is not on `spill://`.

    Faust writes a deletion's changelog record to the partition of the record being
    processed, not the key's: a key deleted under an event of another partition keeps its
    last value in its own partition's changelog for ever, and comes back at the next start.
    So a prune deletes only the keys of the partition it runs in."""
    store = getattr(table, "data", None)
    if not isinstance(store, Store):
        return None
    return store.data.written_before(before, prefix, where=(store._key_partition, partition))


def register() -> None:
    """Make `spill:` and `inmemory:` table store URL schemes."""
    STORES.aliases[SCHEME] = f"{__name__}:Store"
    STORES.aliases[MEMORY_SCHEME] = f"{__name__}:MemoryStore"
