"""The score stage: `feedback.raw` -> sentiment, rolling counters -> `feedback.scored`.

Thin agents: decode, call the pure `Scorer`, update the table with `+=`, send, observe.
Records that cannot be decoded go to `feedback.dlq` with the reason. The model is saved to the
compacted `pronto.model` topic and restored at start, so a restart keeps what it learned.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from kafka.partitioner.default import murmur2
from prometheus_client.core import GaugeMetricFamily

from pipeline.config import SCALES, UNKNOWN_LOCATION
from pipeline.delivery import deliver
from pipeline.dlq import send_dlq
from pipeline.model_store import MODEL_KEY, encode_model, load_model
from pipeline.records import Feedback, RecordError, ScoredFeedback
from pipeline.scoring import windows as win
from pipeline.scoring.counts import add_once, count_of, is_other_copy, received_at_of, seen_mark
from pipeline.scoring.drift import DriftMonitor
from pipeline.scoring.rolling import RollingTotals
from pipeline.scoring.scorer import Scorer
from pipeline.scoring.sentiment import SentimentModel, label_from_score

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)

DEDUPE_HORIZON_S = 900.0
PRUNE_EVERY_S = 60.0


def owns(ctx: Pronto, location_id: str) -> bool:
    """Whether this worker holds the partition of `location_id` (so only it reports it)."""
    assignment = ctx.app.consumer.assignment() if ctx.app.consumer else set()
    if not assignment:
        return False
    topic = ctx.settings.topic("feedback.raw")
    part = (murmur2(location_id.encode()) & 0x7FFFFFFF) % ctx.settings.partitions
    return any(tp.topic == topic and tp.partition == part for tp in assignment)


def current_scores(ctx: Pronto, now: float) -> dict[str, Any]:
    """Scores per location (those this worker owns) and window, with counts and intervals."""
    table = ctx.tables.get("counters")
    windows = ctx.windows
    out: dict[str, Any] = {}
    ids = [*ctx.venues.ids, UNKNOWN_LOCATION]
    for loc_id in ids:
        if table is None or not owns(ctx, loc_id):
            continue
        loc = ctx.venues.by_id(loc_id)
        out[loc_id] = {
            "name": loc.name if loc else loc_id,
            "scale": loc.scale if loc else "",
            "windows": location_summary(table.get, loc_id, None, windows, now),
        }
    return {"generated_at": now, "locations": out}


SCALE_FIELDS = {"csat5": ("csat_n", "csat_sat"), "nps10": ("nps_n", "nps_pro", "nps_det")}


def location_summary(get: Any, location_id: str, scale: str | None,
                     windows: tuple[win.WindowSpec, ...], now: float,
                     rolling: RollingTotals | None = None) -> dict[str, Any]:  # fmt: skip
    """Each window's published scores for a location; `scale` narrows the counters read."""
    fields = SCALE_FIELDS.get(scale or "", win.FIELDS)

    def read(k: str) -> int:
        return count_of(get(k))

    if rolling is None:
        return {
            w.name: win.summarize(win.window_totals(read, location_id, w, now, fields))
            for w in windows
        }
    return {
        w.name: win.summarize(rolling.totals(read, location_id, w, now, fields)) for w in windows
    }


class ScoresCollector:
    """Exports the rolling scores on scrape, from the same figures as `/api/v1/scores`."""

    def __init__(self, ctx: Pronto) -> None:
        self.ctx = ctx

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        specs = [
            ("pronto_csat_ratio", "Rolling CSAT: the share of 4-5 answers on 1-5.", "csat"),
            (
                "pronto_csat_ci_lower_ratio",
                "Lower bound of CSAT's 95% Wilson interval.",
                "csat_low",
            ),
            (
                "pronto_csat_ci_upper_ratio",
                "Upper bound of CSAT's 95% Wilson interval.",
                "csat_high",
            ),
            ("pronto_csat_answers", "1-5 answers in the window.", "csat_n"),
            ("pronto_nps_score", "Rolling NPS, -100..100.", "nps"),
            ("pronto_nps_ci_lower_score", "Lower bound of NPS's 95% interval.", "nps_low"),
            ("pronto_nps_ci_upper_score", "Upper bound of NPS's 95% interval.", "nps_high"),
            ("pronto_nps_answers", "0-10 answers in the window.", "nps_n"),
        ]
        try:
            scores = current_scores(self.ctx, time.time())["locations"]
        except Exception:  # a scrape during start-up or rebalance must not fail the scrape
            logger.debug("scores not available for this scrape", exc_info=True)
            scores = {}
        for name, doc, field in specs:
            fam = GaugeMetricFamily(name, doc, labels=["location", "window"])
            for loc_id, entry in scores.items():
                for wname, summary in entry["windows"].items():
                    value = summary.get(field)
                    if value is not None:
                        fam.add_metric([loc_id, wname], float(value))
            yield fam


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
    counters = app.Table("score-counters", default=None, partitions=s.partitions)
    seen = app.Table("seen-feedback", default=None, partitions=s.partitions)
    ctx.tables.update(counters=counters, seen=seen)
    ctx.registry.register(ScoresCollector(ctx))  # type: ignore[arg-type]
    ready = asyncio.Event()
    state: dict[str, Any] = {"saved_version": -1, "last_prune": 0.0, "scorer": None}
    rolling = RollingTotals(windows)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def forget_totals(sender: Any, *args: Any, **kwargs: Any) -> None:
        rolling.clear()  # the partitions (and their counters) may move to another worker

    def install(model: SentimentModel, drift: DriftMonitor) -> None:
        """Put a model in place and let the agents run (tests call this directly)."""
        state["scorer"] = Scorer(model, drift, windows, s.lateness_s)
        state["saved_version"] = model.version
        ctx.model = model
        ctx.metrics.model_version.set(model.version)
        ctx.metrics.sentiment_accuracy.set(model.accuracy)
        ready.set()

    ctx.install_model = install

    @app.task
    async def restore_model() -> None:
        if ready.is_set():
            return
        loop = asyncio.get_running_loop()
        install(*await loop.run_in_executor(None, load_model, ctx.settings))

    @app.timer(s.model_save_interval_s)
    async def save_model() -> None:
        scorer: Scorer | None = state["scorer"]
        if scorer is None or scorer.model.version == state["saved_version"]:
            return
        # The pickle is the snapshot, taken on the loop while no agent is learning (~70 ms for
        # the seeded model); compressing it (~50 ms) runs in a thread.
        version = scorer.model.version
        model, drift = scorer.model.to_bytes(), scorer.drift.to_bytes()
        loop = asyncio.get_running_loop()
        value = await loop.run_in_executor(None, encode_model, model, drift, version)
        try:
            await ctx.topic("model").send(key=MODEL_KEY, value=value)
        except Exception as e:  # a timer that raises stops the worker: retry next interval
            logger.warning("model not saved this time (version %s): %r", version, e)
            return
        state["saved_version"] = version

    seen_order: deque[tuple[float, str]] = deque()  # (received_at, id), oldest first

    def prune(now: float) -> None:
        for k in win.expired_keys(list(counters.keys()), now, windows, s.lateness_s):
            del counters[k]
        if not state.get("seen_scanned"):  # once after start: ids recovered from the changelog
            marks = ((received_at_of(mark), k) for k, mark in seen.items())
            seen_order.extend(sorted((at, k) for at, k in marks if at is not None))
            state["seen_scanned"] = True
        while seen_order and seen_order[0][0] < now - DEDUPE_HORIZON_S:
            _, k = seen_order.popleft()
            if k in seen:
                del seen[k]

    @app.agent(ctx.topic("raw"))
    async def score(stream: Any) -> None:
        await ready.wait()
        async for event in stream.events():
            await asyncio.sleep(0)  # a backlog must not starve the other agents, timers and web
            scorer: Scorer = state["scorer"]
            try:
                fb = Feedback.from_json(event.value)
                check_answer(fb)
            except RecordError as e:
                logger.warning("undecodable record to the DLQ: %s", e)
                await send_dlq(ctx, event.key, event.value, str(e), "score")
                continue
            part, offset = event.message.partition, event.message.offset
            mark = seen.get(fb.id)
            if mark is not None and is_other_copy(mark, part, offset):
                ctx.metrics.feedback_rejected.labels("duplicate").inc()
                continue
            now = time.time()
            out = scorer.score(fb, now)
            for k, d in out.increments.items():
                value = add_once(counters.get(k), d, part, offset)
                if value is None:  # this record reached this counter before a crash: replayed
                    continue
                counters[k] = value
                loc_id, wname, start, field = k.split("|")
                rolling.add(loc_id, wname, int(start), field, d)
            summary = location_summary(
                counters.get, fb.location_id, fb.scale, windows, now, rolling
            )
            record = ScoredFeedback(
                feedback=fb.to_dict(), sentiment_negative=out.prediction.p_negative,
                sentiment_label=out.prediction.label, model_version=scorer.model.version,
                scored_at=now, labelled=out.labelled, scores=summary,
            )  # fmt: skip
            await deliver(ctx.topic("scored"), fb.location_id.encode(), record.to_json())
            if out.drift is not None:
                drift = {"schema": 1, "type": "drift", "location_id": fb.location_id, "at": now,
                         "before": out.drift.before_mean, "after": out.drift.after_mean,
                         "n": out.drift.n}  # fmt: skip
                await deliver(
                    ctx.topic("commands"), fb.location_id.encode(), json.dumps(drift).encode()
                )
            # Marked seen only after its output was handed to the producer: a crash before this
            # point reprocesses it (at least once) rather than skipping it (lost).
            if mark is None:
                seen[fb.id] = seen_mark(fb.received_at, part, offset)
            if mark is None and state.get("seen_scanned"):
                seen_order.append((fb.received_at, fb.id))
            m = ctx.metrics
            if out.late:
                m.late_events.labels(fb.location_id).inc()
            m.feedback_scored.labels(fb.location_id).inc()
            m.sentiment.labels(out.prediction.label).inc()
            m.model_seconds.observe(out.model_seconds)
            m.webhook_to_scored.observe(max(0.0, now - fb.received_at))
            if out.labelled:
                m.sentiment_accuracy.set(scorer.model.accuracy)
                m.model_version.set(scorer.model.version)
            if now - state["last_prune"] > PRUNE_EVERY_S:
                state["last_prune"] = now
                prune(now)

    @app.agent(ctx.topic("events"))
    async def learn_corrections(stream: Any) -> None:
        """A supervisor's "not a complaint" / "was a complaint" is learned at once."""
        await ready.wait()
        async for event in stream.events():
            await asyncio.sleep(0)  # a backlog must not starve the other agents, timers and web
            try:
                doc = json.loads(event.value)
            except (ValueError, TypeError):
                continue
            if not isinstance(doc, dict) or doc.get("event") != "corrected":
                continue
            text, label = doc.get("text", ""), doc.get("label", "")
            if isinstance(text, str) and text and label in ("negative", "neutral", "positive"):
                scorer = state["scorer"]
                scorer.model.learn(text, label, str(doc.get("lang", "")))
                ctx.metrics.model_version.set(scorer.model.version)
                logger.info("learned a correction", extra={"ref": doc.get("ref"), "label": label})
