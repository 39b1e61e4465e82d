"""The one settings class: environment variables with the prefix `PRONTO_`.

Read by a small loader of our own rather than pydantic-settings: every stage process reads its
settings, and pydantic with pydantic-settings held about 24 MB of each one's RSS (three
processes: about 70 MB of the worker's 400 MB budget) for some thirty typed variables. The
loader keeps what mattered of it: each field typed from its annotation, the environment
(`PRONTO_<NAME>`, any case) under keyword arguments, a clear error naming the variable, frozen
instances and secrets that never print.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from pipeline.kafka_local import deploy_dir

ENV_PREFIX = "PRONTO_"
TRUE = ("1", "true", "yes", "on", "t", "y")
FALSE = ("0", "false", "no", "off", "f", "n")


class SecretStr:
    """A secret: `get_secret_value()` gives it, and it prints as stars.

    >>> s = SecretStr("tok")
    >>> s, str(s), s.get_secret_value(), s == SecretStr("tok")
    (SecretStr('**********'), '**********', 'tok', True)
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __repr__(self) -> str:
        return f"SecretStr({str(self)!r})"


def convert(name: str, kind: Any, raw: Any) -> Any:
    """`raw` (a keyword argument, or the environment's string) as the type `kind` of field
    `name`, or a ValueError that names the variable.

    >>> convert("partitions", int, "8"), convert("log_json", bool, "TRUE")
    (8, True)
    >>> convert("ack_timeout_s", float | None, ""), convert("home", Path, "/tmp")
    (None, PosixPath('/tmp'))
    >>> convert("partitions", int, "eight")
    Traceback (most recent call last):
    ...
    ValueError: PRONTO_PARTITIONS: an integer, got 'eight'
    """
    optional = typing.get_origin(kind) in (typing.Union, type(int | None))
    if optional:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        (kind,) = [k for k in typing.get_args(kind) if k is not type(None)]
    if isinstance(raw, kind) and not (kind is int and isinstance(raw, bool)):
        return raw
    what = {int: "an integer", float: "a number", bool: "true or false"}.get(kind, kind.__name__)
    try:
        if kind is bool:
            text = str(raw).strip().lower()
            if text in TRUE or text in FALSE:
                return text in TRUE
            raise ValueError
        if kind is int and isinstance(raw, float) and not raw.is_integer():
            raise ValueError
        if kind in (int, float) and isinstance(raw, str):
            raw = raw.strip()
        return kind(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{ENV_PREFIX}{name.upper()}: {what}, got {raw!r}") from None


STAGES = ("web", "score", "alert", "notify")
# How `pronto worker` runs the stages: one process each for ingest and the console (web), for
# scoring, and for the page path (the alert desk and the notify stage). Each process is a Faust
# app with a consumer and a fetch loop of its own, so no stage's backlog starves another.
PROCESSES: tuple[frozenset[str], ...] = (
    frozenset({"web"}),
    frozenset({"score"}),
    frozenset({"alert", "notify"}),
)


def parse_stages(value: str) -> frozenset[str] | None:
    """The stages of `PRONTO_STAGES` / `--stages`; None: the default supervised processes.

    >>> sorted(parse_stages("alert, notify"))
    ['alert', 'notify']
    >>> parse_stages("") is None
    True
    >>> sorted(parse_stages("all")) == sorted(STAGES)
    True
    >>> parse_stages("scoring")
    Traceback (most recent call last):
    ...
    ValueError: unknown stage 'scoring': choose from web, score, alert, notify, or all
    """
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        return None
    if names == ["all"]:
        return frozenset(STAGES)
    for n in names:
        if n not in STAGES:
            raise ValueError(f"unknown stage {n!r}: choose from {', '.join(STAGES)}, or all")
    return frozenset(names)


def positive(env: str, unit: str) -> Callable[[float], float]:
    """A setting's check: a number over 0, or a clear error naming it."""

    def check(v: float) -> float:
        if not v > 0:
            raise ValueError(f"{env}: {unit} > 0, got {v!r}")
        return v

    return check


class Settings:
    """Read once at start; frozen. Secrets are `SecretStr` and never logged.

    Each field comes from its keyword argument, else from `PRONTO_<NAME>`, else its default.

    >>> Settings(partitions="4", broker="127.0.0.1:9092").partitions, Settings(broker="b:1").broker
    (4, 'kafka://b:1')
    >>> Settings(store="tape")
    Traceback (most recent call last):
    ...
    ValueError: PRONTO_STORE: rocksdb or memory, got 'tape'
    """

    FIELDS: ClassVar[dict[str, Any]]

    broker: str = ""  # kafka://127.0.0.1:9092; empty: `pronto demo` starts its own
    web_port: int = 6066
    web_host: str = "127.0.0.1"
    home: Path = Path(".pronto")
    config: Path = deploy_dir() / "pronto.demo.toml"
    public_url: str = ""  # the base URL Twilio calls; signatures are checked against it
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_from: str = "+15005550006"  # the Pronto number pages are sent from
    twilio_api_base: str = ""  # default: Twilio's own API
    secret_key: SecretStr = SecretStr("pronto-dev-secret-change-me")
    ack_timeout_s: float | None = None  # overrides every location's ack_timeout_s
    verify_signatures: bool = True  # False only for local development: logged loudly
    app_id: str = "pronto"
    topic_prefix: str = ""  # lets tests give each run its own topics
    partitions: int = 8
    replication: int = 1
    windows: str = "5m,1h,24h"
    lateness_s: float = 120.0
    ingest_timeout_s: float = 5.0  # how long a request waits for Kafka's ack before 503
    max_body_bytes: int = 16_384
    rate_limit_per_min: int = 30  # per client (IP or sender) on the public endpoints
    pages_per_supervisor_per_min: int = 6
    log_json: bool = False
    log_level: str = "INFO"
    model_save_interval_s: float = 30.0  # a crash loses at most this much learning
    # Ingest's triage judges text with a snapshot of the score stage's model: the score stage
    # publishes one this often (when the model has learned since), and ingest looks for a newer
    # one this often. A complaint that only a newer model finds negative waits for the score
    # stage's copy, behind its backlog: the fresher the snapshot, the fewer do.
    snapshot_interval_s: float = 10.0
    snapshot_refresh_s: float = 5.0
    session_timeout_s: float = 10.0  # how soon a dead worker's partitions move
    recovery_stall_s: float = 30.0  # a table recovery this long without progress restarts (0: off)
    processing_guarantee: str = "at_least_once"  # or exactly_once
    stages: str = ""  # empty: `pronto worker` supervises one process per stage group; "all": one
    peers: str = ""  # set by `pronto worker` for the web process: "score=http://...,alert=..."
    page_handoff: bool = True  # the desk hands its messages to the notify stage in its process
    page_producer: bool = True  # the alert process writes its pages by a producer of their own
    send_concurrency: int = 48  # Twilio calls in flight at once, per notify stage (see README)
    # Table store: "rocksdb" (files under PRONTO_HOME; a restart reads only the changelogs'
    # tail) or "memory" (every start replays the whole changelogs).
    store: str = "rocksdb"
    rocksdb_cache_mb: int = 8  # one block cache for all table partitions, memtables charged to it
    rocksdb_write_buffer_mb: int = 1  # memtable size (2 at most), per table partition
    stream_buffer: int = 1024  # records fetched ahead per input partition, at most
    fetch_partition_kb: int = 128  # what one fetch of Faust's consumer brings of a partition
    score_batch: int = 1000  # records the score stage takes at once (at most)...
    score_batch_s: float = 0.02  # ...or what arrived within this long
    score_linger_ms: int = 20  # the score process's producer waits this long to fill a batch
    alert_linger_ms: int = 25  # and the alert process's (pages go by a producer of their own)
    # The most of the score process's loop that learning takes (0.25 before `river_mirror`
    # made learning about a third cheaper: 0.2 now learns more texts a second than 0.25 did).
    learn_share: float = 0.2
    model_max_terms: int = 50_000  # the sentiment model's vocabulary, at most (rarest go first)
    scored_lane_share: float = 0.6  # the most of the alert process's loop its scored lane takes
    alert_batch: int = 8  # scored records the alert stage takes at once (at most)...
    alert_batch_s: float = 0.01  # ...or what arrived within this long
    # Topics read by a Kafka consumer of their own, not through Faust's (`side_feed.py`): the
    # score process's `feedback.raw`, the alert process's `feedback.urgent` and `feedback.scored`.
    raw_feed: bool = True
    urgent_feed: bool = True
    scored_feed: bool = True
    send_retry_s: float = 30.0  # how long a 429/5xx from Twilio is retried before escalating
    topics_ready: bool = False  # set by `pronto worker` for its processes: it made the topics
    nice_when_ready: int = 0  # CPU niceness a process adds once ready (worker: 10 for score)
    event_loop: str = "uvloop"  # each stage process's asyncio loop: "uvloop" or "asyncio"
    # How long a thread keeps the GIL while another waits for it (Python's default: 5 ms). In
    # each stage process Faust's consumer thread hands every record to the loop, and the loop
    # hands each page on through Kafka again: at 1 ms a hand-over waits less (see README).
    switch_interval_ms: float = 1.0
    gc_freeze: bool = True  # once ready, keep the startup heap out of the collector's scans
    gc_gen0: int = 10_000  # allocations between collections of the youngest generation (700)

    @staticmethod
    def _store(v: str) -> str:
        v = v.strip().lower().removesuffix("://")
        if v not in ("rocksdb", "memory"):
            raise ValueError(f"PRONTO_STORE: rocksdb or memory, got {v!r}")
        return v

    @staticmethod
    def _event_loop(v: str) -> str:
        v = v.strip().lower()
        if v not in ("uvloop", "asyncio"):
            raise ValueError(f"PRONTO_EVENT_LOOP: uvloop or asyncio, got {v!r}")
        return v

    _snapshot_interval_s = staticmethod(positive("PRONTO_SNAPSHOT_INTERVAL_S", "seconds"))
    _snapshot_refresh_s = staticmethod(positive("PRONTO_SNAPSHOT_REFRESH_S", "seconds"))
    _switch_interval_ms = staticmethod(positive("PRONTO_SWITCH_INTERVAL_MS", "milliseconds"))
    _gc_gen0 = staticmethod(positive("PRONTO_GC_GEN0", "allocations"))  # 0 stops collecting
    _fetch_partition_kb = staticmethod(positive("PRONTO_FETCH_PARTITION_KB", "KiB"))

    @staticmethod
    def _broker(v: str) -> str:
        if v and "://" not in v:
            return f"kafka://{v}"
        return v

    def __init__(self, **given: Any) -> None:
        unknown = sorted(set(given) - set(self.FIELDS))
        if unknown:
            raise TypeError(f"Settings: unknown setting(s) {', '.join(unknown)}")
        env = {k.upper(): v for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)}
        for name, kind in self.FIELDS.items():
            if name in given:
                raw = given[name]
            else:
                raw = env.get(f"{ENV_PREFIX}{name.upper()}", getattr(type(self), name))
            value = convert(name, kind, raw)
            check = getattr(self, f"_{name}", None)
            object.__setattr__(self, name, check(value) if check else value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Settings are frozen: cannot set {name}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in self.model_dump().items())})"

    def model_dump(self) -> dict[str, Any]:
        """Every field and its value (secrets as `SecretStr`)."""
        return {name: getattr(self, name) for name in self.FIELDS}

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token.get_secret_value())

    @property
    def group_id(self) -> str:
        """The Faust app id (consumer group, changelog names): prefixed like the topics, so
        that two runs with different prefixes on one broker never share tables."""
        if self.topic_prefix and not self.app_id.startswith(self.topic_prefix):
            return f"{self.topic_prefix}{self.app_id}"
        return self.app_id

    def app_id_for(self, stages: frozenset[str]) -> str:
        """The Faust app id of a process running `stages`: the alert stage keeps the plain id
        (and its tables), the others get a suffix, so each is a consumer group of its own.

        >>> s = Settings(app_id="pronto")
        >>> s.app_id_for(frozenset(STAGES)), s.app_id_for(frozenset({"alert", "notify"}))
        ('pronto', 'pronto')
        >>> s.app_id_for(frozenset({"score"})), s.app_id_for(frozenset({"web"}))
        ('pronto-score', 'pronto-web')
        """
        if "alert" in stages or stages == frozenset(STAGES):
            return self.group_id
        return f"{self.group_id}-{'-'.join(s for s in STAGES if s in stages)}"

    def side_group(self, lane: str) -> str:
        """The consumer group of a stage's own reader of a topic ("raw", "urgent", "scored":
        `side_feed.py`).

        >>> Settings(app_id="pronto").side_group("scored")
        'pronto-scored'
        """
        return f"{self.group_id}-{lane}"

    def consumer_groups(self, processes: Iterable[frozenset[str]]) -> list[str]:
        """Every consumer group that the processes running `processes` commit offsets in.

        >>> Settings(app_id="p").consumer_groups([frozenset({"score"}), frozenset({"alert"})])
        ['p-score', 'p-raw', 'p', 'p-urgent', 'p-scored']
        """
        groups = []
        for stages in processes:
            groups.append(self.app_id_for(stages))
            feeds = {"raw": "score" in stages and self.raw_feed,
                     "urgent": "alert" in stages and self.urgent_feed,
                     "scored": "alert" in stages and self.scored_feed}  # fmt: skip
            groups += [self.side_group(lane) for lane, fed in feeds.items() if fed]
        return groups

    @property
    def peer_urls(self) -> dict[str, str]:
        """stage group -> base URL of the process that runs it (from `PRONTO_PEERS`)."""
        out = {}
        for part in self.peers.split(","):
            name, _, url = part.partition("=")
            if name.strip() and url.strip():
                out[name.strip()] = url.strip().rstrip("/")
        return out

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def bootstrap_servers(self) -> str:
        """`host:port[,host:port]` without the `kafka://` scheme, for kafka-python."""
        return ",".join(part.split("://", 1)[-1] for part in self.broker.split(";") if part)


Settings.FIELDS = {
    name: kind for name, kind in typing.get_type_hints(Settings).items() if name != "FIELDS"
}
