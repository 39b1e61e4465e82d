"""The agents through Faust's `test_context`: no broker, the outputs captured by fake topics."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from pipeline.alerts.senders import RecordingSender
from pipeline.app import Pronto, build
from pipeline.records import Feedback, ScoredFeedback
from pipeline.scoring.drift import DriftMonitor
from pipeline.scoring.seed_cache import seeded_model
from pipeline.scoring.sentiment import SentimentModel
from pipeline.settings import Settings


class FakeTopic:
    """Records what an agent sends, in place of a Kafka topic."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, dict[str, Any]]] = []

    async def send(self, *, key: bytes, value: bytes) -> None:
        self.sent.append((key, json.loads(value)))

    def values(self) -> list[dict[str, Any]]:
        return [v for _, v in self.sent]


def built(tmp_path: Any, **settings: Any) -> Pronto:
    """The pipeline, for a broker that is never reached (test_context feeds the agents
    directly), its outputs captured by fake topics. The raw and the scored records come to
    the score and the alert stage by their Faust agents here (`raw_feed=False`,
    `scored_feed=False`): the Kafka consumers of their own that read them in a worker run
    against the broker (`tests/e2e/test_side_feed.py` and every end-to-end test). So do the
    pages go by Faust's producer (`page_producer=False`), to the fake outbox: in a worker they
    go by a producer of their own (`pipeline/alerts/page_out.py`, every end-to-end test)."""
    settings.setdefault("raw_feed", False)
    settings.setdefault("scored_feed", False)
    settings.setdefault("page_producer", False)
    s = Settings(broker="kafka://127.0.0.1:1", home=tmp_path, secret_key="k", **settings)
    pronto = build(s, registry=CollectorRegistry(), sender=RecordingSender())
    pronto.app.finalize()
    pronto.app.flow_control.resume()
    for name in ("scored", "dlq", "commands", "events", "outbox"):
        pronto.topics[name] = FakeTopic()  # type: ignore[assignment]
    return pronto


@pytest.fixture
def ctx(tmp_path: Any) -> Iterator[Pronto]:
    # The memory store: these tests set and drop table values by hand, outside any stream.
    pronto = built(tmp_path, store="memory")
    assert pronto.install_model is not None
    pronto.install_model(seeded_model(), DriftMonitor())
    yield pronto


def agent(ctx: Pronto, name: str) -> Any:
    return next(a for key, a in ctx.app.agents.items() if key.endswith("." + name))


async def handled(*events: Any, timeout_s: float = 5.0) -> None:
    """Until the agent has acknowledged `events`: an agent that takes its records in
    batches (`take_events`) handles a record after `put` has returned."""
    deadline = time.monotonic() + timeout_s
    while not all(e.message.acked for e in events):
        assert time.monotonic() < deadline, "the agent never handled the record"
        await asyncio.sleep(0.002)


def feedback(
    fid: str, score: int | None, text: str, loc: str = "bus-42", scale: str = "nps10"
) -> Feedback:
    return Feedback(id=fid, received_at=time.time(), channel="sms", location_id=loc,
                    customer_ref=f"c_{fid}", score=score, scale=scale if score is not None else None,
                    text=text, lang="es", contact=ctx_privacy_encrypt("+34600111222"))  # fmt: skip


def ctx_privacy_encrypt(phone: str) -> str:
    from pipeline.privacy import Privacy

    return Privacy("k").encrypt(phone)


async def test_score_agent_counts_once_and_publishes_scores(ctx: Pronto) -> None:
    assert ctx.model is not None
    before = ctx.model.version
    async with agent(ctx, "score").test_context() as a:
        fb = feedback("f1", 3, "el bus llegó tarde, fatal")
        await a.put(key=b"bus-42", value=fb.to_json())
        await a.put(key=b"bus-42", value=fb.to_json())  # redelivered: not counted twice
        await a.put(key=b"bus-42", value=feedback("f2", 10, "genial").to_json())
    scored = [ScoredFeedback.from_dict(v) for v in ctx.topics["scored"].values()]  # type: ignore[attr-defined]
    assert [s.fb.id for s in scored] == ["f1", "f2"]
    last = scored[-1].scores["5m"]
    assert (last["nps_n"], last["nps"]) == (2, 0.0)  # one detractor, one promoter
    assert scored[0].sentiment_label == "negative" and scored[0].labelled
    # Each text is learned from its own score, off the record's path (the learner task).
    assert ctx.learn_now is not None and ctx.model is not None
    ctx.learn_now()
    assert ctx.model.version == before + 2


async def test_a_record_replayed_after_a_crash_is_counted_exactly_once(ctx: Pronto) -> None:
    """After a kill, Faust replays from the committed offset, and the dedupe mark and the
    counters (separate changelog records) may each have landed without the other."""
    fb1, fb2 = feedback("f1", 3, "tarde otra vez"), feedback("f2", 9, "muy bien")
    counters, seen = ctx.tables["counters"], ctx.tables["seen"]
    async with agent(ctx, "score").test_context() as a:
        await a.put(key=b"bus-42", value=fb1.to_json(), partition=2)
        await asyncio.sleep(0.05)  # the agent finishes the record
        # 1. The counters landed, the dedupe mark did not: the replay must not count again.
        del seen.data["f1"]
        a.sent_offset -= 1  # the consumer group resumes at the same offset
        await a.put(key=b"bus-42", value=fb1.to_json(), partition=2)
        await asyncio.sleep(0.05)
        # 2. The dedupe mark landed, the counters did not: the replay must count it.
        for k in list(counters.data):
            del counters.data[k]
        await ctx.app.on_partitions_revoked.send(set())  # a new process has no cached totals
        a.sent_offset -= 1
        await a.put(key=b"bus-42", value=fb1.to_json(), partition=2)
        # 3. Another record with the same id (a retried webhook) is a duplicate.
        await a.put(key=b"bus-42", value=fb1.to_json(), partition=2)
        await a.put(key=b"bus-42", value=fb2.to_json(), partition=2)
    scored = [ScoredFeedback.from_dict(v) for v in ctx.topics["scored"].values()]  # type: ignore[attr-defined]
    assert [s.fb.id for s in scored] == ["f1", "f1", "f1", "f2"]  # replays are scored again
    assert [s.scores["5m"]["nps_n"] for s in scored] == [1, 1, 1, 2]  # ... but counted once


async def test_score_agent_sends_garbage_to_the_dlq_and_keeps_going(ctx: Pronto) -> None:
    async with agent(ctx, "score").test_context() as a:
        await a.put(key=b"x", value=b"\xff not json")
        await a.put(key=b"bus-42", value=b'{"id": "", "location_id": "bus-42"}')
        await a.put(key=b"bus-42", value=feedback("ok", 9, "bien").to_json())
    dlq = ctx.topics["dlq"].values()  # type: ignore[attr-defined]
    assert [d["stage"] for d in dlq] == ["score", "score"]
    assert "not JSON" in dlq[0]["reason"]
    assert len(ctx.topics["scored"].values()) == 1  # type: ignore[attr-defined]


async def test_alert_agent_opens_and_pages_the_supervisor_on_shift(ctx: Pronto) -> None:
    fb = feedback("f9", 2, "el conductor fue muy maleducado")
    sf = ScoredFeedback(feedback=fb.to_dict(), sentiment_negative=0.9, sentiment_label="negative",
                        model_version=1, scored_at=time.time(), scores={})  # fmt: skip
    async with agent(ctx, "alert_desk").test_context() as a:
        await a.put(key=b"bus-42", value=sf.to_json())
        await a.put(key=b"bus-42", value=sf.to_json())  # redelivered: joins, pages nothing new
    kinds = [e["event"] for e in ctx.topics["events"].values()]  # type: ignore[attr-defined]
    assert kinds == ["opened", "paged"]
    pages = ctx.topics["outbox"].values()  # type: ignore[attr-defined]
    assert len(pages) == 1 and pages[0]["kind"] == "page"
    ref = pages[0]["ref"]
    assert orjson.loads(ctx.tables["alerts"][ref])["state"] == "paged"
    assert "+34" not in json.dumps(pages) + json.dumps(ctx.topics["events"].values())  # type: ignore[attr-defined]


async def test_notify_agent_sends_each_page_once(ctx: Pronto) -> None:
    msg = {"schema": 1, "page_id": "P1234-p0", "kind": "page", "ref": "1234", "location_id": "bus-42",
           "to_name": "Ana", "contact": "", "body": "Linea 42: 2/10. Responda OK 1234",
           "created_at": time.time(), "received_at": time.time(), "level": 0}  # fmt: skip
    async with agent(ctx, "notify").test_context() as a:
        await a.put(key=b"bus-42", value=json.dumps(msg).encode())
        await a.put(key=b"bus-42", value=json.dumps(msg).encode())
    sender: RecordingSender = ctx.sender  # type: ignore[assignment]
    assert [p.to for p in sender.pages] == ["+34600000001"]
    assert [e["event"] for e in ctx.topics["events"].values()] == ["page_sent"]  # type: ignore[attr-defined]


async def test_a_correction_is_learned_at_once(ctx: Pronto) -> None:
    model = ctx.model
    assert isinstance(model, SentimentModel)
    before = model.version
    event = {"schema": 1, "event": "corrected", "ref": "1", "location_id": "bus-42",
             "label": "positive", "text": "el bus va lleno pero bien", "lang": "es"}  # fmt: skip
    async with agent(ctx, "learn_corrections").test_context() as a:
        await a.put(key=b"bus-42", value=json.dumps(event).encode())
    assert model.version == before + 1


def test_every_table_has_its_changelog_created_up_front(ctx: Pronto) -> None:
    from pipeline.settings import PROCESSES
    from pipeline.topics import changelogs

    declared = {t.changelog_topic.get_topic_name() for t in ctx.app.tables.values()}
    assert declared == set(changelogs(ctx.settings, [ctx.stages]))
    for stages in PROCESSES:  # each process of `pronto worker` declares its own tables
        app = build(ctx.settings, registry=CollectorRegistry(), sender=RecordingSender(),
                    stages=stages).app  # fmt: skip
        declared = {t.changelog_topic.get_topic_name() for t in app.tables.values()}
        assert declared == set(changelogs(ctx.settings, [stages])), stages


async def test_score_agent_counts_exactly_with_rocksdb_across_partitions(tmp_path: Any) -> None:
    """RocksDB keeps one database per partition and reads the current event's: a batch mixes
    partitions, and each location's counts must still add up."""
    settings = Settings(
        broker="kafka://127.0.0.1:1", home=tmp_path, secret_key="k", store="rocksdb",
        raw_feed=False,
    )  # fmt: skip
    pronto = build(settings, registry=CollectorRegistry(), sender=RecordingSender(),
                   stages=frozenset({"score"}))  # fmt: skip
    pronto.app.finalize()
    pronto.app.flow_control.resume()
    assert pronto.install_model is not None
    pronto.install_model(seeded_model(), DriftMonitor())
    for name in ("scored", "dlq", "commands"):
        pronto.topics[name] = FakeTopic()  # type: ignore[assignment]
    async with agent(pronto, "score").test_context() as a:
        for i in range(6):
            loc, part = ("bus-42", 1) if i % 2 else ("resto-sol", 2)
            fb = feedback(f"f{i}", 9, "bien", loc=loc)
            await a.put(key=loc.encode(), value=fb.to_json(), partition=part)
    scored = [ScoredFeedback.from_dict(v) for v in pronto.topics["scored"].values()]  # type: ignore[attr-defined]
    by_loc: dict[str, list[int]] = {}
    for s in scored:
        by_loc.setdefault(s.fb.location_id, []).append(s.scores["5m"]["nps_n"])
    assert by_loc == {"resto-sol": [1, 2, 3], "bus-42": [1, 2, 3]}


@pytest.mark.parametrize("store", ["rocksdb", "memory"])  # the alert tables on disk, in dicts
async def test_old_handled_ids_are_pruned_under_a_record_of_their_own_partition(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    """A deletion's changelog record goes to the partition of the record being processed: a
    mark pruned under another partition's record would stay in its own partition's changelog
    for ever, and come back at each start."""
    from pipeline.alerts import desk
    from pipeline.alerts import stage as alert_stage

    pronto = built(tmp_path, store=store)
    index = pronto.tables["alerts_index"]
    monkeypatch.setattr(alert_stage, "PRUNE_EVERY_S", -1.0)  # a prune at every record

    def complaint(fid: str) -> bytes:
        sf = ScoredFeedback(feedback=feedback(fid, 1, "horrible, nadie ayuda").to_dict(),
                            sentiment_negative=0.9, sentiment_label="negative", model_version=1,
                            scored_at=time.time(), scores={})  # fmt: skip
        return sf.to_json()

    async with agent(pronto, "alert_desk").test_context() as a:
        await handled(await a.put(key=b"bus-42", value=complaint("fa"), partition=0))
        assert "fid:fa" in index
        monkeypatch.setattr(desk, "HANDLED_HORIZON_S", -10.0)  # every mark is old now
        await handled(await a.put(key=b"bus-42", value=complaint("fb"), partition=1))
        assert "fid:fb" not in index  # pruned at once, under its own partition's record...
        assert "fid:fa" in index  # ...and partition 0's mark waits for a record of partition 0
        await handled(await a.put(key=b"bus-42", value=complaint("fc"), partition=0))
        assert "fid:fa" not in index and "fid:fc" not in index


@pytest.mark.parametrize("store", ["rocksdb", "memory"])
async def test_each_record_of_a_batch_writes_under_its_own_partition(
    tmp_path: Any, store: str
) -> None:
    store_kind = store
    """The scored lane takes records in batches, of several partitions: each record's table
    writes go to its own partition's changelog, not the batch's last one."""
    pronto = built(tmp_path, store=store, alert_batch=8, alert_batch_s=0.5)
    index = pronto.tables["alerts_index"]

    def complaint(fid: str, loc: str) -> bytes:
        sf = ScoredFeedback(feedback=feedback(fid, 1, "horrible, nadie ayuda", loc=loc).to_dict(),
                            sentiment_negative=0.9, sentiment_label="negative", model_version=1,
                            scored_at=time.time(), scores={})  # fmt: skip
        return sf.to_json()

    where = {"f0": ("bus-42", 0), "f1": ("resto-sol", 1), "f2": ("bus-42", 2)}
    async with agent(pronto, "alert_desk").test_context() as a:
        events = [await a.put(key=loc.encode(), value=complaint(fid, loc), partition=part,
                              wait=False) for fid, (loc, part) in where.items()]  # fmt: skip
        await handled(*events)
        store = index.data  # the partition of each key's changelog record, as noted
        if store_kind == "memory":
            noted = dict(store._key_partition)
        else:  # on disk: the writes wait in the overlay for Kafka's acknowledgement
            noted = {w.key: part for part, q in store._unacked.items() for w in q}
        assert {fid: noted[f"fid:{fid}"] for fid in where} == {"f0": 0, "f1": 1, "f2": 2}


@pytest.mark.parametrize("store", ["rocksdb", "memory"])  # the alert tables on disk, in dicts
async def test_page_ids_older_than_the_outbox_keeps_pages_are_forgotten_in_their_partition(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    """`sent-pages` grew by every page ever sent (and each start replayed it all)."""
    from pipeline.alerts import notify as notify_stage

    pronto = built(tmp_path, store=store)
    sent = pronto.tables["sent_pages"]
    monkeypatch.setattr(notify_stage, "SENT_PRUNE_EVERY_S", -1.0)

    def page(ref: str) -> bytes:
        return json.dumps({"schema": 1, "page_id": f"P{ref}-p0", "kind": "page", "ref": ref,
                           "location_id": "bus-42", "to_name": "Ana", "contact": "",
                           "body": f"Linea 42: 2/10. Responda OK {ref}", "created_at": time.time(),
                           "received_at": time.time(), "level": 0}).encode()  # fmt: skip

    async def recorded(page_id: str) -> None:
        for _ in range(200):
            if page_id in sent:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{page_id} was never recorded")

    async with agent(pronto, "notify").test_context() as a:
        await a.put(key=b"bus-42", value=page("1"), partition=0)
        await recorded("P1-p0")
        monkeypatch.setattr(notify_stage, "SENT_HORIZON_S", -10.0)  # every id is old now
        await a.put(key=b"bus-42", value=page("2"), partition=1)
        await recorded("P2-p0")
        assert "P1-p0" in sent  # partition 0's ids wait for a record of partition 0
        await a.put(key=b"bus-42", value=page("3"), partition=0)
        await recorded("P3-p0")
        assert "P1-p0" not in sent
    sender: RecordingSender = pronto.sender  # type: ignore[assignment]
    assert len(sender.pages) == 3


async def test_each_customers_alert_is_counted_by_the_copy_that_opened_it(ctx: Pronto) -> None:
    """A complaint paged from the fast path counts there, and its scored copy opens nothing
    more; one that only the scored lane finds counts as scored."""

    def copy_of(fid: str, score: int) -> bytes:
        fb = feedback(fid, score, "horrible, nadie ayuda" if score < 5 else "muy bien")
        return ScoredFeedback(feedback=fb.to_dict(), sentiment_negative=0.9 if score < 5 else 0.1,
                              sentiment_label="negative" if score < 5 else "positive",
                              model_version=1, scored_at=time.time(), scores={}).to_json()  # fmt: skip

    def opened(copy: str) -> float:
        return (
            ctx.registry.get_sample_value(
                "pronto_alerts_opened_by_copy_total", {"location": "bus-42", "copy": copy}
            )
            or 0.0
        )

    async with agent(ctx, "alert_desk_urgent").test_context() as a:
        await a.put(key=b"bus-42", value=copy_of("f1", 1))
    async with agent(ctx, "alert_desk").test_context() as a:
        await handled(await a.put(key=b"bus-42", value=copy_of("f1", 1), wait=False))
        await handled(await a.put(key=b"bus-42", value=copy_of("f2", 2), wait=False))
        await handled(await a.put(key=b"bus-42", value=copy_of("f3", 9), wait=False))
    events = ctx.topics["events"].values()  # type: ignore[attr-defined]
    assert sorted(e["alert"]["feedback_ids"][0] for e in events if e["event"] == "opened") == [
        "f1", "f2"]  # fmt: skip
    assert (opened("fast_path"), opened("scored")) == (1.0, 1.0)
