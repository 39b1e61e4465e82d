"""Start the worker-wide mirrors that a process's stages read: the opt-out list (web, notify)
and the alert index (web, alert). The score stage needs neither."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pipeline.early_start import at_first_assignment

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
    """Start this process's mirrors once, so that they load while Faust recovers the tables
    (`early_start.py`; after the recovery, the alert process waited for both in turn, about
    a second more at a restart), or as a task in a process that is assigned nothing (web)."""
    at_first_assignment(ctx.app, lambda: [m.run() for m in wanted(ctx)], without_partitions=True)
