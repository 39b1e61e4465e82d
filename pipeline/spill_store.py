"""`spill://`: Faust's in-memory table store, with its dicts on disk.

The alert process's tables (`alerts`, `alerts-open-index`, `sent-pages`, `theme-vocab`) stay
in the memory store's semantics: rebuilt from their changelogs at each start, with no local
state that could run ahead of the changelog after a SIGKILL (`app.default_store_url`). What
changes is where the rebuilt state lives: in the process's private SQLite database
(`disk_state.py`) instead of dicts. With nobody acking, every alert stays open for 4 hours,
and each sent page's id is kept, so the alert process grew about 33 MB per 100k webhooks at
the bench's mix (`paced_probe`, 400/s for 7 minutes); on disk it holds a bounded page cache.

Registered with Faust's store registry (`register`), so a table's URL picks it by scheme, as
`rocksdb:` and `memory:` are picked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from faust.stores import STORES, memory

from pipeline.disk_state import DiskState

SCHEME = "spill"


class Store(memory.Store):
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


def register() -> None:
    """Make `spill:` a table store URL scheme."""
    STORES.aliases[SCHEME] = f"{__name__}:Store"
