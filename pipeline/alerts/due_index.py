"""When each alert of the alert process is next due, on disk: the timers' index.

The tick (`stage.py`) asks for the alerts due now and gets those, through an index on the due
time, instead of walking every open alert each second; and the process holds a few KB for it
however many alerts are open. Nobody acking in a surge leaves every alert open for hours (a
million records of the bench's mix opened some 130,000): as a dict of ref -> (due time,
location) they held about 22 MB, and the tick walked them all every second.

The index is rebuilt from the alerts table after each start and rebalance (`rebuild`), so it
lives in the process's private temporary database (`disk_state.shared_db`), which vanishes
with the process. The number of alerts per location (the `pronto_open_alerts` gauge) is kept
as refs come and go, not counted at each tick.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from pipeline.disk_state import shared_db, transaction

if TYPE_CHECKING:
    import sqlite3

_names = itertools.count(1)
REBUILD_CHUNK = 1000  # entries written in one transaction by a rebuild


class DueIndex:
    """ref -> (when it is next due, its location).

    >>> due = DueIndex()
    >>> due.set("r1", 10.0, "bus-1"); due.set("r2", 30.0, "bus-1"); due.set("r3", 5.0, "bar-2")
    >>> due.due(now=10.0), due.counts(), len(due)
    ([('r3', 'bar-2'), ('r1', 'bus-1')], {'bus-1': 2, 'bar-2': 1}, 3)
    >>> due.set("r3", 40.0, "bar-2"); due.drop("r1"); due.drop("r1")
    >>> due.due(now=35.0), due.counts()
    ([('r2', 'bus-1')], {'bus-1': 1, 'bar-2': 1})
    >>> due.rebuild([("r9", 1.0, "bus-1")]); due.due(now=100.0), due.counts()
    ([('r9', 'bus-1')], {'bus-1': 1})
    """

    def __init__(self, db: Callable[[], sqlite3.Connection] = shared_db) -> None:
        self._opener = db
        self._table = f"due{next(_names)}"
        self._made = False
        self._counts: Counter[str] = Counter()

    @property
    def _db(self) -> sqlite3.Connection:
        db = self._opener()
        if not self._made:
            db.execute(f"CREATE TABLE {self._table} "
                       "(ref TEXT PRIMARY KEY, at REAL NOT NULL, loc TEXT NOT NULL) WITHOUT ROWID")  # fmt: skip
            db.execute(f"CREATE INDEX {self._table}_at ON {self._table} (at)")
            self._made = True
        return db

    def set(self, ref: str, at: float, location_id: str) -> None:
        """`ref` is next due at `at` (added, or moved)."""
        db = self._db
        row = db.execute(f"SELECT loc FROM {self._table} WHERE ref = ?", (ref,)).fetchone()
        if row is None:
            db.execute(f"INSERT INTO {self._table} (ref, at, loc) VALUES (?, ?, ?)",
                       (ref, at, location_id))  # fmt: skip
            self._counts[location_id] += 1
            return
        db.execute(f"UPDATE {self._table} SET at = ?, loc = ? WHERE ref = ?",
                   (at, location_id, ref))  # fmt: skip
        if row[0] != location_id:  # (an alert does not move; kept exact all the same)
            self._uncount(row[0])
            self._counts[location_id] += 1

    def drop(self, ref: str) -> None:
        """`ref` has no timer any more (gone from the table, or its venue is)."""
        db = self._db
        row = db.execute(f"SELECT loc FROM {self._table} WHERE ref = ?", (ref,)).fetchone()
        if row is not None:
            db.execute(f"DELETE FROM {self._table} WHERE ref = ?", (ref,))
            self._uncount(row[0])

    def due(self, now: float) -> list[tuple[str, str]]:
        """The (ref, location) pairs due at `now` or before, soonest first."""
        return self._db.execute(
            f"SELECT ref, loc FROM {self._table} WHERE at <= ? ORDER BY at", (now,)
        ).fetchall()

    def rebuild(self, entries: Iterable[tuple[str, float, str]]) -> None:
        """Forget every timer and set these (ref, due at, location), a transaction per
        `REBUILD_CHUNK` (the entries are read outside it: the database keeps no journal, so a
        transaction cannot be rolled back). One that fails midway is to be done again."""
        db = self._db
        db.execute(f"DELETE FROM {self._table}")
        self._counts = Counter()
        insert = f"INSERT OR REPLACE INTO {self._table} (ref, at, loc) VALUES (?, ?, ?)"
        it = iter(entries)
        while chunk := list(itertools.islice(it, REBUILD_CHUNK)):
            with transaction(db):
                db.executemany(insert, chunk)
        self._counts.update(loc for (loc,) in db.execute(f"SELECT loc FROM {self._table}"))

    def counts(self) -> dict[str, int]:
        """Alerts with a timer, per location (those with none are absent)."""
        return dict(self._counts)

    def __len__(self) -> int:
        return sum(self._counts.values())

    def _uncount(self, location_id: str) -> None:
        self._counts[location_id] -= 1
        if self._counts[location_id] <= 0:
            del self._counts[location_id]
