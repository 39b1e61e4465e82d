"""Faust's RocksDB store, which rebuilds a partition's local copy from the changelog when
that copy was last held too long ago (`table_store.too_old`, and the docstring there says
why). Faust imports it by the `rocksdb:` scheme (`table_store.register_rocksdb`), so only the
process that keeps such tables (the score process) loads RocksDB.
"""

from __future__ import annotations

import logging
import shutil
import time
from typing import Any

from faust.stores import rocksdb
from faust.types import TP, CollectionT
from mode.utils.collections import LRUCache

from pipeline.table_store import last_held, too_old

logger = logging.getLogger(__name__)


class CompactKeyIndex(LRUCache):  # type: ignore[type-arg]
    """Faust's key -> partition cache (`table_key_index_size` keys, 1,000, per table), keeping
    a copy of each key in a buffer of its own size. The keys come from Faust's JSON serializer,
    orjson, whose output keeps the buffer it was written into: 4 KB for a key of 30 bytes
    (ijl/orjson#483; `alert_index.compact_json` says more). The score process's two RocksDB
    tables held some 8 MB of keys that way (tracemalloc, `faust/utils/json.py`: 1,910 blocks).

    >>> import orjson, sys
    >>> index = CompactKeyIndex(limit=2)
    >>> index[orjson.dumps("f-1")] = 3
    >>> key = next(iter(index.data))
    >>> key, index[b'"f-1"'], sys.getsizeof(key) < 64
    (b'"f-1"', 3, True)
    """

    def _store(self, key: Any, value: Any) -> None:
        if type(key) is bytes and key not in self.data:
            key = bytes(memoryview(key))  # a new object of its own size (`bytes(key)` is `key`)
        super()._store(key, value)


class AgedRocksStore(rocksdb.Store):
    """Drops an assigned partition's copy that was last held longer ago than
    `topics.LOCAL_COPY_MAX_AGE_S` before Faust opens it: it is then read from the changelog's
    start instead of its offset. Its key index keeps compact keys (`CompactKeyIndex`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._key_index = CompactKeyIndex(limit=self.key_index_size)

    async def assign_partitions(
        self, table: CollectionT, tps: set[TP], generation_id: int = 0
    ) -> None:
        now = time.time()
        for tp in tps:
            if tp.topic not in table.changelog_topic.topics or tp.partition in self._dbs:
                continue
            path = self.partition_path(tp.partition)
            if too_old(path, now):
                logger.warning("table %s partition %d: its local copy was last held %.1f h ago; "
                               "rebuilding it from the changelog", table.name, tp.partition,
                               (now - (last_held(path) or now)) / 3600)  # fmt: skip
                shutil.rmtree(path, ignore_errors=True)
        await super().assign_partitions(table, tps, generation_id)
