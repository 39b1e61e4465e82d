"""The send queue with the recording fake: order, bounded concurrency, retries, one job per key."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from pipeline.alerts.retry import RetryPolicy
from pipeline.alerts.senders import Page, RecordingSender
from pipeline.alerts.sendqueue import (
    FAILED,
    RECOVERED,
    SENT,
    Outcome,
    SendJob,
    SendQueue,
    priority,
)

FAST = RetryPolicy(budget_s=5.0, first_s=0.01, cap_s=0.05)  # retries in milliseconds


@dataclass
class FakeHandler:
    """Records what the queue asks; `recorded` plays the `sent-pages` table."""

    dead: set[str] = field(default_factory=set)  # items no longer this process's
    recorded: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    on_finish: Callable[[str], None] | None = None

    paused: bool = False  # the consumer's flow, stopped for a seek or a rebalance

    def live(self, item: str) -> bool:
        return item not in self.dead

    def flowing(self) -> bool:
        return not self.paused

    async def prepare(self, item: str) -> Page | None:
        page_id = item.split("#")[0]  # "P1#copy" is a redelivered copy of P1
        if page_id in self.recorded:
            self.skipped.append(item)
            return None
        kind = "page" if page_id.startswith("P") else "customer"
        return Page(page_id, "+34600000001", f"body of {page_id}", kind)

    def calling(self, item: str, page: Page) -> None:
        self.calls.append(item)

    async def finish(self, item: str, outcome: Outcome) -> None:
        if self.on_finish is not None:
            self.on_finish(item)
        self.recorded[item.split("#")[0]] = outcome.state
        self.outcomes[item] = outcome


def job(item: str, prio: tuple[int, ...] = (0, 1, 0), **kw: object) -> SendJob[str]:
    return SendJob(key=item.split("#")[0], item=item, priority=prio, **kw)  # type: ignore[arg-type]


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_waiting_messages_go_out_supervisor_pages_first_then_oldest_first() -> None:
    gate = asyncio.Event()
    sender = RecordingSender(hold=gate)
    handler = FakeHandler()
    async with SendQueue(sender, handler, concurrency=1) as q:
        await q.put(job("C0", priority("customer")))  # takes the only slot and holds it
        await until(lambda: sender.in_flight == 1)
        for item, prio in [
            ("C1", priority("customer")),
            ("M1", priority("manager")),
            ("P-level1", priority("page", level=1)),
            ("C2", priority("customer")),
            ("P-level0", priority("page", level=0)),
            ("P-urgent", priority("page", urgent=True, level=2)),
            ("M2", priority("manager")),
        ]:
            await q.put(job(item, prio))
        gate.set()
        await until(lambda: len(handler.outcomes) == 8)
    assert [p.page_id for p in sender.attempts] == [
        "C0", "P-urgent", "P-level0", "P-level1", "M1", "M2", "C1", "C2",
    ]  # fmt: skip
    assert {o.state for o in handler.outcomes.values()} == {SENT}


async def test_twenty_sends_through_a_slow_api_run_concurrently_within_the_bound() -> None:
    sender = RecordingSender(delay_s=0.3)
    handler = FakeHandler()
    started = time.monotonic()
    async with SendQueue(sender, handler, concurrency=16) as q:
        for n in range(20):
            await q.put(job(f"P{n}"))
        await until(lambda: len(handler.outcomes) == 20)
    elapsed = time.monotonic() - started
    assert len(sender.pages) == 20 and sender.max_in_flight == 16  # never more than the bound
    assert elapsed < 20 * 0.3 / 2, elapsed  # one at a time takes 6 s; two rounds take 0.6 s


async def test_a_burst_of_twenty_complaints_is_paged_at_once_with_twenty_slots() -> None:
    sender = RecordingSender(delay_s=0.3)
    handler = FakeHandler()
    async with SendQueue(sender, handler, concurrency=20) as q:
        for n in range(20):
            await q.put(job(f"P{n}"))
        await until(lambda: len(handler.outcomes) == 20)
    assert sender.max_in_flight == 20
    assert handler.calls == [f"P{n}" for n in range(20)]  # each one's first call, in order


@pytest.mark.parametrize("statuses", [[429], [503], [429, 503, 500], [0, 502]])
async def test_a_retryable_failure_is_sent_again_and_recorded_once(statuses: list[int]) -> None:
    sender = RecordingSender(statuses=list(statuses))
    handler = FakeHandler()
    async with SendQueue(sender, handler, policy=FAST) as q:
        await q.put(job("P1"))
        await until(lambda: "P1" in handler.outcomes)
    outcome = handler.outcomes["P1"]
    assert (outcome.state, outcome.attempts) == (SENT, len(statuses) + 1)
    assert len(sender.pages) == 1 and len(sender.attempts) == len(statuses) + 1
    assert handler.calls == ["P1"]  # `calling` (the latency metric) once, for the first call


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_a_permanent_failure_is_not_retried(status: int) -> None:
    sender = RecordingSender(statuses=[status])
    handler = FakeHandler()
    async with SendQueue(sender, handler, policy=FAST) as q:
        await q.put(job("P1"))
        await until(lambda: "P1" in handler.outcomes)
    outcome = handler.outcomes["P1"]
    assert (outcome.state, outcome.attempts) == (FAILED, 1)
    assert outcome.result is not None and outcome.result.status == status
    assert len(sender.attempts) == 1 and sender.pages == []


async def test_retries_end_in_the_failure_path_once_the_budget_is_spent() -> None:
    sender = RecordingSender(fail_always=True, error="429 20429: Too Many Requests", status=429)
    handler = FakeHandler()
    policy = RetryPolicy(budget_s=0.3, first_s=0.01, cap_s=0.05)
    async with SendQueue(sender, handler, policy=policy) as q:
        await q.put(job("P1"))
        await until(lambda: "P1" in handler.outcomes)
    outcome = handler.outcomes["P1"]
    assert outcome.state == FAILED and outcome.attempts >= 4
    assert outcome.result is not None and outcome.result.error.startswith("429")


async def test_a_call_that_may_have_gone_out_is_looked_up_before_calling_again() -> None:
    sender = RecordingSender(answer_lost=1)  # the message went out; its answer did not come back
    handler = FakeHandler()
    async with SendQueue(sender, handler, policy=FAST) as q:
        await q.put(job("P1", since=time.time() - 60))
        await until(lambda: "P1" in handler.outcomes)
    assert handler.outcomes["P1"].state == RECOVERED
    assert len(sender.attempts) == 1  # no second page


async def test_a_message_from_before_a_restart_is_looked_up_first() -> None:
    sender = RecordingSender()
    earlier = Page("P1", "+34600000001", "body of P1", "page")
    await sender.send(earlier)  # sent by the process that died before recording it
    handler = FakeHandler()
    async with SendQueue(sender, handler) as q:
        await q.put(job("P1", since=time.time() - 60, check_log=True))
        await q.put(job("P2", since=time.time() - 60, check_log=True))
        await until(lambda: len(handler.outcomes) == 2)
    assert handler.outcomes["P1"].state == RECOVERED and handler.outcomes["P2"].state == SENT
    assert [p.page_id for p in sender.attempts] == ["P1", "P2"]  # P1 only the first time


async def test_a_redelivered_copy_waits_for_the_first_and_is_not_sent_again() -> None:
    gate = asyncio.Event()
    sender = RecordingSender(hold=gate)
    handler = FakeHandler()
    async with SendQueue(sender, handler, concurrency=4) as q:
        await q.put(job("P1"))
        await q.put(job("P1#copy"))
        await q.put(job("P2"))
        await until(lambda: sender.in_flight == 2)
        assert sorted(p.page_id for p in sender.attempts) == ["P1", "P2"]  # the copy waits
        gate.set()
        await until(lambda: handler.skipped == ["P1#copy"])
    assert [p.page_id for p in sender.pages].count("P1") == 1
    assert q.pending == 0


async def test_a_job_whose_partition_moved_is_dropped_neither_sent_nor_recorded() -> None:
    sender = RecordingSender()
    handler = FakeHandler(dead={"P1"})
    async with SendQueue(sender, handler) as q:
        await q.put(job("P1"))
        await q.put(job("P2"))
        await until(lambda: "P2" in handler.outcomes)
        await until(lambda: q.pending == 0)
    assert [p.page_id for p in sender.attempts] == ["P2"] and "P1" not in handler.outcomes


async def test_a_paused_flow_is_waited_out_and_the_page_still_goes_out() -> None:
    sender = RecordingSender()
    handler = FakeHandler(paused=True)  # a seek under way: no send may start
    async with SendQueue(sender, handler) as q:
        await q.put(job("P1"))
        await asyncio.sleep(0.5)
        assert sender.attempts == []
        handler.paused = False  # the same generation goes on: the page is still ours
        await until(lambda: "P1" in handler.outcomes)
    assert [p.page_id for p in sender.pages] == ["P1"]


async def test_a_job_whose_partition_moves_during_a_pause_is_dropped() -> None:
    sender = RecordingSender()
    handler = FakeHandler(paused=True)
    async with SendQueue(sender, handler) as q:
        await q.put(job("P1"))
        await asyncio.sleep(0.3)
        handler.dead.add("P1")  # the rebalance gave the partition to another worker
        await until(lambda: q.pending == 0)
        handler.paused = False
    assert sender.attempts == [] and "P1" not in handler.outcomes


async def test_a_retry_is_dropped_when_its_partition_moves_meanwhile() -> None:
    sender = RecordingSender(statuses=[503])
    handler = FakeHandler()
    handler.on_finish = None

    async with SendQueue(sender, handler, policy=RetryPolicy(first_s=0.2, cap_s=0.2)) as q:
        await q.put(job("P1"))
        await until(lambda: len(sender.attempts) == 1)
        handler.dead.add("P1")  # a rebalance: the record is delivered again, elsewhere
        await until(lambda: q.pending == 0)
    assert len(sender.attempts) == 1 and handler.outcomes == {}


async def test_put_waits_while_the_queue_is_full() -> None:
    gate = asyncio.Event()
    sender = RecordingSender(hold=gate)
    handler = FakeHandler()
    async with SendQueue(sender, handler, concurrency=1, capacity=2) as q:
        await q.put(job("P1"))
        await q.put(job("P2"))
        third = asyncio.create_task(q.put(job("P3")))
        await until(lambda: sender.in_flight == 1)
        for _ in range(20):
            await asyncio.sleep(0)
        assert not third.done() and q.pending == 2  # a backlog stays in Kafka
        gate.set()
        await third
        await until(lambda: len(handler.outcomes) == 3)


async def test_close_sends_what_waits_and_drops_what_waits_to_retry() -> None:
    sender = RecordingSender(statuses=[503], delay_s=0.01)
    handler = FakeHandler()
    q = SendQueue(sender, handler, concurrency=1, policy=RetryPolicy(first_s=30.0, cap_s=30.0))
    async with q:
        await q.put(job("P1"))  # fails, and waits 15-30 s to retry
        await until(lambda: len(sender.attempts) == 1)
        await q.put(job("P2"))
        await q.put(job("P3"))
    assert sorted(handler.outcomes) == ["P2", "P3"]  # P1 is neither failed nor acknowledged
    assert q.pending == 0


async def test_each_job_runs_in_the_context_it_was_queued_in() -> None:
    record: contextvars.ContextVar[str] = contextvars.ContextVar("record")
    seen: dict[str, str] = {}
    sender = RecordingSender(delay_s=0.01)
    handler = FakeHandler(on_finish=lambda item: seen.__setitem__(item, record.get("none")))
    async with SendQueue(sender, handler, concurrency=2) as q:
        for n in range(4):
            record.set(f"offset-{n}")  # as Faust's stream sets the current event
            await q.put(job(f"P{n}", context=contextvars.copy_context()))
        await until(lambda: len(seen) == 4)
    assert seen == {f"P{n}": f"offset-{n}" for n in range(4)}


async def test_a_crash_in_a_job_is_raised_not_swallowed() -> None:
    def boom(item: str) -> None:
        raise RuntimeError(f"bug while recording {item}")

    handler = FakeHandler(on_finish=boom)
    q = SendQueue(RecordingSender(), handler)
    with pytest.raises(RuntimeError, match="bug while recording P1"):
        async with q:
            await q.put(job("P1"))
            await until(lambda: q.crash is not None)
            await q.put(job("P2"))


async def test_settle_waits_for_the_calls_under_way() -> None:
    sender = RecordingSender(delay_s=0.2)
    handler = FakeHandler()
    async with SendQueue(sender, handler, concurrency=4) as q:
        for n in range(3):
            await q.put(job(f"P{n}"))
        await until(lambda: sender.in_flight == 3)
        assert await q.settle(timeout_s=10.0) == 3
        assert sorted(handler.outcomes) == ["P0", "P1", "P2"]
