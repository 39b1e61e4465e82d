"""The complaint phases of the benchmark: a burst of complaints, and complaints behind a backlog.

"Complaints first" (DESIGN.md) promises that a complaint is paged within a second or so even
when the score stage is far behind, and that a burst of them at many venues is paged at once.
Each phase sends one complaint per venue, at venues that no other load touches (so no complaint
joins an earlier alert's burst and goes without a page of its own), over the signed SMS
webhook, and the Twilio stand-in records when each page call arrived. `figures` matches them
once every phase is over.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import Location
from pipeline.devtools import bench_env as env_
from pipeline.devtools import bench_latency as lat
from pipeline.devtools import bench_load as load
from pipeline.devtools import bench_stats as st
from pipeline.devtools.twilio_standin import TwilioStandin

logger = logging.getLogger(__name__)

BURST_WITHIN_S = 3.0  # DESIGN.md: all of a burst of 20 complaints at 20 venues within 3 s


@dataclass
class ComplaintRun:
    """Complaints sent one per venue, and what else the phase measured."""

    venues: tuple[str, ...]
    run: load.HttpRun
    extra: dict[str, Any] = field(default_factory=dict)


def first_callee(loc: Location) -> str:
    """The phone of the first person in `loc`'s chain: who a new complaint pages (the bench's
    supervisors are on shift around the clock)."""
    sup = loc.supervisor(loc.escalation.chain[0])
    return sup.phone if sup is not None else ""


def posts(calls: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The message-create calls among recorded Twilio calls.

    >>> posts([{"method": "POST", "path": "/2010-04-01/Accounts/AC1/Messages.json"},
    ...        {"method": "GET", "path": "/2010-04-01/Accounts/AC1/Messages.json"}])
    [{'method': 'POST', 'path': '/2010-04-01/Accounts/AC1/Messages.json'}]
    """
    return [c for c in calls
            if c.get("method") == "POST" and str(c.get("path", "")).endswith("/Messages.json")]  # fmt: skip


def wait_paged(standin: TwilioStandin, venues: Sequence[Location], since: float,
               timeout_s: float) -> bool:  # fmt: skip
    """Wait until a message went to the first callee of every one of `venues` since `since`
    (wall clock); False if the time ran out first."""
    want = {first_callee(v) for v in venues}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = {str(c.get("form", {}).get("To", "")) for c in posts(standin.recorded(since))}
        if want <= got:
            return True
        time.sleep(0.2)
    return False


def settle(standin: TwilioStandin, bootstrap: str, outbox: str, base: int,
           timeout_s: float) -> float:  # fmt: skip
    """Wait until the notify stage has called Twilio for every message in `outbox` past offset
    sum `base` (what an earlier worker wrote), so a phase does not start behind the pages of
    the one before; returns the seconds waited."""
    offsets = env_.Offsets(bootstrap)
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < timeout_s:
            if int(standin.stats()["posts"]) >= offsets.end(outbox) - base:
                break
            time.sleep(0.25)
    finally:
        offsets.close()
    return round(time.monotonic() - t0, 2)


def burst(w: env_.WorkerProc, standin: TwilioStandin, venues: Sequence[Location], phase: int,
          timeout_s: float) -> ComplaintRun:  # fmt: skip
    """A complaint at each of `venues`, all sent at the same moment."""
    run = asyncio.run(load.complaint_webhooks(w.url, venues, 0.0, phase, phase))
    paged = wait_paged(standin, venues, run.started, timeout_s)
    return ComplaintRun(tuple(v.id for v in venues), run, {"all_paged_in_wait": paged})


class DrainWatch(threading.Thread):
    """Polls a topic's end offset (its own client) until it reaches `target`; notes when."""

    def __init__(self, bootstrap: str, topic: str, target: int, timeout_s: float) -> None:
        super().__init__(name="drain-watch", daemon=True)
        self.bootstrap, self.topic, self.target, self.timeout_s = (
            bootstrap,
            topic,
            target,
            timeout_s,
        )
        self.latest = 0
        self.done_at: float | None = None  # monotonic
        self._halt = threading.Event()

    def run(self) -> None:
        offsets = env_.Offsets(self.bootstrap)
        deadline = time.monotonic() + self.timeout_s
        try:
            while not self._halt.is_set() and time.monotonic() < deadline:
                self.latest = offsets.end(self.topic)
                if self.latest >= self.target:
                    self.done_at = time.monotonic()
                    return
                self._halt.wait(0.2)
        finally:
            offsets.close()

    def stop(self) -> None:
        self._halt.set()


def backlog(w: env_.WorkerProc, standin: TwilioStandin, bootstrap: str, prefix: str,
            pool: Sequence[dict[str, object]], records: int, venues: Sequence[Location],
            gap_s: float, phase: int, drain_timeout_s: float,
            page_timeout_s: float) -> ComplaintRun:  # fmt: skip
    """`records` ordinary feedback produced straight to `feedback.raw`, then, while the score
    stage works through them, a complaint at each of `venues`, `gap_s` apart. Also measures
    how long the backlog took to drain (its records on `feedback.scored`)."""
    scored = f"{prefix}feedback.scored"
    offsets = env_.Offsets(bootstrap)
    try:
        before = offsets.end(scored)
    finally:
        offsets.close()
    watch = DrainWatch(bootstrap, scored, before + records, drain_timeout_s)
    t0 = time.monotonic()
    watch.start()
    n, produce_s = load.produce(bootstrap, f"{prefix}feedback.raw",
                                load.records(pool, 0, records, f"k{phase}"))  # fmt: skip
    run = asyncio.run(load.complaint_webhooks(w.url, venues, gap_s, phase, phase))
    left = max(0, before + n - watch.latest)  # records still unscored at the last complaint
    watch.join(drain_timeout_s)
    watch.stop()
    drain_s = (watch.done_at or time.monotonic()) - t0
    done = max(0, min(n, watch.latest - before))
    paged = wait_paged(standin, venues, run.started, page_timeout_s)
    extra = {
        "records": n, "produce_s": round(produce_s, 2), "drained": watch.done_at is not None,
        "drain_s": round(drain_s, 2), "drain_rate": round(st.rate(done, drain_s), 1),
        "unscored_at_last_complaint": left, "all_paged_in_wait": paged,
    }  # fmt: skip
    return ComplaintRun(tuple(v.id for v in venues), run, extra)


def figures(
    c: ComplaintRun, matched: Sequence[lat.PageCall], within_s: float | None = None
) -> dict[str, Any]:
    """Webhook -> page call for the complaints of `c`, and what else its phase measured.

    >>> run = load.HttpRun(0.0, sent=2, ok=2, started=10.0, ended=11.0, complaints=2)
    >>> c = ComplaintRun(("a", "b"), run, {"records": 5})
    >>> f = figures(c, [lat.PageCall("P1-p0", "a", 10.2, 10.25)], within_s=3.0)
    >>> f["sent"], f["paged"], f["p50"], f["all_within_s"], f["missing"], f["records"]
    (2, 1, 50.0, False, ['b'], 5)
    """
    # The webhook's own clock starts a little after the sender's: a second of slack each side.
    pages = lat.complaint_pages(matched, set(c.venues), c.run.started - 1.0, c.run.ended + 1.0)
    out = st.complaints_summary([p.latency_s for p in pages.values()], c.run.complaints, within_s)
    out.update(ok=c.run.ok, errors=c.run.errors, missing=[v for v in c.venues if v not in pages])
    out.update(c.extra)
    return out
