"""Start the worker-wide mirrors that a process's stages read: the opt-out list (web, notify)
and the alert index (web, alert). The score stage needs neither."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.app import Pronto
    from pipeline.mirror import TopicMirror

logger = logging.getLogger(__name__)


def wanted(ctx: Pronto) -> list[TopicMirror]:
    """The mirrors this process keeps, for its stages."""
    out = []
    if ctx.stages & {"web", "notify"}:
        out.append(ctx.optouts)
    if ctx.stages & {"web", "alert"}:
        out.append(ctx.alert_index)
    return out


def caught_up(ctx: Pronto) -> bool:
    """Whether every mirror this process keeps has read its topic to the end once."""
    return all(m.caught_up.is_set() for m in wanted(ctx))


def register(ctx: Pronto) -> None:
    """Start this process's mirrors once: at its first partition assignment, so that they load
    while Faust recovers the tables (Faust starts an app's tasks only once its first table
    recovery is done: the alert process then waited for both in turn, about a second more at
    a restart), or as a task in a process that is assigned nothing (web)."""
    app = ctx.app
    started = {"done": False}

    def start() -> None:
        if not started["done"]:
            started["done"] = True
            for mirror in wanted(ctx):
                app.add_future(_run(mirror))

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def start_with_the_assignment(sender: Any, *args: Any, **kwargs: Any) -> None:
        start()

    @app.task
    async def start_mirrors() -> None:
        start()


async def _run(mirror: TopicMirror) -> None:
    try:
        await mirror.run()
    except asyncio.CancelledError:
        raise
    except Exception:  # a mirror that dies would leave readiness false for good: say why
        logger.exception("mirror %s stopped", mirror.topic)
        raise
