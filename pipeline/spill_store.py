"""`spill://`: the alert process's tables, on disk, kept across restarts.

The alert process's tables (`alerts`, `alerts-open-index`, `sent-pages`, `theme-vocab`) live
in one SQLite file each, under the process's table folder (`table_store.state_dir`), behind a
small page cache: with nobody acking, every alert stays open for 4 hours and each sent page's
id is kept 8 days (`notify.SENT_HORIZON_S`), which in dicts grew the process about 33 MB per
100k webhooks at the bench's mix.

**Never ahead of the changelog.** A local store that took a write whose changelog record a
SIGKILL then lost (in the producer's buffer) would run ahead of the changelog, and of the
outputs that went with it: the desk, seeing the record's effects, would not act on it again
when it is redelivered, and the page would be lost. So a write first goes to an overlay in
memory, which reads see, and reaches the file only once Kafka has acknowledged its changelog
record (`set_persisted_offset`, which Faust calls for each acknowledged changelog record, in
the order of the writes of each partition). The file then always holds a prefix of each
changelog partition, with the offset it ends at, in the same transaction: a restart reads
only the changelog's tail past it, as the score stage's RocksDB does, instead of every alert
of the last day.

It is rebuilt from the changelog instead when:
- the file was last written before the machine booted, or fails SQLite's quick check
  (`open_db`: commits are not synced to the disk, which only a crash of the machine can lose);
- the file was last written more than `MAX_OFFLINE_S` ago: Kafka keeps a changelog's deletes
  only 24 h (`topics.CHANGELOG_CONFIGS`), so a store left longer could miss one and keep a
  closed alert open;
- the changelog was deleted and created again (`table_store.check_tables`, by topic id);
- the process runs with `processing_guarantee=exactly_once`, where Faust sets the persisted
  offset only at commit, not per record: the store then keeps nothing across restarts;
- an acknowledgement came for a write it did not expect (it loses track rather than guess).

With `PRONTO_STORE=memory`, the tables are `MemoryStore`s: Faust's memory store, in dicts.
Registered with Faust's store registry (`register`), so a table's URL picks it by scheme, as
`rocksdb:` and `memory:` are picked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from faust.stores import STORES, memory
from faust.streams import current_event
from faust.types import TP

from pipeline.disk_state import GONE, DiskState, ReadsGone, discard, transaction
from pipeline.table_store import newest_mtime
from pipeline.topics import LOCAL_COPY_MAX_AGE_S

logger = logging.getLogger(__name__)

SCHEME = "spill"
MEMORY_SCHEME = "inmemory"
SUFFIX = ".sqlite"
CACHE_KIB = 1024  # each table's page cache
FLUSH_AFTER_S = 0.2  # acknowledged writes reach the file at most this late, together
MAX_OFFLINE_S = LOCAL_COPY_MAX_AGE_S  # half the changelog's delete retention (see the docstring)
FLUSHED_AT = "flushed_at"  # in the offsets table: when the file last took writes


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


def written_at(message: Any, default: float) -> float:
    """When a changelog record was written (its Kafka timestamp), for a key read back."""
    at = getattr(message, "timestamp", None)
    return float(at) if at else default


class MemoryStore(NotesPartitions, memory.Store):
    """`inmemory://` (`PRONTO_STORE=memory`): Faust's memory store, in dicts, with the
    partitions of keys written since the start noted too, and when each key was last written
    (or read back from the changelog), for `stale_keys`."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._written_at: dict[Any, float] = {}

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self._written_at[key] = time.time()

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._written_at.pop(key, None)

    def apply_changelog_batch(
        self,
        batch: Iterable[Any],
        to_key: Callable[[Any], Any],
        to_value: Callable[[Any], Any],
    ) -> None:
        events = list(batch)
        super().apply_changelog_batch(events, to_key, to_value)
        now = time.time()
        for event in events:
            key = to_key(event.key)
            if key in self.data:
                self._written_at[key] = written_at(event.message, now)
            else:
                self._written_at.pop(key, None)

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        await super().on_recovery_completed(active_tps, standby_tps)
        for key in [k for k in self._written_at if k not in self.data]:
            del self._written_at[key]

    def stale_keys(self, before: float, prefix: str, partition: int) -> list[str]:
        """The keys of `partition` starting with `prefix` last written before `before` (a scan:
        the tables this mode keeps are small enough to be kept in dicts)."""
        return sorted(k for k, p in self._key_partition.items()
                      if p == partition and k.startswith(prefix)
                      and self._written_at.get(k, 0.0) < before)  # fmt: skip


class Write(NamedTuple):
    key: str
    value: Any  # or GONE
    partition: int
    at: float
    seq: int


class Overlaid(ReadsGone, Mapping[str, Any]):
    """A `DiskState`, with the writes not yet on it (not yet acknowledged) in front. Written
    only by its `Store` (`put`, `settle`)."""

    def __init__(self, disk: DiskState) -> None:
        self.disk = disk
        self.pending: dict[str, Write] = {}  # key -> its last write (value or GONE)

    def _read(self, key: Any) -> Any:
        found = self.pending.get(key)
        if found is not None:
            return found.value
        return self.disk.get(key, GONE)

    def put(self, w: Write) -> None:
        """A write not yet on disk: reads see it from now on."""
        self.pending[w.key] = w

    def settle(self, w: Write) -> None:
        """`w` is on disk (or dropped): unless a later write of its key is pending, reads go to
        the disk again."""
        found = self.pending.get(w.key)
        if found is not None and found.seq == w.seq:
            del self.pending[w.key]

    def _merged(self, rows: Iterable[tuple[str, Any]], prefix: str = "") -> list[tuple[str, Any]]:
        out = dict(rows)
        for key, w in self.pending.items():
            if key.startswith(prefix):
                if w.value is GONE:
                    out.pop(key, None)
                else:
                    out[key] = w.value
        return sorted(out.items())

    def items(self) -> Any:
        return self._merged(self.disk.items())

    def prefixed(self, prefix: str) -> Iterator[tuple[str, Any]]:
        return iter(self._merged(self.disk.prefixed(prefix), prefix))

    def __iter__(self) -> Iterator[str]:
        return iter([k for k, _ in self.items()])

    def __len__(self) -> int:
        return len(self.items())

    def clear(self) -> None:
        self.pending.clear()
        self.disk.clear()

    def written_before(self, before: float, prefix: str, partitions: DiskState,
                       partition: int) -> list[str]:  # fmt: skip
        """The keys of `partition` (in `partitions`, for those on disk) starting with `prefix`
        and last written before `before` (`DiskState.written_before`), pending writes first."""
        found = set(self.disk.written_before(before, prefix, where=(partitions, partition)))
        found.difference_update(self.pending)
        found.update(k for k, w in self.pending.items() if w.value is not GONE and
                     w.at < before and w.partition == partition and k.startswith(prefix))  # fmt: skip
        return sorted(found)


def open_db(path: Path) -> sqlite3.Connection:
    """A table's file, in write-ahead-log mode without fsync: a commit is a write to the
    page cache, so the event loop never waits for the disk (with fsync at each checkpoint, 1
    commit in 100 took 25 ms here, and some 75-135 ms). A killed process loses nothing that
    was committed (data and offsets together); only a crash of the machine can, so a file
    last written before the machine booted is not trusted, and neither is one that fails
    SQLite's quick check: both are rebuilt from the changelog."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if written_before_boot(path):
        logger.info("table file %s predates this boot: rebuilding it from its changelog", path)
        remove_files(path)
    try:
        return _open(path)
    except sqlite3.DatabaseError as e:
        logger.warning("table file %s is damaged (%s): rebuilding it from its changelog", path, e)
        remove_files(path)
        return _open(path)


def _open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None)
    try:
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = OFF")
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(check)
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


def remove_files(path: Path) -> None:
    """The database and its write-ahead log (and index)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def written_before_boot(path: Path) -> bool:
    """Whether the file (or its log) was last written before the machine booted: the page
    cache it was written to may have been lost with the machine."""
    written = newest_mtime((path, Path(f"{path}-wal")))
    boot = boot_time()
    return written is not None and boot is not None and written < boot


def boot_time() -> float | None:
    """When this machine booted (psutil's), or None where that is not known."""
    import psutil

    try:
        return float(psutil.boot_time())
    except (OSError, RuntimeError):
        return None


class Store(memory.Store):
    """The memory store's interface over a file per table, which holds only writes whose
    changelog records Kafka has (see the module's docstring)."""

    def __post_init__(self) -> None:
        self._conn: sqlite3.Connection | None = None
        self.data: Overlaid = Overlaid(DiskState(db=self._connection, name="kv"))  # type: ignore[assignment]
        self._key_partition: DiskState = DiskState(db=self._connection, name="key_partition")  # type: ignore[assignment]
        self._offsets = DiskState(db=self._connection, name="offsets")
        self._persisted: dict[int, int] | None = None  # partition -> last offset in the file
        self._unacked: dict[int, deque[Write]] = {}  # partition -> its writes, in order
        self._acked: list[tuple[int, Write]] = []  # (changelog offset, write), not yet on disk
        self._owned: set[int] | None = None  # the partitions recovered last (None: not yet)
        self._seq = 0
        self._flush_handle: asyncio.TimerHandle | None = None
        self.keeps = True  # False: kept across restarts no more (module docstring)

    # -- the file

    @property
    def path(self) -> Path:
        return Path(self.app.conf.tabledir) / f"{self.table_name}{SUFFIX}"

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_db(self.path)
            self._check_age()
        return self._conn

    def _check_age(self) -> None:
        if self.app.conf.processing_guarantee.value == "exactly_once":
            self.keeps = False
        flushed_at = self._offsets.get(FLUSHED_AT)
        if not self.keeps or (
            flushed_at is not None and time.time() - float(flushed_at) > MAX_OFFLINE_S
        ):
            if flushed_at is not None:
                logger.info("table %s: rebuilt from its changelog (local copy not kept)",
                            self.table_name)  # fmt: skip
            self._wipe()

    def _wipe(self) -> None:
        with transaction(self._connection()):
            self.data.disk.clear()
            self._key_partition.clear()
            self._offsets.clear()
        self._persisted = {}

    def _offsets_now(self) -> dict[int, int]:
        if self._persisted is None:
            self._connection()
            if self._persisted is None:
                self._persisted = {
                    int(k): int(v) for k, v in self._offsets.items() if k != FLUSHED_AT
                }
        return self._persisted

    # -- Faust's store interface

    def persisted_offset(self, tp: TP) -> int | None:
        """The last changelog offset the file holds for `tp`'s partition (None: none)."""
        return self._offsets_now().get(tp.partition) if self.keeps else None

    def __setitem__(self, key: Any, value: Any) -> None:
        self._write(key, value)

    def __delitem__(self, key: Any) -> None:
        missing = key not in self.data
        self._write(key, GONE)  # Faust sent the tombstone all the same: it will be acknowledged
        if missing:
            raise KeyError(key)

    def _write(self, key: str, value: Any) -> None:
        """A table write: Faust has just handed its changelog record to the producer, to the
        partition of the record being processed."""
        event = current_event()
        self._seq += 1
        part = -1 if event is None else event.message.partition
        self.data.put(w := Write(key, value, part, time.time(), self._seq))
        if event is None:  # not from a record (Faust refuses that): it can never be persisted
            self._lose_track(f"a write of {key!r} outside a record")
            return
        self._unacked.setdefault(part, deque()).append(w)

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        """Kafka has the changelog record at `offset`: it is the next write of `tp`'s
        partition (the producer keeps each partition's order)."""
        queue = self._unacked.get(tp.partition)
        if not queue:
            self._lose_track(f"an acknowledgement of {tp} with no write waiting")
            return
        self._acked.append((offset, queue.popleft()))
        if self._flush_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._flush_handle = loop.call_later(FLUSH_AFTER_S, self.flush)

    def flush(self) -> None:
        """Write the acknowledged writes, and each partition's offset, in one transaction."""
        self._flush_handle = None
        acked, self._acked = self._acked, []
        if not acked:
            return
        persisted = self._offsets_now()
        data: dict[str, Any] = {}
        parts: dict[str, Any] = {}
        for offset, w in acked:
            self.data.settle(w)  # (reads go to the file once the commit below is in)
            if offset <= persisted.get(w.partition, -1):
                continue  # recovery read it already (a partition that came back)
            if self._owned is not None and w.partition not in self._owned:
                continue  # a partition that went to another worker: its keys were dropped
            data[w.key] = GONE if w.value is GONE else (w.value, w.at)
            parts[w.key] = GONE if w.value is GONE else (w.partition, w.at)
            persisted[w.partition] = offset
        if data:
            self._commit(data, parts)

    def _commit(self, data: dict[str, Any], parts: dict[str, Any]) -> None:
        now = time.time()
        offsets: dict[str, Any] = {}
        if self.keeps:
            offsets = {str(p): (o, now) for p, o in self._offsets_now().items()}
            offsets[FLUSHED_AT] = (now, now)
        with transaction(self._connection()):
            self.data.disk.write(data)
            self._key_partition.write(parts)
            self._offsets.write(offsets)

    def _lose_track(self, why: str) -> None:
        if self.keeps:
            logger.warning("table %s: %s; its local copy will be rebuilt at the next start",
                           self.table_name, why)  # fmt: skip
            self.keeps = False
            with transaction(self._connection()):
                self._offsets.clear()

    def apply_changelog_batch(
        self,
        batch: Iterable[Any],
        to_key: Callable[[Any], Any],
        to_value: Callable[[Any], Any],
    ) -> None:
        """Records read back from the changelog: straight to the file, with their offsets,
        in one transaction."""
        now = time.time()
        data: dict[str, Any] = {}
        parts: dict[str, Any] = {}
        persisted = self._offsets_now()
        for event in batch:
            key, message = to_key(event.key), event.message
            if message.value is None:
                data[key] = parts[key] = GONE
            else:
                at = written_at(message, now)
                data[key] = (to_value(event.value), at)
                parts[key] = (message.partition, at)
            persisted[message.partition] = max(persisted.get(message.partition, -1), message.offset)
        if data:
            self._commit(data, parts)

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        """Drop the keys (and offsets) of partitions that went to another worker: if one
        comes back, it is read again from the changelog's start."""
        self.flush()
        owned = {tp.partition for tp in active_tps}
        self._owned = owned
        gone = [k for k, p in self._key_partition.items() if p not in owned]
        persisted = self._offsets_now()
        lost = [p for p in persisted if p not in owned]
        if not gone and not lost:
            return
        for p in lost:
            del persisted[p]
        with transaction(self._connection()):
            self.data.disk.write(dict.fromkeys(gone, GONE))
            self._key_partition.write(dict.fromkeys(gone, GONE))
            self._offsets.write(dict.fromkeys([str(p) for p in lost], GONE))

    def stale_keys(self, before: float, prefix: str, partition: int) -> list[str]:
        """The keys of `partition` starting with `prefix` last written before `before`,
        through the index on write time."""
        return self.data.written_before(before, prefix, self._key_partition, partition)

    def reset_state(self) -> None:
        """`faust reset`: forget the local copy."""
        self._wipe()

    async def on_stop(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self.flush()
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None


def stale_keys(table: Any, before: float, prefix: str, partition: int) -> list[str] | None:
    """The keys of `table` in `partition` that start with `prefix` and were last written (or
    read back from the changelog) before `before`; None when the table is on neither
    `spill://` nor `inmemory://`.

    Faust writes a deletion's changelog record to the partition of the record being
    processed, not the key's: a key deleted under an event of another partition keeps its
    last value in its own partition's changelog for ever, and comes back at the next start.
    So a prune deletes only the keys of the partition it runs in."""
    store = getattr(table, "data", None)
    if not isinstance(store, Store | MemoryStore):
        return None
    return store.stale_keys(before, prefix, partition)


def register() -> None:
    """Make `spill:` and `inmemory:` table store URL schemes."""
    STORES.aliases[SCHEME] = f"{__name__}:Store"
    STORES.aliases[MEMORY_SCHEME] = f"{__name__}:MemoryStore"
