"""Outgoing messages sent concurrently, most urgent first, retried, and never half-done.

The notify agent hands each outbox record over as a `SendJob` and reads on. The queue:
- keeps at most `concurrency` sends under way; the jobs waiting for a slot go out in `priority`
  order (a supervisor's page before a manager's note before a customer's reply), oldest first
  within one priority;
- lets one job per key (page id) out at a time: a redelivered copy waits for the first one,
  then finds it recorded;
- calls again after a 429, a 5xx or no answer, with backoff (`retry.py`), giving up its slot
  while it waits; and asks the provider's log first when the failed call may have gone out;
- runs each job in the `contextvars.Context` it was handed over in (Faust's tables find the
  record a write belongs to there), and reports to a `SendHandler`, which records the outcome
  and acknowledges the record.

The queue acknowledges nothing itself. A job it drops (its partition moved away, the process
is stopping during a retry) was neither sent nor acknowledged: Kafka delivers it again.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

from pipeline.alerts.retry import DEFAULT_POLICY, RetryPolicy, may_have_gone_out, retry_in
from pipeline.alerts.senders import Page, PageSender, SenderError, SendResult

logger = logging.getLogger(__name__)

FLOW_POLL_S = 0.2  # how often a job waiting out a paused flow looks again

KIND_ORDER = {"page": 0, "manager": 1, "customer": 2}
SENT, RECOVERED, FAILED = "sent", "recovered", "failed"

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


def priority(kind: str, urgent: bool = False, level: int = 0) -> tuple[int, int, int]:
    """The order in which waiting messages take a free slot (lowest first): supervisors' pages,
    urgent ones first, then by escalation level; then managers' notes; then customers' replies.

    >>> waiting = [("customer", False, 0), ("page", False, 1), ("manager", False, 0),
    ...            ("page", False, 0), ("page", True, 2)]
    >>> sorted(waiting, key=lambda m: priority(*m))  # doctest: +NORMALIZE_WHITESPACE
    [('page', True, 2), ('page', False, 0), ('page', False, 1), ('manager', False, 0),
     ('customer', False, 0)]
    """
    return (KIND_ORDER.get(kind, len(KIND_ORDER)), 0 if urgent else 1, level)


@dataclass(frozen=True)
class Outcome:
    """How a job ended: `sent`, `recovered` (found in the provider's log: sent before), or
    `failed` for good (a permanent error, or retryable ones past the budget)."""

    state: str
    result: SendResult | None  # the last call's; None when no call was made
    attempts: int
    called_at: float = 0.0  # epoch seconds when the last call started


@dataclass(eq=False)
class SendJob(Generic[T]):
    """One message to send. `item` is the handler's own (the record, the decoded message)."""

    key: str  # one job per key at a time: the page id
    item: T
    priority: tuple[int, ...] = ()
    context: contextvars.Context | None = None  # None: the context of the queue's dispatcher
    since: float = 0.0  # epoch seconds: the provider's log is searched from here ...
    check_log: bool = False  # ... before the next call (a message from before a restart)
    page: Page | None = None  # set by `SendHandler.prepare`
    attempts: int = 0
    first_call: float | None = None  # on the queue's clock
    seq: int = field(default=0, repr=False)


class SendHandler(Protocol[T_contra]):
    """What the queue needs from its owner; every method gets the job's `item`."""

    def live(self, item: T_contra) -> bool:
        """Whether the job is still this process's to send (False: drop it, unacknowledged)."""
        ...

    def flowing(self) -> bool:
        """Whether sends may start now (False while a rebalance or a seek is under way: the
        job waits, then goes on if it is still `live`)."""
        ...

    async def prepare(self, item: T_contra) -> Page | None:
        """The page to send, or None: nothing to send (already recorded, opted out, ...), and
        the handler has recorded and acknowledged that itself."""
        ...

    def calling(self, item: T_contra, page: Page) -> None:
        """The first call for the job is about to start."""
        ...

    async def finish(self, item: T_contra, outcome: Outcome) -> None:
        """Record the outcome, then acknowledge the record."""
        ...


class SendQueue(Generic[T]):
    """A bounded priority queue of `SendJob`s with `concurrency` senders: see the module doc.

    Use it as `async with SendQueue(...) as q: ... await q.put(job)`. `put` waits while
    `capacity` jobs are in the queue (waiting, under way, or between retries), so a backlog
    stays in Kafka; it raises the error of a job that crashed (a bug: it must not pass quietly).
    """

    def __init__(
        self,
        sender: PageSender,
        handler: SendHandler[T],
        *,
        concurrency: int = 16,
        capacity: int | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sender = sender
        self.handler = handler
        self.concurrency = max(1, concurrency)
        self.policy = policy
        self._rand = rand
        self._clock = clock
        self._slots = asyncio.Semaphore(self.concurrency)
        self._room = asyncio.Semaphore(capacity or max(256, 4 * self.concurrency))
        self._heap: list[tuple[tuple[int, ...], int, SendJob[T]]] = []
        self._ready = asyncio.Event()
        self._seq = itertools.count()
        self._keys: dict[str, deque[SendJob[T]]] = {}  # key -> its jobs behind the one out
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: dict[SendJob[T], asyncio.TimerHandle] = {}
        self._dispatcher: asyncio.Task[None] | None = None
        self._closing = False
        self.crash: BaseException | None = None

    async def __aenter__(self) -> SendQueue[T]:
        self.start()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.close()
        if exc is None and self.crash is not None:
            raise self.crash

    def start(self) -> None:
        if self._dispatcher is None:
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())

    @property
    def pending(self) -> int:
        """Jobs taken and not ended: waiting, under way, or between retries."""
        return sum(1 + len(w) for w in self._keys.values())

    async def put(self, job: SendJob[T]) -> None:
        """Queue `job`; wait while the queue is full."""
        if self.crash is not None:
            raise self.crash
        if self._closing:
            raise RuntimeError("the send queue is closed")
        await self._room.acquire()
        job.seq = next(self._seq)
        behind = self._keys.get(job.key)
        if behind is not None:
            behind.append(job)
        else:
            self._keys[job.key] = deque()
            self._push(job)

    async def settle(self, timeout_s: float) -> int:
        """Wait (up to `timeout_s`) until no job waits for a slot or is under way (jobs between
        retries aside), e.g. before partitions move; return how many jobs ran meanwhile. Jobs the
        handler no longer finds `live` are dropped on their turn, not sent."""
        waited: set[asyncio.Task[None]] = set()
        deadline = self._clock() + timeout_s
        while self._tasks or self._heap:
            left = deadline - self._clock()
            if left <= 0:
                logger.warning("%d sends still under way after %.0fs", len(self._tasks), timeout_s)
                break
            if self._tasks:
                waited |= self._tasks
                await asyncio.wait(set(self._tasks), timeout=left)
            else:
                await asyncio.sleep(0.005)  # the dispatcher's turn
        return len(waited)

    async def close(self, grace_s: float = 10.0) -> None:
        """Stop: take no more jobs; send the waiting ones and let the calls under way end,
        within `grace_s`; drop jobs waiting to retry, and whatever is left at the deadline."""
        self._closing = True
        for job, handle in list(self._timers.items()):
            handle.cancel()
            self._end(job)
        self._timers.clear()
        try:
            if self._dispatcher is not None:
                await self.settle(grace_s)
        finally:
            if self._dispatcher is not None:
                self._dispatcher.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(
                *self._tasks, *([self._dispatcher] if self._dispatcher else []),
                return_exceptions=True,
            )  # fmt: skip
            left = self.pending
            if left:
                logger.info("%d messages not sent before the stop: Kafka delivers them again", left)
            self._heap.clear()
            self._keys.clear()

    def _push(self, job: SendJob[T]) -> None:
        heapq.heappush(self._heap, (job.priority, job.seq, job))
        self._ready.set()

    def _retry(self, job: SendJob[T]) -> None:
        del self._timers[job]
        self._push(job)

    def _end(self, job: SendJob[T]) -> None:
        """`job` leaves the queue: the next job with its key (if any) may go."""
        self._room.release()
        behind = self._keys.get(job.key)
        if behind:
            self._push(behind.popleft())
        else:
            self._keys.pop(job.key, None)

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()
            while not self._heap:
                self._ready.clear()
                await self._ready.wait()
            job = heapq.heappop(self._heap)[2]
            # The job runs in the context of the record it came from.
            task = loop.create_task(self._run(job), context=job.context)
            self._tasks.add(task)
            task.add_done_callback(partial(self._task_done, job))

    def _task_done(self, job: SendJob[T], task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("sending %s crashed", job.key, exc_info=exc)
            self.crash = self.crash or exc

    async def _run(self, job: SendJob[T]) -> None:
        over = True
        try:
            over = await self._step(job)
        finally:
            self._slots.release()
            if over:
                self._end(job)

    async def _step(self, job: SendJob[T]) -> bool:
        """Take `job` one call further; False: it waits for a retry."""
        handler = self.handler
        # A pause (a seek, a rebalance) is waited out rather than taken for a lost partition:
        # a record of the same generation is not always delivered again after a seek.
        while not handler.flowing() and handler.live(job.item) and not self._closing:
            await asyncio.sleep(FLOW_POLL_S)
        if not handler.live(job.item):
            logger.info("%s left to its partition's next owner", job.key)
            return True  # dropped: its partition went elsewhere, where it is delivered again
        if job.page is None:
            job.page = await handler.prepare(job.item)
            if job.page is None:
                return True
        page = job.page
        if job.check_log and await self._in_log(page, job.since):
            await handler.finish(job.item, Outcome(RECOVERED, None, job.attempts))
            return True
        if job.first_call is None:
            handler.calling(job.item, page)
            job.first_call = self._clock()
        called_at = time.time()
        result = await self.sender.send(page)
        job.attempts += 1
        if result.ok:
            await handler.finish(job.item, Outcome(SENT, result, job.attempts, called_at))
            return True
        elapsed = self._clock() - job.first_call
        wait_s = retry_in(result.status, job.attempts, elapsed, self._rand(), self.policy)
        if wait_s is None:
            await handler.finish(job.item, Outcome(FAILED, result, job.attempts, called_at))
            return True
        if self._closing or not handler.live(job.item):
            return True  # the next owner of the record tries again, with a whole budget
        job.check_log = job.check_log or may_have_gone_out(result.status)
        logger.warning(
            "%s %s: %s; calling again in %.1fs (attempt %d)",
            page.kind, page.page_id, result.error, wait_s, job.attempts + 1,
        )  # fmt: skip
        self._timers[job] = asyncio.get_running_loop().call_later(wait_s, self._retry, job)
        return False

    async def _in_log(self, page: Page, since: float) -> bool:
        """Whether the provider already has `page`; if it cannot say, send: a second page
        beats none."""
        try:
            return await self.sender.already_sent(page, since)
        except SenderError as e:
            logger.warning("cannot check the message log (%s): sending %s", e, page.page_id)
            return False
