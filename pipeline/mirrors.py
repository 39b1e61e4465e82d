"""Start the worker-wide mirrors that a process's stages read: the opt-out list (web, notify)
and the alert index (web, alert). The score stage needs neither."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

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
    for mirror in wanted(ctx):
        ctx.app.task(_runner(mirror))


def _runner(mirror: TopicMirror) -> Callable[[], Awaitable[None]]:
    # A Faust task that takes an argument is handed the app: this one takes none.
    async def run() -> None:
        await mirror.run()

    run.__name__ = run.__qualname__ = f"mirror_{mirror.topic.replace('.', '_')}"
    return run
