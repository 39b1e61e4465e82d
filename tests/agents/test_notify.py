"""The notify agent through Faust's `test_context`: concurrent, in priority order, acknowledged
only once recorded, and never sent twice."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP
from prometheus_client import CollectorRegistry

from pipeline.alerts.senders import RecordingSender
from pipeline.app import Pronto, build
from pipeline.current_event import as_event
from pipeline.privacy import Privacy
from pipeline.settings import Settings


class FakeTopic:
    """Records what an agent sends, in place of a Kafka topic."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, *, key: bytes, value: bytes) -> None:
        self.sent.append(json.loads(value))


def make_ctx(tmp_path: Any, sender: RecordingSender, stages: frozenset[str] = frozenset({"notify"}),
             **settings: Any) -> Pronto:  # fmt: skip
    # The memory store: these tests set table values by hand, outside any stream.
    s = Settings(broker="kafka://127.0.0.1:1", home=tmp_path, secret_key="k", store="memory",
                 **settings)  # fmt: skip
    ctx = build(s, registry=CollectorRegistry(), sender=sender, stages=stages)
    ctx.app.finalize()
    ctx.app.flow_control.resume()
    for name in ("dlq", "commands", "events"):
        ctx.topics[name] = FakeTopic()  # type: ignore[assignment]
    return ctx


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def ctx(tmp_path: Any, sender: RecordingSender) -> Iterator[Pronto]:
    yield make_ctx(tmp_path, sender)


def notify_agent(ctx: Pronto) -> Any:
    return next(a for key, a in ctx.app.agents.items() if key.endswith(".notify"))


def topic(ctx: Pronto, name: str) -> list[dict[str, Any]]:
    return ctx.topics[name].sent  # type: ignore[attr-defined,no-any-return]


def outbox(page_id: str, kind: str = "page", *, level: int = 0, urgent: bool = False) -> bytes:
    now = time.time()
    msg = {"schema": 1, "page_id": page_id, "kind": kind, "ref": page_id.split("-")[0][1:],
           "location_id": "bus-42", "to_name": "Ana" if kind == "page" else "Luis",
           "contact": Privacy("k").encrypt("+34600111222") if kind == "customer" else "",
           "body": f"Linea 42: 2/10. Responda OK {page_id}", "created_at": now,
           "received_at": now, "level": level, "urgent": urgent}  # fmt: skip
    return json.dumps(msg).encode()


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_page_already_sent_is_not_sent_again_and_its_record_is_acknowledged(
    ctx: Pronto, sender: RecordingSender
) -> None:
    sent = ctx.tables["sent_pages"]
    async with notify_agent(ctx).test_context() as a:
        first = await a.put(key=b"bus-42", value=outbox("P1234-p0"), partition=3)
        await until(lambda: first.message.acked)
        assert str(sent["P1234-p0"]).startswith("SM")
        a.sent_offset -= 1  # redelivered from the same offset after a restart
        again = await a.put(key=b"bus-42", value=outbox("P1234-p0"), partition=3)
        later = await a.put(key=b"bus-42", value=outbox("P1234-p0"), partition=3)
        await until(lambda: again.message.acked and later.message.acked)
    assert [p.page_id for p in sender.attempts] == ["P1234-p0"]
    assert [e["event"] for e in topic(ctx, "events")] == ["page_sent"]


async def test_a_page_recorded_before_this_process_is_not_sent(
    ctx: Pronto, sender: RecordingSender
) -> None:
    ctx.tables["sent_pages"].data["P77-p0"] = "SM" + "7" * 32  # recovered from the changelog
    async with notify_agent(ctx).test_context() as a:
        ev = await a.put(key=b"bus-42", value=outbox("P77-p0"))
        await until(lambda: ev.message.acked)
    assert sender.attempts == [] and topic(ctx, "events") == []


async def test_pages_go_ahead_of_customer_messages_and_each_is_acked_once_recorded(
    tmp_path: Any,
) -> None:
    gate = asyncio.Event()
    sender = RecordingSender(hold=gate)
    ctx = make_ctx(tmp_path, sender, send_concurrency=1)
    async with notify_agent(ctx).test_context() as a:
        first = await a.put(key=b"bus-42", value=outbox("P1-c0", "customer"))
        await until(lambda: sender.in_flight == 1)  # holds the only slot
        rest = [
            await a.put(key=b"bus-42", value=outbox(page_id, kind, level=level))
            for page_id, kind, level in [
                ("P2-c0", "customer", 0),
                ("P3-m0", "manager", 0),
                ("P4-p1", "page", 1),
                ("P5-p0", "page", 0),
            ]
        ]
        await asyncio.sleep(0.05)
        assert not any(ev.message.acked for ev in [first, *rest])  # nothing is sent yet
        assert "P1-c0" not in ctx.tables["sent_pages"]
        gate.set()
        await until(lambda: all(ev.message.acked for ev in [first, *rest]))
    assert [p.page_id for p in sender.attempts] == ["P1-c0", "P5-p0", "P4-p1", "P3-m0", "P2-c0"]
    assert len(topic(ctx, "events")) == 5
    counted = ctx.registry.get_sample_value
    assert counted("pronto_pages_sent_total", {"channel": "console", "reason": "page"}) == 2
    assert counted("pronto_webhook_to_page_seconds_count") == 1


async def test_a_503_is_retried_and_the_page_sent_once_without_escalating(tmp_path: Any) -> None:
    sender = RecordingSender(statuses=[503])
    ctx = make_ctx(tmp_path, sender)
    async with notify_agent(ctx).test_context() as a:
        ev = await a.put(key=b"bus-42", value=outbox("P9-p0"))
        await until(lambda: ev.message.acked)
    assert len(sender.attempts) == 2 and [p.page_id for p in sender.pages] == ["P9-p0"]
    assert [e["event"] for e in topic(ctx, "events")] == ["page_sent"]
    assert topic(ctx, "commands") == []
    assert str(ctx.tables["sent_pages"]["P9-p0"]).startswith("SM")


async def test_a_permanent_failure_escalates_at_once(tmp_path: Any) -> None:
    sender = RecordingSender(statuses=[400])
    ctx = make_ctx(tmp_path, sender)
    async with notify_agent(ctx).test_context() as a:
        ev = await a.put(key=b"bus-42", value=outbox("P8-p0"))
        await until(lambda: ev.message.acked)
    assert len(sender.attempts) == 1
    assert [c["type"] for c in topic(ctx, "commands")] == ["delivery_failed"]
    assert ctx.tables["sent_pages"]["P8-p0"].startswith("failed:400")
    failed = ctx.registry.get_sample_value(
        "pronto_pages_failed_total", {"channel": "console", "reason": "send_error"}
    )
    assert failed == 1


async def test_garbage_goes_to_the_dlq_and_is_acknowledged(
    ctx: Pronto, sender: RecordingSender
) -> None:
    no_kind = json.loads(outbox("P5-p0"))
    no_kind["kind"] = "fax"
    async with notify_agent(ctx).test_context() as a:
        bad = [
            await a.put(key=b"bus-42", value=b"\xff not json"),
            await a.put(key=b"bus-42", value=json.dumps(no_kind).encode()),
        ]
        await until(lambda: all(ev.message.acked for ev in bad))
    assert [d["stage"] for d in topic(ctx, "dlq")] == ["notify", "notify"]
    assert sender.attempts == []


async def test_a_record_from_an_older_generation_is_not_sent_nor_acknowledged(
    ctx: Pronto, sender: RecordingSender
) -> None:
    """After a rebalance Faust reads again from the committed offset: a record taken before it
    is left to that second delivery."""
    gate = asyncio.Event()
    sender.hold = gate
    async with notify_agent(ctx).test_context() as a:
        busy = await a.put(key=b"bus-42", value=outbox("P1-p0"))
        await until(lambda: sender.in_flight == 1)
        ctx.app.consumer_generation_id += 1  # a rebalance while P1 is on its way out
        gate.set()
        await until(lambda: "P1-p0" in ctx.tables["sent_pages"])
        await asyncio.sleep(0.05)
    assert not busy.message.acked  # sent and recorded, but left to the new generation
    assert [p.page_id for p in sender.pages] == ["P1-p0"]


async def test_an_unsendable_question_tells_the_desk_and_other_customer_messages_do_not(
    tmp_path: Any,
) -> None:
    """The customer's one question (`-q0`) to an opted-out customer, or one that fails for
    good, settles its conflict at once; any other customer message needs nothing more."""
    sender = RecordingSender(statuses=[400])
    ctx = make_ctx(tmp_path, sender)
    ctx.optouts.state[ctx.privacy.customer_ref("+34600111222")] = True
    async with notify_agent(ctx).test_context() as a:
        question = await a.put(key=b"bus-42", value=outbox("P9-q0", "customer"))
        other = await a.put(key=b"bus-42", value=outbox("P9-c1", "customer"))
        await until(lambda: question.message.acked and other.message.acked)
    assert sender.attempts == []
    assert [(c["type"], c["page_id"]) for c in topic(ctx, "commands")] == [
        ("delivery_failed", "P9-q0")
    ]
    assert ctx.tables["sent_pages"]["P9-q0"] == "opted-out"


class DeskEvent:
    """The record the desk was handling when it wrote an outbox message (only what the notify
    stage reads of it)."""

    def __init__(self, ctx: Pronto, partition: int) -> None:
        self.message = SimpleNamespace(
            topic=ctx.topic("urgent").get_topic_name(), partition=partition,
            generation_id=ctx.app.consumer_generation_id)  # fmt: skip


def written(ctx: Pronto, partition: int) -> asyncio.Future[Any]:
    """The producer's future for an outbox record, answered by the broker."""
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    fut.set_result(SimpleNamespace(topic=ctx.topic("outbox").get_topic_name(), partition=partition))
    return fut


@pytest.fixture
def desk_ctx(tmp_path: Any, sender: RecordingSender, monkeypatch: pytest.MonkeyPatch) -> Pronto:
    """The alert and notify stages in one process, which owns outbox partition 3."""
    ctx = make_ctx(tmp_path, sender, frozenset({"alert", "notify"}))
    ctx.topics["urgent"] = ctx.app.topic("feedback.urgent")
    mine = {TP(ctx.topic("outbox").get_topic_name(), 3)}
    monkeypatch.setattr(ctx.app.consumer, "assignment", lambda: mine)
    return ctx


async def test_a_message_handed_over_by_the_desk_is_sent_before_its_outbox_record_comes_back(
    desk_ctx: Pronto, sender: RecordingSender
) -> None:
    ctx = desk_ctx
    assert ctx.hand_off is not None
    counted = ctx.registry.get_sample_value
    async with notify_agent(ctx).test_context() as a:
        desk = DeskEvent(ctx, 3)
        as_event(desk)
        ctx.hand_off(outbox("P9-p0"), written(ctx, 3))
        await until(lambda: "P9-p0" in ctx.tables["sent_pages"])
        assert [p.page_id for p in sender.attempts] == ["P9-p0"]  # before any outbox record
        record = await a.put(key=b"bus-42", value=outbox("P9-p0"), partition=3)
        await until(lambda: record.message.acked)  # found recorded: acknowledged, not sent
    assert [p.page_id for p in sender.attempts] == ["P9-p0"]
    assert [e["event"] for e in topic(ctx, "events")] == ["page_sent"]
    assert counted("pronto_pages_handed_off_total", {"outcome": "taken"}) == 1


async def test_the_outbox_record_waits_for_a_handed_over_send_under_way(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = asyncio.Event()
    sender = RecordingSender(hold=gate)
    ctx = make_ctx(tmp_path, sender, frozenset({"alert", "notify"}))
    mine = {TP(ctx.topic("outbox").get_topic_name(), 3)}
    monkeypatch.setattr(ctx.app.consumer, "assignment", lambda: mine)
    async with notify_agent(ctx).test_context() as a:
        desk = DeskEvent(ctx, 3)
        as_event(desk)
        assert ctx.hand_off is not None
        ctx.hand_off(outbox("P8-p0"), written(ctx, 3))
        await until(lambda: sender.in_flight == 1)
        record = await a.put(key=b"bus-42", value=outbox("P8-p0"), partition=3)
        await asyncio.sleep(0.05)
        assert not record.message.acked  # not recorded yet: the record waits, unacknowledged
        gate.set()
        await until(lambda: record.message.acked)
    assert [p.page_id for p in sender.attempts] == ["P8-p0"]


@pytest.mark.parametrize("partition", [2, 5])  # another partition than the desk's; not owned
async def test_a_message_whose_outbox_record_is_not_this_process_s_is_left_to_that_record(
    desk_ctx: Pronto, sender: RecordingSender, partition: int
) -> None:
    ctx = desk_ctx
    counted = ctx.registry.get_sample_value
    async with notify_agent(ctx).test_context():
        desk = DeskEvent(ctx, 3)  # held: the current event is a weak reference
        as_event(desk)
        assert ctx.hand_off is not None
        ctx.hand_off(outbox("P7-p0"), written(ctx, partition))
        await until(lambda: counted("pronto_pages_handed_off_total", {"outcome": "left"}) == 1)
    assert sender.attempts == [] and "P7-p0" not in ctx.tables["sent_pages"]


def test_without_the_setting_the_desk_hands_nothing_over(tmp_path: Any) -> None:
    ctx = make_ctx(tmp_path, RecordingSender(), frozenset({"alert", "notify"}), page_handoff=False)
    assert ctx.hand_off is None
    assert make_ctx(tmp_path, RecordingSender()).hand_off is None  # no desk in this process
