"""A table recovery that has stopped making progress restarts its process.

Faust replays a table's changelog partitions after every rebalance before the stage may read
the table. Sometimes the replay waits for changelog records that its consumer never fetches:
seen in `tests/e2e/test_reliability.py` (the rolling restart, about one run in eight), where a
joining worker's score process logged "No event received for active tp ... since recovery
start" for minutes after the second rebalance, and the locations of those partitions were
never scored. faust-streaming reports hangs of this shape (issues #74 and #21) without a fix.

A process in that state serves nothing and never comes back by itself, while a restart reads
the tables' persisted offsets and recovers in seconds. So each stage process watches its own
recovery: when the remaining changelog records have not gone down for `stall_s`, it logs why
and stops itself gracefully (SIGTERM, the same path as a rolling restart), and the supervisor
starts it again. Nothing is lost: during recovery the stream partitions are paused, and
offsets are committed only for records that were processed.

`StallWatch` is pure (numbers in, a verdict out); `check` reads Faust's recovery service into
it, and `register` starts the loop around them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.early_start import at_first_assignment

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)

CHECK_EVERY_S = 5.0
HARD_EXIT_AFTER_S = 60.0  # a graceful stop that itself hangs ends the process anyway
EXIT_STALLED = 75  # EX_TEMPFAIL: try again


@dataclass
class StallWatch:
    """Tracks one recovery at a time: `observe` says whether it has stalled.

    A recovery is known by when it started; a new one starts the clock again. Progress is any
    drop in the remaining records (or a recovery that has nothing left).

    >>> w = StallWatch(stall_s=30.0)
    >>> w.observe(now=100.0, started_at=100.0, remaining=500)
    False
    >>> w.observe(now=110.0, started_at=100.0, remaining=200)  # progress
    False
    >>> w.observe(now=139.0, started_at=100.0, remaining=200)
    False
    >>> w.observe(now=141.0, started_at=100.0, remaining=200)  # 31 s without progress
    True
    >>> w.observe(now=150.0, started_at=145.0, remaining=200)  # a new recovery
    False
    """

    stall_s: float
    started_at: float | None = None
    best: int | None = None
    progress_at: float = 0.0

    def observe(self, now: float, started_at: float | None, remaining: int) -> bool:
        if started_at is None or remaining <= 0:
            self.started_at = self.best = None
            return False
        if started_at != self.started_at:
            self.started_at, self.best, self.progress_at = started_at, remaining, now
            return False
        if self.best is None or remaining < self.best:
            self.best, self.progress_at = remaining, now
            return False
        return now - self.progress_at >= self.stall_s


def register(ctx: Pronto) -> None:
    """Watch this process's table recoveries, and stop it when one stalls (`recovery_stall_s`;
    0 turns the watch off).

    Not a Faust timer: Faust starts an app's timers only once its first recovery completes,
    and that first recovery can stall too. The watch starts with the first assignment."""
    stall_s = ctx.settings.recovery_stall_s
    if stall_s <= 0:
        return
    app: Any = ctx.app
    at_first_assignment(app, lambda: [watch_forever(app.tables.recovery, StallWatch(stall_s))])


async def watch_forever(recovery: Any, watch: StallWatch) -> None:
    while True:
        await asyncio.sleep(CHECK_EVERY_S)
        if check(recovery, watch, time.monotonic()):
            stop_self()
            return


def check(recovery: Any, watch: StallWatch, now: float) -> bool:
    """One look at Faust's `Recovery` service: True (and the reason logged) when it stalled."""
    if not recovery.in_recovery:
        watch.observe(now, None, 0)
        return False
    remaining = recovery.active_remaining_total()
    if not watch.observe(now, recovery._recovery_started_at, remaining):
        return False
    stuck = sorted(f"{tp.topic}[{tp.partition}]: {n}"
                   for tp, n in recovery.active_remaining().items() if n > 0)  # fmt: skip
    logger.error(
        "table recovery made no progress for %.0f s (%d records left: %s); stopping this "
        "process so that the supervisor restarts it", watch.stall_s, remaining, ", ".join(stuck),
    )  # fmt: skip
    return True


def stop_self() -> None:
    """SIGTERM to this process (Faust's graceful stop), and a hard exit if that hangs."""
    asyncio.get_running_loop().call_later(HARD_EXIT_AFTER_S, os._exit, EXIT_STALLED)
    os.kill(os.getpid(), signal.SIGTERM)
