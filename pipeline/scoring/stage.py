"""The score stage: `feedback.raw` -> sentiment, rolling counters -> `feedback.scored`.

Thin agents: decode, call the pure `Scorer`, tag the themes, update the tables, send,
observe. Records come in batches: a poll of the stage's own Kafka consumer (`side_feed.py`, at
most `PRONTO_SCORE_BATCH` records), or through Faust (`PRONTO_RAW_FEED=false`) as many or what
arrived within `PRONTO_SCORE_BATCH_S`. Each location touched is written once per batch, as
one table value (`LocationCounts`: its CSAT/NPS counters and its theme counts,
`themes_stage.py`), so a feedback costs one changelog record for its counters instead of one
per counter (a poll's records mostly come from one partition, and its locations). The scored
records go to the producer once per batch, one Kafka batch per partition (`batch_out.py`),
and the dedupe marks are one changelog record per batch and partition (`seen_batches.py`).
Labelled texts are learned by a task in time slices (`PRONTO_LEARN_SHARE` of the loop at
most), not on the record's path. Records that cannot be decoded go to `feedback.dlq` with the
reason. The model is saved to the compacted `pronto.model` topic and restored at start, so a
restart keeps what it learned.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pipeline.config import SCALES
from pipeline.current_event import as_event
from pipeline.delivery import deliver
from pipeline.dlq import send_dlq
from pipeline.memory import release_free_memory
from pipeline.model_store import MODEL_KEY, encode_model, encode_snapshot, load_model
from pipeline.records import Feedback, RecordError, ScoredFeedback
from pipeline.scoring import themes_stage
from pipeline.scoring.batch_out import BatchOut
from pipeline.scoring.counts import is_other_copy, seen_mark
from pipeline.scoring.drift import DriftMonitor
from pipeline.scoring.location_counts import LocationCounts
from pipeline.scoring.scorer import Learner, Scorer
from pipeline.scoring.scores_view import ScoresCollector, current_scores, location_summary, owns
from pipeline.scoring.seen_batches import (
    SeenTable,
    aging_keys,
    batch_key,
    batch_value,
    batched_mark,
    is_batch_key,
)
from pipeline.scoring.sentiment import SentimentModel, label_from_score
from pipeline.sentiment_snapshot import SentimentSnapshot
from pipeline.side_feed import FeedEvent, owned_by, side_feed
from pipeline.themes.venue import CORRECTED

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)

__all__ = ["check_answer", "current_scores", "owns", "register"]

DEDUPE_HORIZON_S = 900.0
PRUNE_EVERY_S = 60.0
LEARN_SLICE_S = 0.01  # the idle learner holds the loop this long at a time...
LEARN_IDLE_S = 0.05  # ...every this long, once no batch came for as long
YIELD_EVERY = 64  # records between yields to the loop inside a batch (timers, web, other agents)


def check_answer(fb: Feedback) -> None:
    """Raise `RecordError` for an answer no scale allows: it would crash or skew the counters.

    >>> check_answer(Feedback("f", 0.0, "sms", "x", score=9, scale="nps10"))
    >>> check_answer(Feedback("f", 0.0, "sms", "x", score=9, scale="csat5"))
    Traceback (most recent call last):
    ...
    pipeline.records.RecordError: Feedback.score: 9 is not an answer on csat5
    """
    if fb.scale is not None and fb.scale not in SCALES:
        raise RecordError(f"Feedback.scale: one of {SCALES}, got {fb.scale!r}")
    if fb.score is not None and fb.scale and label_from_score(fb.score, fb.scale) is None:
        raise RecordError(f"Feedback.score: {fb.score} is not an answer on {fb.scale}")


def register(ctx: Pronto) -> None:
    app = ctx.app
    s = ctx.settings
    windows = ctx.windows
    # One key per location: its rolling counters and the last record they took.
    counters = app.Table("score-rolling", default=None, partitions=s.partitions,
                         store=ctx.store_for("score-rolling"))  # fmt: skip
    # The dedupe marks: ids in the local store, one changelog record per batch and partition.
    seen: Any = app.tables.add(
        SeenTable(
            app,
            name="seen-feedback",
            default=None,
            store=ctx.store_for("seen-feedback"),
            beacon=app.tables.beacon,
            partitions=s.partitions,
        )
    )
    ctx.tables.update(counters=counters, seen=seen)
    ctx.registry.register(ScoresCollector(ctx))  # type: ignore[arg-type]
    themes = themes_stage.register(ctx)  # tagged and counted here, with the other counters
    ready = asyncio.Event()
    state: dict[str, Any] = {"saved_version": -1, "published_version": -1, "last_prune": 0.0,
                             "scorer": None, "last_batch": 0.0, "busy": False}  # fmt: skip
    cache: dict[str, LocationCounts] = {}  # location -> its table value, decoded
    pruned: dict[str, int] = {}  # location -> the last tick (of `prune_every_s`) it was pruned
    prune_every_s = min((w.bucket_s for w in windows), default=1)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def forget_totals(sender: Any, *args: Any, **kwargs: Any) -> None:
        cache.clear()  # the partitions (and their counters) may move to another worker
        pruned.clear()
        last_event.clear()

    def install(model: SentimentModel, drift: DriftMonitor) -> None:
        """Put a model in place and let the agents run (tests call this directly)."""
        state["scorer"] = Scorer(model, drift, windows, s.lateness_s)
        state["learner"] = Learner(model)
        state["saved_version"] = model.version
        state["terms_pruned"] = model.terms_pruned
        model.max_terms = s.model_max_terms
        ctx.model = model
        ctx.metrics.model_version.set(model.version)
        ctx.metrics.model_terms.set(model.n_terms)
        ctx.metrics.sentiment_accuracy.set(model.accuracy)
        ready.set()

    ctx.install_model = install

    @app.task
    async def restore_model() -> None:
        if ready.is_set():
            return
        install(*await load_model(ctx.settings))

    @app.timer(s.model_save_interval_s)
    async def save_model() -> None:
        scorer: Scorer | None = state["scorer"]
        if scorer is None or scorer.model.version == state["saved_version"]:
            return
        # The pickle is the snapshot, taken on the loop while no agent is learning (~70 ms for
        # the seeded model), and so is the copy that ingest predicts from (~20 ms); pickling
        # that copy and compressing it all (~100 ms) run in a thread.
        version = scorer.model.version
        model, drift = scorer.model.to_bytes(), scorer.drift.to_bytes()
        snapshot = scorer.model.snapshot()
        loop = asyncio.get_running_loop()
        value = await loop.run_in_executor(None, encode_record, model, drift, version, snapshot)
        del model, drift, snapshot
        if await publish("model", value, version):
            state["saved_version"] = version

    @app.timer(s.snapshot_interval_s)
    async def publish_snapshot() -> None:
        """The model's snapshot for ingest's triage, when the model learned since the last
        one (and once at each start, replacing whatever an earlier run left)."""
        scorer: Scorer | None = state["scorer"]
        if scorer is None or scorer.model.version == state["published_version"]:
            return
        version, snapshot = scorer.model.version, scorer.model.snapshot()  # ~15 ms, on the loop
        value = await asyncio.get_running_loop().run_in_executor(None, encode_snapshot, snapshot)
        del snapshot
        if await publish("snapshot", value, version):
            state["published_version"] = version

    async def publish(short: str, value: bytes, version: int) -> bool:
        """Send a `pronto.model` or `pronto.snapshot` record; whether Kafka took it. A timer
        that raises stops the worker: a failure is logged and tried again next interval."""
        try:
            await ctx.topic(short).send(key=MODEL_KEY, value=value)
            return True
        except Exception as e:
            logger.warning("%s not published this time (version %s): %r", short, version, e)
            return False
        finally:
            release_free_memory()  # the record's transient MB: see pipeline/memory.py

    @app.task
    async def learn_labelled() -> None:
        """Learn the queued labelled texts while the stage is idle (under load, the agent
        learns after each batch)."""
        await ready.wait()
        while True:
            await asyncio.sleep(LEARN_IDLE_S)
            learner: Learner = state["learner"]
            idle = not state["busy"] and time.monotonic() - state["last_batch"] > LEARN_IDLE_S
            if idle and learner.pending:
                learner.learn_for(LEARN_SLICE_S)
                learn_metrics(learner)

    def learn_metrics(learner: Learner) -> None:
        model = learner.model
        ctx.metrics.sentiment_accuracy.set(model.accuracy)
        ctx.metrics.model_version.set(model.version)
        ctx.metrics.model_terms.set(model.n_terms)
        if model.terms_pruned != state["terms_pruned"]:
            logger.info("sentiment vocabulary at its bound (%d terms): %d rare terms dropped so far",
                        model.max_terms, model.terms_pruned)  # fmt: skip
            state["terms_pruned"] = model.terms_pruned

    def learn_now() -> int:
        """Learn everything queued now (tests; the task does it in slices)."""
        learner: Learner = state["learner"]
        n = learner.learn_for(float("inf"))
        learn_metrics(learner)
        return n

    ctx.learn_now = learn_now

    seen_order: deque[tuple[float, str, int]] = deque()  # (received_at, key, partition)
    last_event: dict[int, Any] = {}  # partition -> an event of it: table access goes by event
    scored_partitions: dict[bytes, int] = {}  # location -> its feedback.scored partition

    def prune(now: float) -> None:
        if not state.get("seen_scanned"):  # once after start: keys recovered from the changelog
            seen_order.extend(sorted(aging_keys(seen.items())))
            state["seen_scanned"] = True
        while seen_order and seen_order[0][0] < now - DEDUPE_HORIZON_S:
            _, k, part = seen_order.popleft()
            event = last_event.get(part)
            if event is None:  # a partition this worker no longer reads (or a legacy mark)
                continue
            as_event(event)
            value = seen.get(k)
            if value is None:
                continue
            if is_batch_key(k):  # its ids, then the batch (one tombstone)
                seen.forget_locally(fid for fid, *_ in value.get("m", ()))
            del seen[k]

    def counts_of(location_id: str) -> LocationCounts:
        counts = cache.get(location_id)
        if counts is None:
            counts = cache[location_id] = LocationCounts.from_value(counters.get(location_id))
        return counts

    async def score_batch(events: Sequence[Any]) -> None:
        scorer: Scorer = state["scorer"]
        learner: Learner = state["learner"]
        m = ctx.metrics
        now = time.time()
        touched: dict[str, Any] = {}  # location -> the last event that counted there
        batch_seen: dict[str, list[Any]] = {}  # marks written in this batch
        marks: dict[int, list[tuple[str, float, int]]] = {}  # partition -> (id, at, offset)
        scored: Counter[str] = Counter()
        labels: Counter[str] = Counter()  # sentiment label -> records (the metric, once a batch)
        tops: dict[str, str | None] = {}  # location -> its top negative theme (once a batch)
        out_scored = BatchOut(ctx.topic("scored"), scored_partitions)
        for i, event in enumerate(events):
            if i and i % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # a backlog must not starve the timers, web, other agents
            try:
                fb = Feedback.from_json(event.value)
                check_answer(fb)
            except RecordError as e:
                logger.warning("undecodable record to the DLQ: %s", e)
                await send_dlq(ctx, event.key, event.value, str(e), "score")
                continue
            part, offset = event.message.partition, event.message.offset
            as_event(event)  # RocksDB reads the current event's partition (its own database)
            last_event[part] = event
            mark = batch_seen.get(fb.id)
            if mark is None:
                mark = seen.get(fb.id)
            if mark is not None and is_other_copy(mark, part, offset):
                m.feedback_rejected.labels("duplicate").inc()
                continue
            out = scorer.score(fb, now)
            if out.learn is not None:
                learner.add(*out.learn)
            label = out.prediction.label
            tags, theme_increments = themes.tally(fb, label, now)
            out.increments.extend(theme_increments)
            counts = counts_of(fb.location_id)
            if out.increments:
                # A record this location already took before a crash is scored again, not
                # counted; its value is written again all the same: a local store survives a
                # kill that lost the changelog record, and the changelog must catch up before
                # this offset is committed (another worker rebuilds from it).
                if counts.add_once(out.increments, part, offset) and tags:
                    themes.note_counted(fb.location_id, tags, label)
                touched[fb.location_id] = event
            if fb.location_id not in tops:
                tops[fb.location_id] = next(iter(themes.top_negative(counts, now)), None)
            record = ScoredFeedback(
                feedback=fb.to_dict(), sentiment_negative=out.prediction.p_negative,
                sentiment_label=out.prediction.label, model_version=scorer.model.version,
                scored_at=now, labelled=out.labelled,
                scores=location_summary(counts, fb.scale, windows, now),
                themes=list(tags), top_theme=tops[fb.location_id],
            )  # fmt: skip
            out_scored.add(fb.location_id.encode(), record.to_json())
            if out.drift is not None:
                drift = {"schema": 1, "type": "drift", "location_id": fb.location_id, "at": now,
                         "before": out.drift.before_mean, "after": out.drift.after_mean,
                         "n": out.drift.n,
                         "top_theme": next(iter(themes.top_negative(counts, now)), None)}  # fmt: skip
                await deliver(
                    ctx.topic("commands"), fb.location_id.encode(), json.dumps(drift).encode()
                )
            # Marked seen in the changelog with its batch (below), after the batch's outputs were
            # handed to the producer: a crash before reprocesses it (at least once) rather than
            # skipping it (lost). A replay writes its mark again, as the counters above; the
            # local mark may run ahead, and a replay (the same record) goes through it.
            as_event(event)
            seen.mark_locally(fb.id, batched_mark(fb.received_at, part, offset))
            batch_seen[fb.id] = seen_mark(fb.received_at, part, offset)
            marks.setdefault(part, []).append((fb.id, fb.received_at, offset))
            if out.late:
                m.late_events.labels(fb.location_id).inc()
            scored[fb.location_id] += 1
            labels[label] += 1
            if out.model_seconds:
                m.model_seconds.observe(out.model_seconds)
            m.webhook_to_scored.observe(max(0.0, now - fb.received_at))
        # The outputs go to the producer first (one Kafka batch per partition), then one
        # write per location touched: a crash before it replays the batch, and the marks in
        # what did land say what is counted already.
        await out_scored.flush()
        tick = int(now // prune_every_s)
        for location_id, event in touched.items():
            held = cache.get(location_id)
            if held is None:  # its partition was revoked meanwhile: its new owner counts it
                continue
            if pruned.get(location_id) != tick:  # buckets expire once a bucket at most
                held.prune(now, windows, s.lateness_s)
                pruned[location_id] = tick
            as_event(event)
            counters[location_id] = held.to_value()
        for part, taken in marks.items():
            if part not in last_event:  # revoked meanwhile (as above)
                continue
            key = batch_key(part, taken[0][2])
            as_event(last_event[part])
            seen[key] = value = batch_value(taken)
            if state.get("seen_scanned"):
                seen_order.append((value["r"], key, part))
        for location_id, n in scored.items():
            m.feedback_scored.labels(location_id).inc(n)
        for label, n in labels.items():
            m.sentiment.labels(label).inc(n)
        themes.flush_metrics()
        if now - state["last_prune"] > PRUNE_EVERY_S and events:
            state["last_prune"] = now
            as_event(events[-1])
            prune(now)

    share = min(max(s.learn_share, 0.0), 0.9)

    async def take(events: Sequence[Any]) -> None:
        """A batch scored, then learning for at most `share` of the stage's CPU time."""
        t0 = time.thread_time()
        state["busy"] = True
        await score_batch(events)
        learner: Learner = state["learner"]
        if learner.pending and learner.learn_for((time.thread_time() - t0) * share / (1 - share)):
            learn_metrics(learner)
        state["last_batch"], state["busy"] = time.monotonic(), False

    if s.raw_feed:
        # `feedback.raw` by a Kafka consumer of the stage's own (`side_feed.py` says why), for
        # the partitions Faust assigned this process of the co-partitioned `alerts.events`
        # (the corrections' agent reads it), once the model is in place and the tables are
        # recovered. Faust's group read `feedback.raw` before this feed existed: a partition
        # the feed never committed starts where that group left it, else at its beginning.
        owned = owned_by(app, ctx.topic("events").get_topic_name(), ready.is_set)

        async def take_records(records: list[Any]) -> None:
            generation = app.consumer_generation_id
            await take([FeedEvent(r, generation) for r in records])

        side_feed(ctx, ctx.topic("raw").get_topic_name(), s.side_group("raw"), owned,
                  take_records, reset="earliest", fallback_group=app.conf.id,
                  max_records=s.score_batch, batched=True,
                  epoch=lambda: app.consumer_generation_id)  # fmt: skip
    else:

        @app.agent(ctx.topic("raw"))
        async def score(stream: Any) -> None:
            await ready.wait()
            async for events in stream.take_events(s.score_batch, within=s.score_batch_s):
                await take(events)
                await asyncio.sleep(0)

    @app.agent(ctx.topic("events"))
    async def learn_corrections(stream: Any) -> None:
        """A supervisor's "not a complaint" / "was a complaint" is learned at once, and so is
        a change of an alert's themes (the next message with those words gets them)."""
        await ready.wait()
        async for event in stream.events():
            await asyncio.sleep(0)  # a backlog must not starve the other agents, timers and web
            try:
                doc = json.loads(event.value)
            except (ValueError, TypeError):
                continue
            if isinstance(doc, dict) and doc.get("event") == CORRECTED:
                as_event(event)  # the vocabulary table is the location's partition's
                themes.learn(doc)
                continue
            if not isinstance(doc, dict) or doc.get("event") != "corrected":
                continue
            text, label = doc.get("text", ""), doc.get("label", "")
            if isinstance(text, str) and text and label in ("negative", "neutral", "positive"):
                scorer = state["scorer"]
                scorer.model.learn(text, label, str(doc.get("lang", "")))
                ctx.metrics.model_version.set(scorer.model.version)
                logger.info("learned a correction", extra={"ref": doc.get("ref"), "label": label})


def encode_record(model: bytes, drift: bytes, version: int, snapshot: SentimentSnapshot) -> bytes:
    """The `pronto.model` record of a save (runs in a thread)."""
    return encode_model(model, drift, version, snapshot.to_bytes())
