"""The demo's simulated people: supervisors who answer their pages, and customers who answer
the follow-up. They react to the lifecycle events on `alerts.events`, as real people react to
the SMS those events stand for, and reply by signed webhook like any phone would.

Most pages are acknowledged after a short delay ("OK 4821") and resolved a little later
("DONE 4821"); about a quarter are missed, so the next person in the chain is paged.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from pipeline.config import Venues
from pipeline.devtools.feedback_mix import SimMessage, follow_up_text

logger = logging.getLogger(__name__)

Send = Callable[[str, str, str], Awaitable[int]]  # (from, to, body) -> HTTP status


@dataclass
class Behaviour:
    miss_share: float = 0.25  # pages nobody answers: the chain escalates
    ack_delay_s: tuple[float, float] = (2.0, 8.0)
    resolve_delay_s: tuple[float, float] = (4.0, 12.0)
    answer_delay_s: tuple[float, float] = (2.0, 6.0)
    recovered_share: float = 0.8


@dataclass
class People:
    """Remembers who wrote what (the events carry no phone number) and plays everyone."""

    venues: Venues
    send: Send
    seed: int = 0
    behaviour: Behaviour = field(default_factory=Behaviour)
    by_feedback: dict[str, SimMessage] = field(default_factory=dict)
    by_text: dict[tuple[str, str], SimMessage] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)  # ref -> latest lifecycle event
    customer_of: dict[str, SimMessage] = field(default_factory=dict)  # ref -> who complained
    replies: int = 0
    reply_errors: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(f"people-{self.seed}")
        self._tasks: set[asyncio.Task[None]] = set()

    def remember(self, msg: SimMessage, channel: str, feedback_id: str, status: int) -> None:
        """Called by the simulator for each message it sent."""
        if not 200 <= status < 300:
            return
        if feedback_id:
            self.by_feedback[feedback_id] = msg
        if channel == "sms" or msg.phone:
            # A web submission's id is not known here; its text finds the customer instead.
            self.by_text[(msg.location_id, msg.comment.strip())] = msg
            self.by_text[(msg.location_id, msg.text.strip())] = msg

    def _customer(self, ev: dict[str, Any]) -> SimMessage | None:
        alert = ev.get("alert") or {}
        for fid in alert.get("feedback_ids") or ():
            if fid in self.by_feedback:
                return self.by_feedback[fid]
        return self.by_text.get((str(ev.get("location_id")), str(alert.get("text", "")).strip()))

    def on_event(self, ev: dict[str, Any]) -> None:
        """React to one lifecycle event (called in event order)."""
        kind, ref = str(ev.get("event")), str(ev.get("ref"))
        if kind in ("opened", "paged", "escalated", "acknowledged", "resolved", "followed_up",
                    "expired", "dismissed"):  # fmt: skip
            self.state[ref] = kind
        if kind == "opened" and ref not in self.customer_of:
            who = self._customer(ev)
            if who is not None:
                self.customer_of[ref] = who
        elif kind == "page_sent" and ev.get("kind") in ("page", "manager") and ref in self.state:
            if str(ev.get("page_id", "")).endswith("-m8"):
                return  # an overdue notice, not a page to act on
            if self.rng.random() >= self.behaviour.miss_share:
                self._later(
                    self._handle_page(ref, str(ev.get("location_id")), str(ev.get("to_name")))
                )
        elif kind == "resolved" and ref in self.customer_of:
            self._later(self._answer_follow_up(ref))

    async def _handle_page(self, ref: str, location_id: str, name: str) -> None:
        loc = self.venues.by_id(location_id)
        sup = loc.supervisor(name) if loc else None
        if loc is None or sup is None:
            return
        to = loc.numbers[0] if loc.numbers else ""
        await asyncio.sleep(self.rng.uniform(*self.behaviour.ack_delay_s))
        if self.state.get(ref) not in ("paged", "escalated"):
            return  # someone else took it, or it was closed
        await self._reply(sup.phone, to, f"OK {ref}")
        await asyncio.sleep(self.rng.uniform(*self.behaviour.resolve_delay_s))
        if self.state.get(ref) in ("paged", "escalated", "acknowledged"):
            # Not only "acknowledged": a DONE resolves an alert whose ack was lost, as it should.
            await self._reply(sup.phone, to, f"DONE {ref}")

    async def _answer_follow_up(self, ref: str) -> None:
        who = self.customer_of[ref]
        await asyncio.sleep(self.rng.uniform(*self.behaviour.answer_delay_s))
        recovered = self.rng.random() < self.behaviour.recovered_share
        await self._reply(who.phone, who.to, follow_up_text(self.rng, who.lang, recovered))

    async def _reply(self, sender: str, to: str, body: str) -> None:
        try:
            status = await self.send(sender, to, body)
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            logger.warning("a simulated reply failed: %s", type(e).__name__)
            status = 0
        self.replies += 1
        if not 200 <= status < 300:
            self.reply_errors += 1

    def _later(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Cancel every pending reply."""
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
