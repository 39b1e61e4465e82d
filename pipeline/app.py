"""The composition root: the Faust app, its topics and tables, the metrics and the senders.

Nothing else in the package opens a client. `build()` wires the stages it is given into one
Faust app. `pronto worker` runs three such apps in three processes (see `pipeline/worker.py`):
`web` (ingest, console, API), `score`, and `alert` (the alert desk and the notify stage), so
that each has a consumer and a fetch loop of its own and no stage's backlog starves another.
N workers in one group share the partitions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faust
from prometheus_client import CollectorRegistry

from pipeline import faust_fixes, spill_store
from pipeline.alert_index import folds_for
from pipeline.config import Venues, load_venues
from pipeline.metrics import Metrics
from pipeline.mirror import TopicMirror, apply_optout
from pipeline.privacy import Privacy
from pipeline.scoring.windows import WindowSpec, parse_windows
from pipeline.settings import STAGES, Settings
from pipeline.table_store import bound_rocksdb, register_rocksdb, state_dir
from pipeline.topics import COMPACTED, MODEL_MAX_BYTES, SINGLE_PARTITION, TOPICS

if TYPE_CHECKING:
    from pipeline.alerts.senders import PageSender
    from pipeline.alerts.themes_stage import AlertThemes
    from pipeline.ingest.service import Ingest
    from pipeline.scoring.drift import DriftMonitor
    from pipeline.scoring.sentiment import SentimentModel
    from pipeline.scoring.themes_stage import ScoreThemes
    from pipeline.sentiment_snapshot import CompactSnapshot
    from pipeline.side_feed import SideFeed

logger = logging.getLogger(__name__)


@dataclass
class Pronto:
    """Everything a stage needs, built once: handed to each stage's `register()`."""

    settings: Settings
    venues: Venues
    app: faust.App
    metrics: Metrics
    registry: CollectorRegistry
    privacy: Privacy
    sender: PageSender | None  # the notify stage's; None in a process that sends no pages
    optouts: TopicMirror  # customer_ref -> opted out, the whole list (every process that sends)
    alert_index: TopicMirror  # the alerts' latest states, from `alerts.events` (console, STATUS)
    windows: tuple[WindowSpec, ...]
    stages: frozenset[str] = frozenset(STAGES)
    topics: dict[str, faust.TopicT] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)
    table_store: str = "memory://"  # where the score stage keeps its tables (`table_store_url`)
    started_at: float = field(default_factory=time.time)
    model: SentimentModel | None = None  # the score stage's live model
    snapshot: CompactSnapshot | None = None  # ingest's read-only copy of it, for triage
    install_model: Callable[[SentimentModel, DriftMonitor], None] | None = None
    learn_now: Callable[[], int] | None = None  # the score stage learns its queue at once
    lang_ready: bool = False
    ingest: Ingest | None = None  # the web stage's shared intake (created on first use)
    themes: ScoreThemes | None = None  # the score stage's tagger and theme counts
    alert_themes: AlertThemes | None = None  # the alert stage's tagger (the fast-path copy)
    # The notify stage of this process takes an outbox message from the desk as soon as the
    # broker has it (`notify.hand_off`); None: no notify stage here, or `page_handoff` is off.
    hand_off: Callable[[bytes, Any], None] | None = None
    # The topics this process reads by a Kafka consumer of its own (`side_feed.py`): the score
    # stage's `feedback.raw`, the alert stage's `feedback.urgent` and `feedback.scored`.
    side_feeds: list[SideFeed] = field(default_factory=list)

    def topic(self, name: str) -> faust.TopicT:
        return self.topics[name]

    def store_for(self, table: str) -> str:
        """The `store=` of the score stage's table `table` (see `table_url`)."""
        return table_url(self.table_store, table)

    @property
    def model_ready(self) -> bool:
        """The score stage has its model, and ingest its snapshot (where they run)."""
        return (self.model is not None or "score" not in self.stages) and (
            self.snapshot is not None or "web" not in self.stages
        )


def make_sender(settings: Settings) -> PageSender:
    """Twilio when both credentials are set, otherwise the console."""
    # Imported here: the twilio client (with requests) is resident only where pages are sent.
    from pipeline.alerts.senders import ConsoleSender, TwilioSender

    if settings.twilio_enabled:
        status_cb = f"{settings.public_url.rstrip('/')}/sms/status" if settings.public_url else None
        return TwilioSender(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            settings.twilio_from,
            settings.twilio_api_base or None,
            status_cb,
            concurrency=settings.send_concurrency,
        )
    return ConsoleSender()


def table_store_url(settings: Settings, stages: frozenset[str]) -> str:
    """The store of the score stage's tables. RocksDB keeps them across restarts, so a restart
    reads only the changelogs' tail.

    >>> table_store_url(Settings(store="memory"), frozenset({"score"}))
    'inmemory://'
    >>> table_store_url(Settings(), frozenset({"score"})), table_store_url(Settings(), frozenset({"alert"}))
    ('rocksdb://', 'spill://')
    """
    if settings.store == "rocksdb" and "score" in stages:
        return "rocksdb://"
    return default_store_url(settings)


def default_store_url(settings: Settings) -> str:
    """The store of the other stages' tables. A local store that survives a SIGKILL which
    lost the producer's buffer would run ahead of the changelog and of the outputs that went
    with it; the score stage's values are made for that (each carries the record it last took,
    and a replay writes it again), the alert desk's are not. So theirs (`spill_store.py`, a
    file per table) takes a write only once Kafka has its changelog record, and a restart
    reads only the changelog's tail past it. With `PRONTO_STORE=memory`, Faust's memory
    store, noting each key's partition (`spill_store.MemoryStore`), rebuilt at each start.

    >>> default_store_url(Settings()), default_store_url(Settings(store="memory"))
    ('spill://', 'inmemory://')
    """
    return "inmemory://" if settings.store == "memory" else "spill://"


def table_url(store: str, table: str) -> str:
    """The store URL of one table: `store`'s scheme with the table's name as its path.

    Faust takes a Table's own `store` only when the URL is truthy (`self._store or
    app.conf.store`), and yarl's `URL("rocksdb://")` is falsy (no host, no path): a bare scheme
    silently gives the app's default store, memory, so that every restart replayed the whole
    changelogs. The name makes it truthy; it is also the path Faust gives a store of its own
    (files `<tabledir>/<table>-<partition>.db`).

    >>> table_url("rocksdb://", "seen-feedback"), table_url("memory://", "score-rolling")
    ('rocksdb:seen-feedback', 'memory:score-rolling')
    """
    return f"{store.split(':', 1)[0]}:{table}"


def linger_ms(settings: Settings, stages: frozenset[str]) -> int:
    """How long a process's producer waits to fill a batch. The score process's output is not
    on the page path: bigger, fewer produce requests. The alert process writes a few records
    per scored record (changelogs, events); its pages go by a producer of their own
    (`alerts/page_out.py`); a process with the web stage answers a webhook only once Kafka has
    the record: no wait.

    The alert process lingered 5 ms while Faust read `feedback.scored`: Faust's fetch loop
    commits inline every `broker_commit_every` (100) acknowledged records and first flushes
    the producer, so no record reached the agents while a batch lingered
    (`faust/transport/consumer.py`). Its own consumer reads that topic now (`side_feed.py`) and
    commits in a task of its own, and at 5 ms the process sent some 4,100 produce requests for
    a 60,000-record drain (about 180 a second), the broker's largest cost. 25 ms, with batches of
    up to 1 MiB (16 KB filled in about 16 records): about 1,300 requests, and the broker's CPU a
    record 0.10-0.15 ms instead of 0.14-0.20 (`score_drain --stages worker`, README,
    "Performance"). With `PRONTO_SCORED_FEED=false` (Faust's agent again), set it back to 5.

    >>> s = Settings()
    >>> linger_ms(s, frozenset({"score"})), linger_ms(s, frozenset({"alert", "notify"}))
    (20, 25)
    >>> linger_ms(s, frozenset({"web"})), linger_ms(s, frozenset({"web", "alert"}))
    (1, 1)
    """
    if stages == frozenset({"score"}):
        return settings.score_linger_ms
    if "alert" in stages and "web" not in stages:
        return settings.alert_linger_ms
    return 1


MAX_POLL_RECORDS = 1_000  # records one poll of the score process decodes, at most


def make_faust_app(settings: Settings, stages: frozenset[str] = frozenset(STAGES)) -> faust.App:
    faust_fixes.apply()  # offsets are never committed past an unprocessed record
    home = settings.home.resolve()
    (home / "faust").mkdir(parents=True, exist_ok=True)
    app_id = settings.app_id_for(stages)
    batched = stages == frozenset({"score"})
    lingers = linger_ms(settings, stages) > 1  # its batches fill for a while: let them grow
    spill_store.register()
    if table_store_url(settings, stages) == "rocksdb://":
        register_rocksdb()  # a partition's copy held too long ago is rebuilt
        bound_rocksdb(settings.rocksdb_cache_mb, settings.rocksdb_write_buffer_mb)
    if settings.store == "memory":
        datadir = home / "faust" / f"{app_id}-{settings.web_port}"
    else:  # keyed by the app id, not the port, so that a restart finds its tables again
        datadir = state_dir(home / "faust", app_id, settings.web_port)
    return faust.App(
        app_id,
        broker=settings.broker or "kafka://127.0.0.1:9092",
        datadir=str(datadir),
        store=default_store_url(settings),  # the score stage's tables choose their own
        autodiscover=False,
        # Faust's web server (aiohttp) where the web stage runs; elsewhere `web/internal.py`.
        web_enabled="web" in stages,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_application_options={"client_max_size": settings.max_body_bytes},
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        table_standby_replicas=0,
        processing_guarantee=settings.processing_guarantee,
        producer_acks=-1,
        producer_linger_ms=linger_ms(settings, stages),
        producer_max_batch_size=1_048_576 if batched or lingers else 16_384,
        producer_max_request_size=MODEL_MAX_BYTES,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=100_000 if batched else 100,
        broker_commit_interval=0.5,
        stream_wait_empty=False,
        # Records fetched ahead and waiting per partition: Faust's 4,096 held tens of MB per
        # process under a backlog, for no throughput (the score stage takes 1,000 at a time).
        stream_buffer_maxsize=settings.stream_buffer,
        # And what one poll decodes: by default every record of the fetched batches, which
        # Faust then queues past its buffers' bounds. Under a backlog the score process held
        # some 40,000 decoded records (about 14 MB, tracemalloc); the rest of a fetch now waits
        # in aiokafka as the bytes it came in. `score_drain --stages worker`, 60,000 records:
        # 1,232/s and 171 MB for the score process, against 1,066/s and 181 MB. The score
        # process only: elsewhere a poll's limit could leave a complaint for the next poll.
        broker_max_poll_records=MAX_POLL_RECORDS if batched else None,
        # What one fetch brings of a partition: Faust's 1 MiB held about 9 MB of fetched bytes
        # in the score process, whose Faust consumer reads only the alert events and its
        # tables' changelogs (`score_drain --stages worker --n 300000`, alternating, score
        # process over the second half: 164.6/166.5 MB at 128 KiB against 175.4/175.8). Not
        # for the side feeds: theirs at 128 KiB too gave 172.6/176.9 MB, no better than 1 MiB.
        consumer_max_fetch_size=settings.fetch_partition_kb * 1024,
        # A killed worker's partitions move within seconds, not the default minute.
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(1.0, settings.session_timeout_s / 4),
        logging_config=None,
    )


def build(
    settings: Settings | None = None,
    *,
    venues: Venues | None = None,
    registry: CollectorRegistry | None = None,
    sender: PageSender | None = None,
    stages: frozenset[str] | None = None,
) -> Pronto:
    """Build the pipeline's `stages` (default: all of them, in one app): their topics, tables,
    agents, timers and web routes."""
    from pipeline import lag, mirrors, priority, recovery_watch

    settings = settings or Settings()
    stages = frozenset(STAGES) if stages is None else stages
    venues = venues or load_venues(settings.config, settings.ack_timeout_s)
    registry = registry or CollectorRegistry()
    app = make_faust_app(settings, stages)
    s = settings
    ctx = Pronto(
        settings=settings,
        venues=venues,
        app=app,
        metrics=Metrics(registry),
        registry=registry,
        privacy=Privacy(settings.secret_key.get_secret_value()),
        # Only the notify stage sends pages; elsewhere no twilio client is built (or imported).
        sender=sender or (make_sender(settings) if "notify" in stages else None),
        optouts=TopicMirror(s.topic("customers.optouts"), s.bootstrap_servers, apply_optout),
        alert_index=TopicMirror(
            s.topic("alerts.events"),
            s.bootstrap_servers,
            folds_for(stages),  # the web stage's view, the alert desk's owners
            since_s=7 * 86400,
        ),
        windows=parse_windows(s.windows),
        stages=stages,
        table_store=table_store_url(s, stages),
    )
    for short, name in TOPICS.items():
        ctx.topics[short] = app.topic(
            settings.topic(name), key_type=bytes, value_type=bytes,
            key_serializer="raw", value_serializer="raw",
            partitions=1 if short in SINGLE_PARTITION else settings.partitions,
            compacting=short in COMPACTED,
        )  # fmt: skip
    mirrors.register(ctx)
    # Each stage's modules are imported only where it runs: river (with numpy and scipy, about
    # 90 MB resident) is needed by ingest and scoring, never by the alert process.
    if "web" in stages:
        from pipeline.ingest import routes as ingest_routes

        ingest_routes.register_tasks(ctx)
    if "score" in stages:
        from pipeline.scoring import stage as score_stage

        score_stage.register(ctx)
    if "alert" in stages:
        from pipeline.alerts import stage as alert_stage

        alert_stage.register(ctx)
    if "notify" in stages:
        from pipeline.alerts import notify as notify_stage

        notify_stage.register(ctx)
    lag.register(ctx)
    recovery_watch.register(ctx)
    priority.register(ctx)

    if "web" in stages:

        def on_webserver_init(web: Any) -> None:
            from pipeline.ingest import routes as ingest_routes
            from pipeline.web import routes as web_routes

            router = web.web_app.router
            ingest_routes.register(ctx, router)
            web_routes.register(ctx, router)

        app.on_webserver_init = on_webserver_init  # type: ignore[method-assign]
    if not settings.verify_signatures:
        logger.warning(
            "!!! PRONTO_VERIFY_SIGNATURES=false: Twilio signatures are NOT checked. "
            "Anyone can post fake SMS. Use this for local development only. !!!"
        )
    return ctx


def start_internal_endpoint(ctx: Pronto) -> None:
    """A process without the web stage answers /healthz, /readyz, /metrics and the score
    stage's views on its port (`web/internal.py`). Started on the loop before Faust starts
    (Faust starts an app's tasks only once its tables are recovered), so that /readyz says
    "recovering tables" while they are."""
    from pipeline.web import internal

    s = ctx.settings
    loop = ctx.app.loop
    server = loop.run_until_complete(internal.serve(ctx, s.web_host, s.web_port))

    @ctx.app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def close_internal_endpoint(sender: Any, **kwargs: Any) -> None:
        server.close()


def check_tables(ctx: Pronto) -> list[str]:
    """Before the tables open: drop the local copy of any of the process's tables whose
    changelog was recreated (RocksDB's for the score stage, `spill://`'s elsewhere)."""
    from pipeline import table_store
    from pipeline.topics import TABLES

    s = ctx.settings
    app_id = s.app_id_for(ctx.stages)
    if s.store == "memory":
        return []
    tables = [t for stage in sorted(ctx.stages) for t in TABLES.get(stage, ())]
    if not tables:
        return []
    changelogs = {table: f"{app_id}-{table}-changelog" for table in tables}
    tabledir = Path(ctx.app.conf.tabledir)
    return table_store.check_tables_apart(tabledir, s.bootstrap_servers, changelogs)
