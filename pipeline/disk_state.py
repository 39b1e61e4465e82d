"""A mirror's state kept on disk, for a mirror that keeps a week of a busy topic.

The alert index (`alert_index.py`) keeps every alert of the last 7 days. In a dict that grew
with traffic, about 1 KB an alert in the web process: 14 MB per 100k feedback at the bench's
mix, so 140 MB over 1 M. Here the keys live in a private SQLite database on disk, behind a
page cache of `cache_kib`: the process holds the same few MB whatever the week holds.

- The database is SQLite's private temporary one (`connect("")`): its file is unlinked as soon
  as it is opened (in `SQLITE_TMPDIR`, `TMPDIR` or `/var/tmp`) and vanishes with the process,
  a SIGKILL included. Nothing is to be recovered from it: the mirror reads its topic again at
  each start.
- No journal and no fsync: a crash loses nothing that the topic does not hold.
- Each key carries when it was last written (`written_at`, the record being folded, else now),
  and `expire` forgets the keys older than the horizon, exactly, through an index on that time.
- Values are what SQLite stores as they are: `bytes`, `str`, numbers and None.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

CACHE_KIB = 2048
GONE: Any = object()  # a key deleted in the batch being written
UPSERT = (
    "INSERT INTO kv (k, v, at) VALUES (?, ?, ?) "
    "ON CONFLICT (k) DO UPDATE SET v = excluded.v, at = excluded.at"
)

SCHEMA = """
CREATE TABLE kv (k TEXT PRIMARY KEY, v, at REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX kv_at ON kv (at);
"""


class DiskState(MutableMapping[str, Any]):
    """A str-keyed dict on disk whose keys are forgotten `horizon_s` after their last write.

    >>> st = DiskState(horizon_s=10)
    >>> st.written_at = 100.0
    >>> st["a"] = 1
    >>> st.written_at = 105.0
    >>> st["b"] = b"two"
    >>> st.written_at = 106.0
    >>> st["a"] = 3  # written again: its age starts over
    >>> st.expire(now=115.5), dict(st)
    (1, {'a': 3})
    >>> st["open:1"], st["open:2"], st["opens"] = "x", None, "y"
    >>> list(st.prefixed("open:"))
    [('open:1', 'x'), ('open:2', None)]
    >>> st.expire(now=200.0), len(st)
    (4, 0)
    """

    def __init__(self, horizon_s: float, cache_kib: int = CACHE_KIB) -> None:
        self.horizon_s = horizon_s
        self.written_at: float | None = None
        self.cache_kib = cache_kib
        self._pending: dict[str, Any] | None = None  # in a batch: key -> (value, at) or GONE

    @functools.cached_property
    def _db(self) -> sqlite3.Connection:
        """The database, made at first use: a process that never reads the mirror (the score
        stage's) opens nothing, nor imports sqlite3."""
        import sqlite3

        db = sqlite3.connect("", isolation_level=None)
        db.execute(f"PRAGMA cache_size = -{int(self.cache_kib)}")
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.executescript(SCHEMA)
        return db

    def _now(self) -> float:
        return self.written_at if self.written_at is not None else time.time()

    def _read(self, key: object) -> Any:
        """The value of `key`, or `GONE`."""
        if self._pending is not None and key in self._pending:
            pending = self._pending[key]
            return GONE if pending is GONE else pending[0]
        row = self._db.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return GONE if row is None else row[0]

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

    def __setitem__(self, key: str, value: Any) -> None:
        if self._pending is not None:
            self._pending[key] = (value, self._now())
        else:
            self._db.execute(UPSERT, (key, value, self._now()))

    def __delitem__(self, key: str) -> None:
        self.pop(key)

    def pop(self, key: str, *default: Any) -> Any:
        value = self._read(key)
        if value is not GONE:
            if self._pending is not None:
                self._pending[key] = GONE
            else:
                self._db.execute("DELETE FROM kv WHERE k = ?", (key,))
            return value
        if default:
            return default[0]
        raise KeyError(key)

    def discard(self, key: str) -> None:
        """Delete `key` if it is there, without reading it first."""
        if self._pending is not None:
            self._pending[key] = GONE
        else:
            self._db.execute("DELETE FROM kv WHERE k = ?", (key,))

    def __iter__(self) -> Iterator[str]:
        self._flush()
        return iter([k for (k,) in self._db.execute("SELECT k FROM kv ORDER BY k")])

    def __len__(self) -> int:
        self._flush()
        return int(self._db.execute("SELECT count(*) FROM kv").fetchone()[0])

    def prefixed(self, prefix: str) -> Iterator[tuple[str, Any]]:
        """The (key, value) pairs whose key starts with `prefix` (non-empty), in key order."""
        self._flush()
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = self._db.execute(
            "SELECT k, v FROM kv WHERE k >= ? AND k < ? ORDER BY k", (prefix, upper)
        ).fetchall()
        return iter(rows)

    def expire(self, now: float) -> int:
        """Forget the keys last written before `now - horizon_s`; returns how many."""
        self._flush()
        cursor = self._db.execute("DELETE FROM kv WHERE at < ?", (now - self.horizon_s,))
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
        gone = [(k,) for k, v in pending.items() if v is GONE]
        kept = [(k, v[0], v[1]) for k, v in pending.items() if v is not GONE]
        self._db.execute("BEGIN")
        try:
            self._db.executemany("DELETE FROM kv WHERE k = ?", gone)
            self._db.executemany(UPSERT, kept)
        finally:
            self._db.execute("COMMIT")


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
