"""What the benchmark runs against: a venues file of N locations, worker processes, offsets.

The worker is the real `python -m pipeline.cli worker`, a subprocess with topics, app id,
home and port of its own, so the figures are the ones a deployment would see. It is a
supervisor with a process per stage group (web, score, alert+notify): its memory is the sum
over the supervisor and all its descendants.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.kafka_local import free_port

try:
    import psutil
except ImportError:  # pragma: no cover - a dependency, but /proc does the same on Linux
    psutil = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

KINDS = (("bus", "nps10"), ("restaurant", "csat5"), ("hotel", "csat5"))
BENCH_TOKEN = "0123456789abcdef0123456789abcdef"
BENCH_PUBLIC_URL = "https://pronto.bench.test"


def venues_toml(n: int) -> str:
    """A venues file with `n` locations, each with two supervisors and a manager on 24/7.

    >>> from pipeline.config import parse_venues
    >>> import tomllib
    >>> v = parse_venues(tomllib.loads(venues_toml(3)))
    >>> len(v.locations), v.locations[0].escalation.chain, v.locations[2].numbers
    (3, ('A0', 'B0'), ('+34920000002',))
    """
    parts = []
    for i in range(n):
        kind, scale = KINDS[i % len(KINDS)]
        lang = "en" if i % 4 == 3 else "es"
        sups = "".join(
            f'\n[[locations.supervisors]]\nname = "{who}{i}"\nphone = "+3471{i:04d}{j:03d}"\n'
            f'shifts = ["24/7"]\nlang = "{lang}"\n'
            for j, who in enumerate(("A", "B", "M"))
        )
        parts.append(
            f'[[locations]]\nid = "loc-{i:04d}"\nname = "Venue {i}"\nkind = "{kind}"\n'
            f'scale = "{scale}"\nnumbers = ["+3492{i:07d}"]\nlang = "{lang}"\n'
            f'timezone = "Europe/Madrid"\n{sups}\n[locations.escalation]\n'
            f'chain = ["A{i}", "B{i}"]\nmanager = "M{i}"\n'
        )
    return "\n".join(parts)


def bench_env(broker: str, home: Path, config: Path, prefix: str, **extra: str) -> dict[str, str]:
    """The environment of a bench worker: its own topics and group, no throttles in the way."""
    code = os.environ.get("PRONTO_BENCH_WORKER_CODE", "")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRONTO_")}
    if code:  # the workers run another checkout (`pronto bench --worker-code`)
        env["PYTHONPATH"] = str(Path(code).resolve())
    env.update({
        "PRONTO_BROKER": broker,
        "PRONTO_HOME": str(home),
        "PRONTO_CONFIG": str(config),
        "PRONTO_WEB_PORT": str(free_port()),
        "PRONTO_TOPIC_PREFIX": prefix,
        "PRONTO_APP_ID": f"{prefix}pronto",
        "PRONTO_TWILIO_AUTH_TOKEN": BENCH_TOKEN,
        "PRONTO_PUBLIC_URL": BENCH_PUBLIC_URL,
        "PRONTO_SECRET_KEY": "bench-secret",
        "PRONTO_LOG_LEVEL": "WARNING",
        # A load test from one address would trip the per-client limits and throttles.
        "PRONTO_RATE_LIMIT_PER_MIN": "100000000",
        "PRONTO_PAGES_PER_SUPERVISOR_PER_MIN": "100000000",
        "PRONTO_ACK_TIMEOUT_S": "86400",  # no escalation traffic during the loads
    })  # fmt: skip
    # Settings for every worker of this run (`pronto bench --env K=V`), then the caller's own.
    env.update(json.loads(os.environ.get("PRONTO_BENCH_WORKER_ENV") or "{}"))
    env.update(extra)
    return env


# "Error": a peer not answering.
BUSY = ("joining the group", "recovering tables", "rebalancing", "down", "Error")


RECOVERY_STARTS = ("joining the group", "recovering tables")


def recovery_span(readiness: list[tuple[float, str]]) -> tuple[float, float] | None:
    """(start, end) of a table recovery in a series of /readyz reasons: from the first
    "joining the group" or "recovering tables" (the join comes first: it is counted, as it was
    when /readyz called both "recovering tables") to the first answer past it that is not busy
    (an event loop too busy replaying to answer reads as "down"); None if no recovery was seen.

    >>> recovery_span([(0.0, "down"), (1.0, "recovering tables"), (2.0, "down"),
    ...                (4.0, "loading the model"), (5.0, "ready")])
    (1.0, 4.0)
    >>> recovery_span([(0.0, "score stage: recovering tables"), (3.0, "ready")])
    (0.0, 3.0)
    >>> recovery_span([(0.0, "down"), (1.0, "joining the group"), (2.0, "rebalancing"),
    ...                (3.0, "recovering tables"), (9.0, "ready")])
    (1.0, 9.0)
    >>> recovery_span([(0.0, "down"), (1.0, "ready")]) is None
    True
    """
    start = next((t for t, r in readiness if any(s in r for s in RECOVERY_STARTS)), None)
    if start is None:
        return None
    end = next((t for t, r in readiness if t > start and not any(b in r for b in BUSY)), start)
    return start, end


@dataclass
class WorkerProc:
    """A `pronto worker` subprocess; `spawned` is its start on the monotonic clock.

    `readiness` holds the worker's /readyz answers (the web process's, which speaks for the
    others only once it is ready itself), and `stages` those of each other process, asked on
    its internal port: that is where a table recovery shows."""

    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    spawned: float = 0.0
    readiness: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, reason)
    stages: dict[str, list[tuple[float, str]]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['PRONTO_WEB_PORT']}"

    def start(self, timeout_s: float = 120.0, poll_s: float = 0.05,
              on_poll: Callable[[], object] | None = None) -> WorkerProc:  # fmt: skip
        """Spawn and wait for /readyz, recording every change of its reason (and of each
        process's own, each polled by a thread: a process busy replaying answers slowly).
        `on_poll` runs at each poll: one stage can be at work before the whole worker is
        ready."""
        out = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.spawned = time.monotonic()
        # `python -m` puts the working directory first on sys.path: another checkout's
        # workers (`--worker-code`) must start in it.
        code = os.environ.get("PRONTO_BENCH_WORKER_CODE") or None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "worker"], env=self.env, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=code,
        )  # fmt: skip
        out.close()
        deadline = self.spawned + timeout_s
        stop = threading.Event()
        watchers: dict[str, threading.Thread] = {}
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"worker exited {self.proc.returncode}; see {self.log}")
                for name, url in self.stage_urls().items():
                    if name not in watchers:
                        seq = self.stages.setdefault(name, [])
                        watchers[name] = threading.Thread(
                            target=_watch_ready, args=(url, seq, stop, poll_s), daemon=True
                        )
                        watchers[name].start()
                reason = readyz(self.url)
                if not self.readiness or self.readiness[-1][1] != reason:
                    self.readiness.append((time.monotonic(), reason))
                if reason == "ready":
                    return self
                if on_poll is not None:
                    on_poll()
                time.sleep(poll_s)
        finally:
            stop.set()
            for t in watchers.values():
                t.join(5)
        raise RuntimeError(f"worker not ready within {timeout_s:.0f}s; see {self.log}")

    def stage_urls(self) -> dict[str, str]:
        """The internal base URL of each process of the worker but the web one, by stages."""
        assert self.proc is not None
        out = {}
        for pid in process_tree(self.proc.pid)[1:]:
            stages, port = environ_var(pid, "PRONTO_STAGES"), environ_var(pid, "PRONTO_WEB_PORT")
            if stages and port and "web" not in stages.split(","):
                out[stages] = f"http://127.0.0.1:{port}"
        return out

    def recovery_s(self) -> float:
        """From the first process that started recovering its tables to the last one done
        (they recover side by side); 0 if none was seen recovering."""
        spans = [s for seq in (self.readiness, *self.stages.values()) if (s := recovery_span(seq))]
        if not spans:
            return 0.0
        return max(e for _, e in spans) - min(s for s, _ in spans)

    def timeline(self) -> list[tuple[float, str]]:
        """/readyz reasons with the seconds since spawn at which each began."""
        return [(round(t - self.spawned, 2), r) for t, r in self.readiness]

    def timelines(self) -> dict[str, list[tuple[float, str]]]:
        """The same for each process but the web one, by the stages it runs."""
        return {k: [(round(t - self.spawned, 2), r) for t, r in v] for k, v in self.stages.items()}

    def ready_by_process(self) -> dict[str, float | None]:
        """Seconds from spawn to each process's first "ready" ("web" is the worker's own
        answer, which waits for the others, so a process whose own "ready" the watchers did
        not poll before they stopped was ready by then: it gets the worker's time); None for
        one not seen ready."""
        seqs = {"web": self.readiness, **self.stages}
        got = {k: next((round(t - self.spawned, 2) for t, r in v if r == "ready"), None)
               for k, v in seqs.items()}  # fmt: skip
        return {k: got["web"] if v is None else v for k, v in got.items()}

    def rss_mb(self) -> float:
        """Resident memory of the worker: the supervisor and every process below it, in MB."""
        assert self.proc is not None
        return sum(rss_bytes(pid) for pid in process_tree(self.proc.pid)) / 1e6

    def rss_by_process(self) -> dict[str, float]:
        """RSS in MB of each process of the worker, named by the stages it runs."""
        return self.by_process(rss_bytes)

    def pss_by_process(self) -> dict[str, float]:
        """PSS in MB of each process of the worker (see `pss_bytes`), named as by RSS."""
        return self.by_process(pss_bytes)

    def by_process(self, measure: Callable[[int], int]) -> dict[str, float]:
        """`measure(pid)` in MB for each process of the worker, named by the stages it runs."""
        assert self.proc is not None
        out: dict[str, float] = {}
        for pid in process_tree(self.proc.pid):
            name = stages_of(pid) or ("supervisor" if pid == self.proc.pid else str(pid))
            out[name] = round(out.get(name, 0.0) + measure(pid) / 1e6, 1)
        return out

    def stage_pid(self, stage: str) -> int:
        """The pid of the process that runs `stage` (the supervisor's if none does)."""
        assert self.proc is not None
        for pid in process_tree(self.proc.pid):
            if stage in stages_of(pid).split(","):
                return pid
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        except ProcessLookupError:
            pass


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants, alive now (psutil, or /proc without it).

    >>> os.getpid() in process_tree(os.getpid())
    True
    """
    if psutil is not None:
        try:
            root = psutil.Process(pid)
            return [pid, *(c.pid for c in root.children(recursive=True))]
        except psutil.Error:
            return []
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rpartition(")")[2].split()[1])  # the name in (...) may hold spaces
            kids.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid] if Path(f"/proc/{pid}").exists() else []
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def rss_bytes(pid: int) -> int:
    """Resident memory of one process in bytes (0 if it is gone)."""
    if psutil is not None:
        try:
            return int(psutil.Process(pid).memory_info().rss)
        except psutil.Error:
            return 0
    try:
        resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident * os.sysconf("SC_PAGE_SIZE")


def pss_bytes(pid: int) -> int:
    """Proportional set size of one process in bytes: its resident pages, each shared page
    divided among the processes that map it (0 if it is gone or the kernel cannot say).
    Summed over the worker's processes it counts the shared libraries once, where RSS
    counts them in every process.

    >>> pss_bytes(os.getpid()) > 0
    True
    """
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of `pid` so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def environ_var(pid: int, name: str) -> str:
    """The value of `name` in the environment a process was started with ("" if unset or
    unreadable).

    >>> environ_var(os.getpid(), "PATH") != "", environ_var(os.getpid(), "NO_SUCH_VAR_")
    (True, '')
    """
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return ""
    prefix = name.encode() + b"="
    for item in env:
        if item.startswith(prefix):
            return item[len(prefix) :].decode(errors="replace")
    return ""


def stages_of(pid: int) -> str:
    """The `PRONTO_STAGES` a process was started with ("" if none or unreadable)."""
    return environ_var(pid, "PRONTO_STAGES")


def _watch_ready(url: str, seq: list[tuple[float, str]], stop: threading.Event,
                 poll_s: float) -> None:  # fmt: skip
    while not stop.is_set():
        reason = readyz(url)
        if not seq or seq[-1][1] != reason:
            seq.append((time.monotonic(), reason))
        if reason == "ready":
            return
        stop.wait(poll_s)


def readyz(url: str) -> str:
    """The worker's /readyz reason, or "down" when nothing answers."""
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
            return str(json.load(r).get("reason", "ready"))
    except urllib.error.HTTPError as e:
        try:
            return str(json.load(e).get("reason", e.code))
        except ValueError:
            return str(e.code)
    except (OSError, ValueError):
        return "down"


class Offsets:
    """End offsets of topics and a group's committed offsets, from one kafka-python client."""

    def __init__(self, bootstrap: str) -> None:
        from kafka import KafkaConsumer

        self.bootstrap = bootstrap
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._groups: dict[str, object] = {}

    def _parts(self, topic: str) -> list[object]:
        from kafka import TopicPartition

        parts = self._consumer.partitions_for_topic(topic) or set()
        return [TopicPartition(topic, p) for p in sorted(parts)]

    def topics(self) -> set[str]:
        return set(self._consumer.topics())

    def end(self, topic: str) -> int:
        """Records in `topic` (sum of the partitions' end offsets)."""
        tps = self._parts(topic)
        return sum(self._consumer.end_offsets(tps).values()) if tps else 0

    def committed(self, group: str, topic: str) -> int:
        """Sum of `group`'s committed offsets on `topic`."""
        from kafka import KafkaConsumer

        reader = self._groups.get(group)
        if reader is None:  # a member of no generation: it reads the offsets, never joins
            reader = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=group,
                                   enable_auto_commit=False)  # fmt: skip
            self._groups[group] = reader
        total = 0
        for tp in self._parts(topic):
            got = reader.committed(tp)  # type: ignore[attr-defined]
            total += got or 0
        return total

    def close(self) -> None:
        self._consumer.close()
        for reader in self._groups.values():
            reader.close()  # type: ignore[attr-defined]


def skip_to_end(bootstrap: str, group: str, topics: list[str]) -> int:
    """Commit `group`'s offsets at the end of `topics` (no member may be running): the next
    worker starts on fresh traffic, not on the backlog of a saturation run. Returns the skipped
    record count: the records past the offsets `group` had committed (a partition it never
    committed on counts for nothing, so a topic the group does not read adds nothing)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(tps)
        before = {tp: consumer.committed(tp) for tp in tps}
        consumer.seek_to_end(*tps)
        ends = {tp: consumer.position(tp) for tp in tps}
        consumer.commit()
        return sum(ends[tp] - at for tp, at in before.items() if at is not None)
    finally:
        consumer.close()


def changelog_keys(bootstrap: str, topic: str, count: int, received_at: float) -> int:
    """Write `count` synthetic entries to a table's changelog, in the format the worker wrote
    its own (copied from its first record): the table a restarted worker must rebuild. Entry
    `i` goes to partition `i % partitions`: a table partition is a store of its own (RocksDB),
    read through the partition of the record being processed, so an entry is only found where
    the worker would have written it."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=3000, auto_offset_reset="earliest")  # fmt: skip
    try:
        parts = sorted(consumer.partitions_for_topic(topic) or ())
        consumer.assign([TopicPartition(topic, p) for p in parts])
        sample = next(iter(consumer), None)
    finally:
        consumer.close()
    # Faust's tables key their changelogs with JSON: an empty changelog takes that too.
    json_keys = sample is None or (sample.key or b"").startswith(b'"')
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20,
                             batch_size=512 * 1024)  # fmt: skip
    try:
        for i in range(count):
            fid = f"sms-benchkey{i:09d}"
            key = json.dumps(fid).encode() if json_keys else fid.encode()
            producer.send(topic, key=key, value=json.dumps(received_at).encode(),
                          partition=parts[i % len(parts)])  # fmt: skip
        producer.flush(120)
    finally:
        producer.close(30)
    return count


def scrape(url: str, timeout_s: float = 10.0) -> dict[str, float]:
    """The worker's /metrics as {"name{labels}": value} (empty if it does not answer)."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=timeout_s) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                continue
    return out
