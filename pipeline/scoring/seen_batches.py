"""The dedupe table, with one changelog record per batch and partition instead of per feedback.

Each feedback id's mark (`counts.seen_mark`) is looked up once per record, so every id stays a
key of the table's local store. Written as a table key, each cost a changelog record per
feedback (and a tombstone per feedback 15 minutes later): half of what the score process
produced. Here the stage writes a batch's marks to the local store only (`mark_locally`) and
sends them to the changelog as one value under a batch key (`batch_key`); the table spreads a
batch value over its ids again when it recovers (`SeenTable.apply_changelog_batch`), and the
tombstone of a batch key (the batch aged past the horizon) deletes its ids.

Exactness is that of per-id marks: the batch value is written after every output of the batch
was handed to the producer, and Faust commits the input only after flushing the producer, so a
crash either replays the batch (its marks are written again) or finds them in the changelog. A
local store that ran ahead of the changelog holds marks of records that will be replayed: a
replay carries the same (partition, offset) and goes through.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import faust
import orjson

from pipeline.scoring.counts import mark_partition, received_at_of

logger = logging.getLogger(__name__)

BATCH_PREFIX = "batch:"
BATCHED = 1  # a mark's fourth element: its batch value prunes it (not a key of its own)


def batch_key(partition: int, first_offset: int) -> str:
    """The table key of one batch's marks of one source partition.

    >>> batch_key(3, 1200), is_batch_key(batch_key(3, 1200)), is_batch_key("sms-SM1")
    ('batch:3:1200', True, False)
    """
    return f"{BATCH_PREFIX}{partition}:{first_offset}"


def is_batch_key(key: Any) -> bool:
    return isinstance(key, str) and key.startswith(BATCH_PREFIX)


def partition_of_batch(key: str) -> int:
    """The source partition in a batch key.

    >>> partition_of_batch("batch:3:1200")
    3
    """
    return int(key[len(BATCH_PREFIX) :].split(":", 1)[0])


def batch_value(marks: list[tuple[str, float, int]]) -> dict[str, Any]:
    """The table value of a batch: its marks (id, received_at, offset) and the latest
    received_at (the batch ages past the horizon after its newest id).

    >>> batch_value([("a", 10.0, 5), ("b", 12.5, 6)])
    {'r': 12.5, 'm': [['a', 10.0, 5], ['b', 12.5, 6]]}
    """
    return {"r": max(at for _, at, _ in marks), "m": [[i, at, o] for i, at, o in marks]}


def batched_mark(received_at: float, partition: int, offset: int) -> list[Any]:
    """An id's mark as the local store holds it: `counts.seen_mark` plus the flag that its
    batch value, not the id's own key, is what ages it out.

    >>> batched_mark(12.5, 3, 7)
    [12.5, 3, 7, 1]
    """
    return [received_at, partition, offset, BATCHED]


def marks_of(value: Any, partition: int) -> Iterator[tuple[str, list[Any]]]:
    """(id, mark) of each id in a batch value.

    >>> list(marks_of({"r": 2.0, "m": [["a", 2.0, 9]]}, 4))
    [('a', [2.0, 4, 9, 1])]
    """
    if not isinstance(value, dict):
        return
    for fid, at, offset in value.get("m", ()):
        yield str(fid), batched_mark(float(at), partition, int(offset))


def is_batched(mark: Any) -> bool:
    """Whether a mark is aged out by its batch (not a key of the changelog itself).

    >>> is_batched([1.0, 2, 3, 1]), is_batched([1.0, 2, 3]), is_batched(1.0)
    (True, False, False)
    """
    return isinstance(mark, list | tuple) and len(mark) >= 4 and mark[3] == BATCHED


def aging_keys(items: Iterable[tuple[Any, Any]]) -> Iterator[tuple[float, str, int]]:
    """(received_at, key, partition) of each dedupe key that ages out by itself: batches, and
    ids marked one key each (by an earlier release). An id of a batch goes with its batch.

    >>> list(aging_keys([("batch:2:5", {"r": 9.0, "m": []}), ("a", [1.0, 2, 4, 1]),
    ...                  ("b", [3.0, 1, 7]), ("c", 4.0)]))
    [(9.0, 'batch:2:5', 2), (3.0, 'b', 1), (4.0, 'c', -1)]
    """
    for k, value in items:
        if is_batch_key(k):
            if isinstance(value, dict):
                yield float(value.get("r", 0.0)), k, partition_of_batch(k)
        elif not is_batched(value) and (at := received_at_of(value)) is not None:
            yield at, k, mark_partition(value)


@dataclass
class _Message:
    key: bytes
    value: bytes | None
    partition: int
    offset: int
    tp: Any


@dataclass
class _Event:
    key: Any
    value: Any
    message: _Message


class SeenTable(faust.Table):  # type: ignore[misc]
    """The dedupe table: ids are keys of the local store, batches are keys of the changelog."""

    def mark_locally(self, fid: str, mark: list[Any]) -> None:
        """Store an id's mark in the local store only (the current event's partition)."""
        self.data[fid] = mark

    def forget_locally(self, fids: Iterable[str]) -> None:
        for fid in fids:
            with suppress(KeyError):
                del self.data[fid]

    def apply_changelog_batch(self, batch: Iterable[Any]) -> None:
        super().apply_changelog_batch(list(self._expand(batch)))

    def _expand(self, batch: Iterable[Any]) -> Iterator[Any]:
        """The changelog events, each batch key followed by one event per id it holds (or a
        deletion of each, for the batch key's tombstone)."""
        pending: dict[bytes, Any] = {}  # batch values earlier in this recovery batch
        for event in batch:
            yield event
            msg = event.message
            raw_key = msg.key
            if not raw_key or not raw_key.startswith(b'"' + BATCH_PREFIX.encode()):
                continue
            if msg.value is not None:
                value = orjson.loads(msg.value)
                pending[raw_key] = value
                delete = False
            else:
                value = pending.pop(raw_key, None) or self._stored(raw_key, msg.partition)
                delete = True
            for fid, mark in marks_of(value, msg.partition):
                raw = None if delete else self._encode(mark, self.value_serializer, value=True)
                m = _Message(self._encode(fid, self.key_serializer), raw, msg.partition,
                             msg.offset, msg.tp)  # fmt: skip
                yield _Event(fid, None if delete else mark, m)

    def _encode(self, obj: Any, serializer: Any, value: bool = False) -> bytes:
        """`obj` as the store's own writes encode it (Faust's codec, not orjson: a key must
        be the same bytes for the lookups to find it)."""
        s = self.app.serializers
        if value:
            return s.dumps_value(self.value_type, obj, serializer=serializer) or b""
        return s.dumps_key(self.key_type, obj, serializer=serializer) or b""

    def _stored(self, raw_key: bytes, partition: int) -> Any:
        """A batch value as the local store holds it now (to delete its ids)."""
        store: Any = self.data
        if hasattr(store, "_db_for_partition"):  # RocksDB: one database per partition
            raw = store._db_for_partition(partition).get(raw_key)
            return orjson.loads(raw) if raw else None
        return store.data.get(orjson.loads(raw_key))
