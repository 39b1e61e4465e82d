"""Faust's RocksDB store, which rebuilds a partition's local copy from the changelog when
that copy was last held too long ago (`table_store.too_old`, and the docstring there says
why). Faust imports it by the `rocksdb:` scheme (`table_store.register_rocksdb`), so only the
process that keeps such tables (the score process) loads RocksDB.
"""

from __future__ import annotations

import logging
import shutil
import time

from faust.stores import rocksdb
from faust.types import TP, CollectionT

from pipeline.table_store import last_held, too_old

logger = logging.getLogger(__name__)


class AgedRocksStore(rocksdb.Store):
    """Drops an assigned partition's copy that was last held longer ago than
    `topics.LOCAL_COPY_MAX_AGE_S` before Faust opens it: it is then read from the changelog's
    start instead of its offset."""

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
