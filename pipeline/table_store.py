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
rebuilt from the changelog. The ids come from kafka-python's admin client (aiokafka's reads
no metadata version that carries them), in a short-lived process of its own
(`check_tables_apart`): the score process would otherwise hold the client, about 7 MB, for
its whole life.

A table partition's copy that this process (or an earlier one) last held more than
`topics.LOCAL_COPY_MAX_AGE_S` ago (12 h) is rebuilt from the changelog too, when the partition
is assigned (`pipeline.aged_rocks`): deletes stay only 24 h in a compacted changelog, so reading on
from an older copy's offset could miss a tombstone and keep a key that is gone. Its age is that
of the newest file of its database: RocksDB writes its log at each write and every ten
minutes while the database is open, and only the process that holds a partition writes it.

RocksDB's memory is bounded for the whole process (`bound_rocksdb`): every table partition
shares one block cache, and their memtables are charged to it, so the score process's RocksDB
holds about `PRONTO_ROCKSDB_CACHE_MB` however many partitions and tables it opens.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from faust.stores import STORES

from pipeline.topics import LOCAL_COPY_MAX_AGE_S

logger = logging.getLogger(__name__)

_LOCKS: list[IO[str]] = []  # held for the life of the process
ID_SUFFIX = ".topic-id"
MIB = 1024 * 1024
_SHARED: dict[str, Any] = {}  # the process's one block cache and write buffer manager


def bound_rocksdb(cache_mb: int, write_buffer_mb: int) -> None:
    """Bound the memory of every RocksDB table partition this process opens, together.

    Faust's defaults are sized for a server of its own (a 2 GiB block cache and 3 x 64 MiB
    write buffers per table partition), and even small per-partition bounds add up: 8
    partitions of 3 tables at 1 MiB of cache and 2 x 1 MiB of memtables held 44 MB after 600k
    keys. Here all of them share one cache of `cache_mb`, and a write buffer manager charges
    their memtables (of `write_buffer_mb` each, at most two) to that cache and flushes the
    largest when the total passes it: 26-32 MB in the same test, and no more with more
    partitions. Set once, for every table of the process.
    """
    import rocksdict
    from faust.stores.rocksdb import RocksDBOptions

    RocksDBOptions.write_buffer_size = write_buffer_mb * MIB
    RocksDBOptions.max_write_buffer_number = 2
    RocksDBOptions.target_file_size_base = 8 * MIB
    RocksDBOptions.block_cache_size = cache_mb * MIB
    RocksDBOptions.block_cache_compressed_size = 0
    RocksDBOptions.max_open_files = 256
    cache = rocksdict.Cache(cache_mb * MIB)
    _SHARED["cache"] = cache
    _SHARED["write_buffers"] = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
        cache_mb * MIB, False, cache
    )
    if "faust_as_options" not in _SHARED:
        _SHARED["faust_as_options"] = RocksDBOptions.as_options
        RocksDBOptions.as_options = _shared_options  # type: ignore[method-assign]


def _shared_options(self: Any) -> Any:
    """Faust's options for one table partition, with the process's cache and write buffers."""
    import rocksdict

    options = _SHARED["faust_as_options"](self)
    if not self.use_rocksdict:
        return options
    table = rocksdict.BlockBasedOptions()  # as Faust builds it, with the shared cache
    table.set_bloom_filter(self.bloom_filter_size, True)
    table.set_block_cache(_SHARED["cache"])
    table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
    options.set_block_based_table_factory(table)
    options.set_write_buffer_manager(_SHARED["write_buffers"])
    return options


def last_held(db_path: Path) -> float | None:
    """When a partition's database was last written (open or written to): its newest file's
    modification time; None if it has no files.

    >>> import os, tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> last_held(d / "none.db") is None
    True
    >>> (d / "t-0.db").mkdir(); (d / "t-0.db" / "LOG").write_text("")
    0
    >>> os.utime(d / "t-0.db" / "LOG", (1000.0, 1000.0)); last_held(d / "t-0.db")
    1000.0
    """
    return newest_mtime(db_path.glob("*"))


def newest_mtime(paths: Iterable[Path]) -> float | None:
    """The latest modification time among the files of `paths` (None: none is a file)."""
    return max((p.stat().st_mtime for p in paths if p.is_file()), default=None)


def too_old(db_path: Path, now: float, max_age_s: float = LOCAL_COPY_MAX_AGE_S) -> bool:
    """Whether a partition's database was last held longer ago than `max_age_s`.

    >>> import os, tempfile
    >>> d = Path(tempfile.mkdtemp()) / "t-0.db"; d.mkdir(); (d / "LOG").write_text("")
    0
    >>> os.utime(d / "LOG", (1000.0, 1000.0))
    >>> too_old(d, 1000.0 + 3600), too_old(d, 1000.0 + 13 * 3600), too_old(d.parent / "x", 9e9)
    (False, True, False)
    """
    held = last_held(db_path)
    return held is not None and now - held > max_age_s


def register_rocksdb() -> None:
    """Tables with a `rocksdb:` URL get `pipeline.aged_rocks.AgedRocksStore` (imported by
    Faust only where such a table is made: the score process)."""
    STORES.aliases["rocksdb"] = "pipeline.aged_rocks:AgedRocksStore"


def state_dir(faust_home: Path, app_id: str, port: int) -> Path:
    """The folder of `app_id`'s tables: `<app id>` if this process can hold it, else
    `<app id>-<port>`, else `<app id>-<port>-2` and on (containers scaled on one volume all
    have the same port). Any free folder will do: each table partition in it holds a prefix
    of its changelog with the offset it ends at, whoever wrote it.

    >>> import tempfile
    >>> home = Path(tempfile.mkdtemp())
    >>> [state_dir(home, "p", 6066).name for _ in range(3)]
    ['p', 'p-6066', 'p-6066-2']
    """
    faust_home.mkdir(parents=True, exist_ok=True)
    names = [app_id, f"{app_id}-{port}", *(f"{app_id}-{port}-{n}" for n in range(2, 33))]
    for name in names:
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
        for path in tabledir.glob(f"{table}.sqlite*"):  # `spill_store`'s
            path.unlink(missing_ok=True)
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


def check_tables_apart(tabledir: Path, bootstrap: str, changelogs: Mapping[str, str]) -> list[str]:
    """`check_tables` in a process of its own (`python -m pipeline.table_store`)."""
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.table_store", str(tabledir), bootstrap,
         json.dumps(dict(changelogs))],
        stdout=subprocess.PIPE, text=True, timeout=120,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"checking the tables' changelogs failed (exit {out.returncode})")
    dropped: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return dropped


def main(argv: list[str]) -> int:
    """`python -m pipeline.table_store TABLEDIR BOOTSTRAP CHANGELOGS_JSON`: print, as JSON,
    the tables dropped by `check_tables`."""
    from pipeline.logs import setup_logging
    from pipeline.settings import Settings

    settings = Settings()
    setup_logging(settings.log_level, settings.log_json)
    print(json.dumps(check_tables(Path(argv[0]), argv[1], json.loads(argv[2]))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
