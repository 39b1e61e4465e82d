"""Where a process keeps its tables, and a check that the local copy still belongs to the
changelog it was built from.

With the RocksDB store (the default), each table partition is a RocksDB database under
`PRONTO_HOME/faust/<app id>/`, holding the last changelog offset it applied: a restart reads
only the changelog's tail. The folder is the app id's alone while this process holds its lock;
a second process with the same id and home (two workers sharing a home) gets a folder of its
own, keyed by its port, so they never open the same database.

A changelog topic that was deleted and created again (a reset, a new cluster) starts its offsets
at 0 again, and a local store would take its old offset for a position in the new log: Faust
either stops with a ConsistencyError or, once the new log has grown past that offset, silently
keeps stale values and skips new ones (faust-streaming issue #158). Each table's folder records
the changelog's topic id (KIP-516); when the id differs, the table's local files are dropped and
rebuilt from the changelog.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

_LOCKS: list[IO[str]] = []  # held for the life of the process
ID_SUFFIX = ".topic-id"


def state_dir(faust_home: Path, app_id: str, port: int) -> Path:
    """The folder of `app_id`'s tables: `<app id>` if this process can hold it, else
    `<app id>-<port>`."""
    faust_home.mkdir(parents=True, exist_ok=True)
    for name in (app_id, f"{app_id}-{port}"):
        lock = open(faust_home / f"{name}.lock", "a")  # noqa: SIM115 - held until exit
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            logger.info("table folder %s is in use by another process", name)
            continue
        _LOCKS.append(lock)
        return faust_home / name
    raise RuntimeError(f"no free table folder for {app_id} under {faust_home}")


def stale_tables(tabledir: Path, topic_ids: Mapping[str, str]) -> list[str]:
    """The tables (of `topic_ids`: table name -> its changelog's topic id) whose local files
    were built from another topic than the one that exists now. A table with files but no
    recorded id (made before the check existed) is not judged.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> record_ids(d, {"seen": "A", "rolling": "B"})
    >>> stale_tables(d, {"seen": "A", "rolling": "C", "new": "D"})
    ['rolling']
    """
    out = []
    for table, topic_id in topic_ids.items():
        marker = tabledir / f"{table}{ID_SUFFIX}"
        if marker.exists() and marker.read_text().strip() != topic_id:
            out.append(table)
    return out


def record_ids(tabledir: Path, topic_ids: Mapping[str, str]) -> None:
    """Write each table's changelog topic id beside its files."""
    tabledir.mkdir(parents=True, exist_ok=True)
    for table, topic_id in topic_ids.items():
        (tabledir / f"{table}{ID_SUFFIX}").write_text(topic_id)


def drop_tables(tabledir: Path, tables: Iterable[str]) -> None:
    """Remove the local files of `tables` (every partition's database)."""
    for table in tables:
        for path in tabledir.glob(f"{table}-*.db"):
            shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (tabledir / f"{table}{ID_SUFFIX}").unlink()


def changelog_ids(bootstrap: str, topics: Iterable[str]) -> dict[str, str]:
    """topic -> its topic id, for those that exist (kafka-python's admin client)."""
    from kafka import KafkaAdminClient

    wanted = list(topics)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        described: list[dict[str, Any]] = admin.describe_topics(wanted)
    finally:
        admin.close()
    return {
        str(d["name"]): str(d["topic_id"])
        for d in described
        if not d.get("error_code") and d.get("topic_id")
    }


def check_tables(tabledir: Path, bootstrap: str, changelogs: Mapping[str, str]) -> list[str]:
    """Drop the local files of each table (of `changelogs`: table -> changelog topic) whose
    changelog is not the one they were built from; record the current ids. Returns the
    tables dropped."""
    by_topic = changelog_ids(bootstrap, changelogs.values())
    ids = {t: by_topic[topic] for t, topic in changelogs.items() if topic in by_topic}
    stale = stale_tables(tabledir, ids)
    for table in stale:
        logger.warning("table %s: its changelog %s was recreated; rebuilding it from the "
                       "changelog", table, changelogs[table])  # fmt: skip
    drop_tables(tabledir, stale)
    record_ids(tabledir, ids)
    return stale
