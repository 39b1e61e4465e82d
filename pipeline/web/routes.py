"""Operational endpoints: /healthz, /readyz, /metrics, /api/v1/scores, /api/v1/themes, and
the console.

Every process of a worker serves /healthz, /readyz and /metrics on its own port. The web
process (the public port) answers for the whole worker: its /readyz and /metrics include the
other processes' (`PRONTO_PEERS`); /api/v1/scores and /api/v1/themes come from the score
process, which counts both.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline import mirrors
from pipeline.web.metrics_merge import merge_expositions

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)

PEER_TIMEOUT_S = 5.0


def is_ready(ctx: Pronto) -> tuple[bool, str]:
    """Ready once this process has its partitions, its tables are recovered, the model is
    loaded and the keyed stores have caught up."""
    app = ctx.app
    consumes = bool(ctx.stages & {"score", "alert", "notify"})
    recovery = app.tables.recovery  # type: ignore[attr-defined]
    # Faust keeps `rebalancing` set until the tables are recovered: ask about recovery first,
    # or a long replay reads as a long rebalance.
    if consumes and recovery.in_recovery:
        return False, "recovering tables"
    if app.rebalancing:
        return False, "rebalancing"
    if consumes and not recovery.completed.is_set():
        return False, "joining the group"  # no partitions yet: nothing to recover from
    if consumes and not app.consumer.assignment():
        return False, "no partitions assigned"
    if ctx.stages & {"score", "web"} and not ctx.model_ready:
        return False, "loading the model"
    if "web" in ctx.stages and not ctx.lang_ready:
        return False, "loading the language detector"
    if not mirrors.caught_up(ctx):
        return False, "loading opt-outs and alerts"
    return True, "ready"


class Peers:
    """The worker's other processes, asked over HTTP on 127.0.0.1."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=PEER_TIMEOUT_S)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def get(self, name: str, path: str) -> tuple[int, bytes]:
        """(status, body) of `path` on peer `name`; 503 if it does not answer."""
        try:
            async with self.session().get(self.urls[name] + path) as resp:
                return resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            why = {"ready": False, "reason": f"{name} stage: {type(e).__name__}"}
            return 503, json.dumps(why).encode()

    async def ready(self) -> tuple[bool, str]:
        for name in self.urls:
            status, body = await self.get(name, "/readyz")
            if status != 200:
                try:
                    why = json.loads(body).get("reason", "")
                except ValueError:
                    why = ""
                return False, f"{name} stage: {why or status}"
        return True, "ready"

    async def metrics(self) -> list[str]:
        answers = await asyncio.gather(*(self.get(n, "/metrics") for n in self.urls))
        return [body.decode() for status, body in answers if status == 200]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def register(ctx: Pronto, router: Any) -> None:
    peers = Peers(ctx.settings.peer_urls)

    @ctx.app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def close_peers(sender: Any, **kwargs: Any) -> None:
        await peers.close()  # else every stop logs "Unclosed client session" at ERROR

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response(
            {"status": "ok", "uptime_s": round(time.time() - ctx.started_at, 1)}
        )

    async def readyz(_: web.Request) -> web.Response:
        ok, why = is_ready(ctx)
        if ok and peers.urls:
            ok, why = await peers.ready()
        return web.json_response({"ready": ok, "reason": why}, status=200 if ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(ctx.registry)
        if peers.urls:
            body = merge_expositions([body.decode(), *await peers.metrics()])
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def scores(_: web.Request) -> web.Response:
        if "score" in ctx.stages:
            from pipeline.scoring.scores_view import ScoresUnavailable, current_scores

            try:
                return web.json_response(current_scores(ctx, time.time()))
            except ScoresUnavailable as e:  # never zeros for scores it cannot read now
                return web.json_response({"error": f"scores unavailable: {e}"}, status=503)
        if "score" not in peers.urls:
            return web.json_response({"error": "no score stage in this worker"}, status=404)
        status, body = await peers.get("score", "/api/v1/scores")
        return web.Response(body=body, status=status, content_type="application/json")

    router.add_get("/healthz", healthz)
    router.add_get("/readyz", readyz)
    router.add_get("/metrics", metrics)

    async def themes(_: web.Request) -> web.Response:
        if "score" in ctx.stages and ctx.themes is not None:
            from pipeline.scoring.scores_view import ScoresUnavailable

            try:
                return web.json_response(ctx.themes.current(time.time()))
            except ScoresUnavailable as e:
                return web.json_response({"error": f"themes unavailable: {e}"}, status=503)
        if "score" not in peers.urls:
            return web.json_response({"error": "no score stage in this worker"}, status=404)
        status, body = await peers.get("score", "/api/v1/themes")
        return web.Response(body=body, status=status, content_type="application/json")

    router.add_get("/api/v1/scores", scores)
    router.add_get("/api/v1/themes", themes)
    if "web" in ctx.stages:
        from pipeline.ingest.routes import ingest_of
        from pipeline.web import console

        console.register(ctx, router, ingest_of(ctx))
