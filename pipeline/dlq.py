"""The dead-letter topic, shared by every stage: a record a stage cannot process is parked
there with the reason, counted, and the stage moves on."""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING

from pipeline.delivery import deliver

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)


async def send_dlq(
    ctx: Pronto, key: bytes | None, value: bytes | None, reason: str, stage: str
) -> None:
    """Park a record that a stage cannot process, with the reason; count it."""
    doc = {"schema": 1, "stage": stage, "reason": reason, "at": time.time(),
           "value": (value or b"").decode("utf-8", "replace")[:10_000]}  # fmt: skip
    await deliver(ctx.topic("dlq"), key or b"", json.dumps(doc).encode())
    ctx.metrics.dlq.labels(stage).inc()
