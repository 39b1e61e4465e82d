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
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from pipeline.web import local
from pipeline.web.metrics_merge import merge_expositions

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)

PEER_TIMEOUT_S = 5.0


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

    def reply(r: local.Reply) -> web.Response:
        status, content_type, body = r
        return web.Response(body=body, status=status, headers={"Content-Type": content_type})

    async def healthz(_: web.Request) -> web.Response:
        return reply(local.healthz(ctx))

    async def readyz(_: web.Request) -> web.Response:
        ok, why = local.is_ready(ctx)
        if ok and peers.urls:
            ok, why = await peers.ready()
        return reply(local.json_reply({"ready": ok, "reason": why}, 200 if ok else 503))

    async def metrics(_: web.Request) -> web.Response:
        status, content_type, body = local.metrics(ctx)
        if peers.urls:
            body = merge_expositions([body.decode(), *await peers.metrics()])
        return reply((status, content_type, body))

    def from_score_stage(path: str) -> Any:
        async def view(_: web.Request) -> web.Response:
            mine = local.PATHS[path](ctx)
            if mine is not None:
                return reply(mine)
            if "score" not in peers.urls:
                return reply(local.NO_SCORE_STAGE)
            status, body = await peers.get("score", path)
            return reply((status, local.JSON, body))

        return view

    scores = from_score_stage("/api/v1/scores")
    themes = from_score_stage("/api/v1/themes")
    router.add_get("/healthz", healthz)
    router.add_get("/readyz", readyz)
    router.add_get("/metrics", metrics)
    router.add_get("/api/v1/scores", scores)
    router.add_get("/api/v1/themes", themes)
    if "web" in ctx.stages:
        from pipeline.ingest.routes import ingest_of
        from pipeline.web import console

        console.register(ctx, router, ingest_of(ctx))
