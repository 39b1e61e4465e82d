"""A stage process's CPU priority, lowered once the process is ready.

The score process runs at a lower priority (`PRONTO_NICE_WHEN_READY`, which `pronto worker`
sets to 10 for it: ten steps below the others), so that on a busy host the kernel serves
ingest and the page path first. At a restart, though, it must be ready within seconds like the others. At nice 10 from the
start it was the last one ready, behind the web process's language models and the alert
process's replay. So it starts at the normal priority and lowers it once ready.

Linux keeps a nice value per thread (setpriority(2) with a thread id), so every thread of
the process is reniced; a thread started later inherits its creator's value.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)


def renice_threads(nice: int, task_dir: str = "/proc/self/task") -> int:
    """Set every thread of this process to `nice` (an absolute value); the number set.

    >>> before = os.getpriority(os.PRIO_PROCESS, 0)
    >>> renice_threads(before) >= 1
    True
    """
    done = 0
    for tid in os.listdir(task_dir):
        try:
            os.setpriority(os.PRIO_PROCESS, int(tid), nice)
        except ProcessLookupError:  # the thread ended meanwhile
            continue
        done += 1
    return done


def register(ctx: Pronto) -> None:
    """Lower this process's priority by `PRONTO_NICE_WHEN_READY` once it is first ready."""
    step = ctx.settings.nice_when_ready
    if step <= 0:
        return
    from pipeline.web.local import until_ready

    @ctx.app.task
    async def lower_priority_when_ready() -> None:
        await until_ready(ctx)
        nice = os.getpriority(os.PRIO_PROCESS, 0) + step
        threads = renice_threads(nice)
        logger.info("ready: CPU priority lowered to nice %s (%s threads)", nice, threads)
