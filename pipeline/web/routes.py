"""Operational endpoints: /healthz, /readyz, /metrics, /api/v1/scores, and the console."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline.ingest.routes import ingest_of
from pipeline.scoring.stage import current_scores
from pipeline.web import console

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)


def is_ready(ctx: Pronto) -> tuple[bool, str]:
    """Ready once the worker has its partitions, its tables are recovered, the model is
    loaded and the keyed stores have caught up."""
    app = ctx.app
    if app.rebalancing:
        return False, "rebalancing"
    if not app.tables.recovery.completed.is_set():  # type: ignore[attr-defined]
        return False, "recovering tables"
    if not app.consumer.assignment():
        return False, "no partitions assigned"
    if not ctx.state.get("model_ready"):
        return False, "loading the model"
    if not ctx.state.get("lang_ready"):
        return False, "loading the language detector"
    ingest = ingest_of(ctx)
    if not (ingest.optouts.caught_up.is_set() and ingest.alerts.caught_up.is_set()):
        return False, "loading opt-outs and alerts"
    return True, "ready"


def register(ctx: Pronto, router: Any) -> None:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response(
            {"status": "ok", "uptime_s": round(time.time() - ctx.started_at, 1)}
        )

    async def readyz(_: web.Request) -> web.Response:
        ok, why = is_ready(ctx)
        return web.json_response({"ready": ok, "reason": why}, status=200 if ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(ctx.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def scores(_: web.Request) -> web.Response:
        return web.json_response(current_scores(ctx, time.time()))

    router.add_get("/healthz", healthz)
    router.add_get("/readyz", readyz)
    router.add_get("/metrics", metrics)
    router.add_get("/api/v1/scores", scores)
    console.register(ctx, router, ingest_of(ctx))
