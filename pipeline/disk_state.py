"""State that a process rebuilds from Kafka at each start, kept on disk instead of in memory.

Two kinds of state grew with traffic in the worker's memory:
- the alert index (`alert_index.py`), a week of every alert, about 1 KB each in the web
  process: 30 MB per 100k webhooks at the bench's mix (`paced_probe`, 400/s for 7 minutes);
- the alert process's tables (`spill_store.py`): every open alert (4 hours when nobody acks
  it, a day after it is resolved), the pages sent, the ids acted on in the last hour.

Here they live in one private SQLite database per process, behind a page cache of
`CACHE_KIB`: the process holds the same few MB whatever the week holds.

- The database is SQLite's private temporary one (`connect("")`): its file is unlinked as soon
  as it is opened (in `SQLITE_TMPDIR`, `TMPDIR` or `/var/tmp`) and vanishes with the process,
  a SIGKILL included. Nothing is recovered from it: what it holds is read again from Kafka
  at each start, as the in-memory dicts were. (The alert tables' states are given a file of
  their own instead, kept across restarts: `spill_store.py` says how it stays exact.)
- No journal and no fsync: a crash loses nothing that Kafka does not hold.
- Each key carries when it was last written (`written_at`, the record being folded, else now),
  and `expire` forgets the keys older than the horizon, exactly, through an index on that time.
- Values of `bytes`, `str`, `int`, `float` and None are kept as they are; any other (a dict, a
  list, a bool) as JSON.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import sqlite3

CACHE_KIB = 4096  # the process's page cache, shared by all its states
GONE: Any = object()  # a key deleted in the batch being written
AS_IS = (bytes, str, int, float, type(None))
_names = itertools.count(1)


@functools.cache
def shared_db() -> sqlite3.Connection:
    """The process's database, made at first use: a process that keeps no such state (the
    score process) opens nothing, nor imports sqlite3."""
    import sqlite3

    db = sqlite3.connect("", isolation_level=None)
    db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    return db


def _encoded(value: Any) -> tuple[Any, int]:
    """(what SQLite keeps, whether it is JSON)."""
    if type(value) in AS_IS:
        return value, 0
    return orjson.dumps(value), 1


class ReadsGone:
    """A mapping's reads, from one `_read(key)` that gives the value or `GONE`."""

    def _read(self, key: Any) -> Any:
        raise NotImplementedError

    def __getitem__(self, key: str) -> Any:
        value = self._read(key)
        if value is GONE:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = self._read(key)
        return default if value is GONE else value

    def __contains__(self, key: object) -> bool:
        return self._read(key) is not GONE


class DiskState(ReadsGone, MutableMapping[str, Any]):
    """A str-keyed dict on disk; with `horizon_s`, its keys are forgotten that long after their
    last write (at `expire`).

    >>> st = DiskState(horizon_s=10)
    >>> st.written_at = 100.0
    >>> st["a"] = 1
    >>> st.written_at = 105.0
    >>> st["b"] = b"two"
    >>> st.written_at = 106.0
    >>> st["a"] = {"n": [3]}  # written again: its age starts over
    >>> st.expire(now=115.5), dict(st)
    (1, {'a': {'n': [3]}})
    >>> st["open:1"], st["open:2"], st["opens"] = "x", None, True
    >>> list(st.prefixed("open:")), st["opens"]
    ([('open:1', 'x'), ('open:2', None)], True)
    >>> st.expire(now=200.0), len(st)
    (4, 0)
    """

    def __init__(
        self,
        horizon_s: float | None = None,
        *,
        db: Callable[[], sqlite3.Connection] = shared_db,
        name: str = "",
    ) -> None:
        """`db` gives the database (made at first use), `name` the table in it (by default a
        new one in the process's private database)."""
        self.horizon_s = horizon_s
        self.written_at: float | None = None
        self._pending: dict[str, Any] | None = None  # in a batch: key -> (value, at) or GONE
        self._table = name or f"kv{next(_names)}"
        self._opener = db
        self._made = False
        self._statements: dict[str, str] = {}

    @property
    def _db(self) -> sqlite3.Connection:
        db = self._opener()
        if not self._made:
            db.execute(f"CREATE TABLE IF NOT EXISTS {self._table} "
                       "(k TEXT PRIMARY KEY, v, j INTEGER NOT NULL, at REAL NOT NULL) WITHOUT ROWID")  # fmt: skip
            db.execute(f"CREATE INDEX IF NOT EXISTS {self._table}_at ON {self._table} (at)")
            self._made = True
        return db

    def _sql(self, statement: str) -> str:
        """`statement` on this state's table (formatted once per statement)."""
        found = self._statements.get(statement)
        if found is None:
            found = self._statements[statement] = statement.replace("{t}", self._table)
        return found

    def _now(self) -> float:
        return self.written_at if self.written_at is not None else time.time()

    def _read(self, key: object) -> Any:
        """The value of `key`, or `GONE`."""
        if self._pending is not None and key in self._pending:
            pending = self._pending[key]
            return GONE if pending is GONE else pending[0]
        row = self._db.execute(self._sql("SELECT v, j FROM {t} WHERE k = ?"), (key,)).fetchone()
        if row is None:
            return GONE
        return orjson.loads(row[0]) if row[1] else row[0]

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"DiskState keys are str, not {type(key).__name__}")
        if self._pending is not None:
            self._pending[key] = (value, self._now())
        else:
            self._db.execute(self._sql(UPSERT), (key, *_encoded(value), self._now()))

    def __delitem__(self, key: str) -> None:
        self.pop(key)

    def pop(self, key: str, *default: Any) -> Any:
        value = self._read(key)
        if value is not GONE:
            self.discard(key)
            return value
        if default:
            return default[0]
        raise KeyError(key)

    def discard(self, key: str) -> None:
        """Delete `key` if it is there, without reading it first."""
        if self._pending is not None:
            self._pending[key] = GONE
        else:
            self._db.execute(self._sql("DELETE FROM {t} WHERE k = ?"), (key,))

    def clear(self) -> None:
        if self._pending is not None:
            self._pending.clear()
        self._db.execute(self._sql("DELETE FROM {t}"))

    def __iter__(self) -> Iterator[str]:
        self._flush()
        return iter([k for (k,) in self._db.execute(self._sql("SELECT k FROM {t} ORDER BY k"))])

    def __len__(self) -> int:
        self._flush()
        return int(self._db.execute(self._sql("SELECT count(*) FROM {t}")).fetchone()[0])

    def items(self) -> Any:
        """All (key, value) pairs, read in one query (a Mapping's default reads them one by
        one)."""
        self._flush()
        rows = self._db.execute(self._sql("SELECT k, v, j FROM {t} ORDER BY k")).fetchall()
        return [(k, orjson.loads(v) if j else v) for k, v, j in rows]

    def prefixed(self, prefix: str) -> Iterator[tuple[str, Any]]:
        """The (key, value) pairs whose key starts with `prefix` (non-empty), in key order."""
        self._flush()
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = self._db.execute(
            self._sql("SELECT k, v, j FROM {t} WHERE k >= ? AND k < ? ORDER BY k"), (prefix, upper)
        ).fetchall()
        return iter([(k, orjson.loads(v) if j else v) for k, v, j in rows])

    def written_before(
        self, before: float, prefix: str, where: tuple[DiskState, Any] | None = None
    ) -> list[str]:
        """The keys starting with `prefix` (any, if empty) last written before `before`, through
        the index on write time; with `where=(other, value)`, only those whose value in
        `other` is `value`.

        >>> st, owner = DiskState(), DiskState()
        >>> st.written_at = 1.0
        >>> st["fid:a"], st["fid:b"], st["ref:c"] = 1, 2, 3
        >>> st.written_at = 5.0
        >>> st["fid:d"] = 4
        >>> owner["fid:a"], owner["fid:b"] = 0, 1
        >>> st.written_before(2.0, "fid:"), st.written_before(2.0, "fid:", where=(owner, 1))
        (['fid:a', 'fid:b'], ['fid:b'])
        """
        self._flush()
        sql = "SELECT d.k FROM {t} d INDEXED BY {t}_at"  # (not the key range: all of a prefix)
        args: list[Any] = []
        if where is not None:
            other, value = where
            other._flush()
            other._db  # noqa: B018 (made if it was not yet)
            sql += f" JOIN {other._table} o ON o.k = d.k AND o.v = ?"
            args.append(value)
        sql += " WHERE d.at < ?"
        args.append(before)
        if prefix:
            sql += " AND d.k >= ? AND d.k < ?"
            args += [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)]
        sql += " ORDER BY d.k"
        return [k for (k,) in self._db.execute(self._sql(sql), args)]

    def expire(self, now: float) -> int:
        """Forget the keys last written before `now - horizon_s`; returns how many."""
        if self.horizon_s is None:
            return 0
        self._flush()
        cursor = self._db.execute(
            self._sql("DELETE FROM {t} WHERE at < ?"), (now - self.horizon_s,)
        )
        return max(cursor.rowcount, 0)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Write a batch of records at once, at its end: a week replayed at a start costs one
        transaction per batch, not one per key, and a key written several times in the batch
        is written once. Reads in the batch see its writes. Nested batches join the outer one.
        """
        if self._pending is not None:
            yield
            return
        self._pending = {}
        try:
            yield
        finally:
            self._flush()
            self._pending = None

    def _flush(self) -> None:
        """Write the batch's pending changes, in one transaction."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        with transaction(self._db):
            self.write(pending)

    def write(self, changes: Mapping[str, Any]) -> None:
        """Write `changes` (key -> (value, written at), or `GONE`) at once, in the caller's
        transaction (`transaction`)."""
        gone = [(k,) for k, v in changes.items() if v is GONE]
        kept = [(k, *_encoded(v[0]), v[1]) for k, v in changes.items() if v is not GONE]
        db = self._db
        db.executemany(self._sql("DELETE FROM {t} WHERE k = ?"), gone)
        db.executemany(self._sql(UPSERT), kept)


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One transaction on `db` (opened with `isolation_level=None`): committed at the end,
    rolled back if the block raises."""
    db.execute("BEGIN")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


UPSERT = (
    "INSERT INTO {t} (k, v, j, at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (k) DO UPDATE SET v = excluded.v, j = excluded.j, at = excluded.at"
)


def discard(state: MutableMapping[str, Any], key: str) -> None:
    """Delete `key` from `state` (a `DiskState` or a dict) if it is there."""
    if isinstance(state, DiskState):
        state.discard(key)
    else:
        state.pop(key, None)


def prefixed(state: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    """The items of `state` (a `DiskState` or a dict) whose key starts with `prefix`."""
    if isinstance(state, DiskState):
        return state.prefixed(prefix)
    return iter([(k, v) for k, v in state.items() if k.startswith(prefix)])
