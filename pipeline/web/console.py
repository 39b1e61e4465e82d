"""The supervisor console: the live page, the alert API, the alert event stream, static files.

Every worker holds the whole alert index (`Ingest.alerts`, a mirror of `alerts.events`), so
any worker can serve the console. Actions do not change the alert here: they send a command
to the alert stage, and the change comes back on the stream like every other change.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pipeline import alert_index
from pipeline.alerts.theme_words import choices
from pipeline.ingest.publish import KafkaUnavailable
from pipeline.web import console_page
from pipeline.web.auth import (
    NO_STORE,
    Auth,
    Session,
    add_login_routes,
    protected,
    see_other,
    wants_json,
)

if TYPE_CHECKING:
    from pipeline.app import Pronto
    from pipeline.ingest.service import Ingest

logger = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
QUEUE_MAX = 256  # events held for one slow client; past that it is told to reload the list
VERBS = {"ack": "ack", "resolve": "resolve", "not-complaint": "not_complaint",
         "was-complaint": "was_complaint"}  # fmt: skip
CLOSE: dict[str, Any] = {}  # put on a stream's queue to end it
CONTENT_TYPES = {".css": "text/css", ".js": "text/javascript"}


def sort_key(alert: dict[str, Any]) -> tuple[bool, bool, bool, float]:
    """Urgent first, then the ones nobody has taken, then the oldest (console.js agrees)."""
    state = alert.get("state")
    return (not alert.get("urgent"), state == "dismissed", state == "acknowledged",
            float(alert.get("opened_at") or 0.0))  # fmt: skip


def sse(event: str, data: str, event_id: int | None = None) -> bytes:
    r"""One server-sent event; `data` must be a single line (compact JSON is).

    >>> sse("alert", '{"a":1}', 7)
    b'id: 7\nevent: alert\ndata: {"a":1}\n\n'
    """
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()


class Console:
    def __init__(self, ctx: Pronto, ingest: Ingest, auth: Auth, heartbeat_s: float,
                 clock: Callable[[], float]) -> None:  # fmt: skip
        self.ctx = ctx
        self.ingest = ingest
        self.auth = auth
        self.heartbeat_s = heartbeat_s
        self.clock = clock
        self._static: dict[str, tuple[bytes, str, str]] = {}
        self._streams: set[asyncio.Queue[dict[str, Any]]] = set()

    async def close_streams(self, _: object = None) -> None:
        """End every open event stream: a worker that stops must not wait for browsers."""
        for queue in list(self._streams):
            while queue.full():
                queue.get_nowait()
            queue.put_nowait(CLOSE)

    def names(self, who: Session) -> dict[str, str]:
        return {loc.id: loc.name for loc in self.ctx.venues.locations if loc.id in who.locations}

    def choices(self, who: Session) -> dict[str, tuple[str, ...]]:
        """location -> the themes a supervisor can pick for its alerts."""
        return {
            loc.id: choices(loc.kind, loc.themes)
            for loc in self.ctx.venues.locations
            if loc.id in who.locations
        }

    def alerts(self, who: Session, everything: bool = False) -> list[dict[str, Any]]:
        """The alerts `who` may see, listed ones only unless `everything`, in console order."""
        names, now = self.names(who), self.clock()
        found = [
            console_page.public_alert(a, names[a["location_id"]])
            for a in alert_index.alerts(self.ingest.alerts.state, everything)
            if a.get("location_id") in names and (everything or console_page.is_listed(a, now))
        ]
        return sorted(found, key=sort_key)

    async def page(self, request: web.Request) -> web.StreamResponse:
        who: Session = request["who"]
        html = console_page.render_console(
            who.name, who.csrf, self.alerts(who), self.names(who), self.clock(), self.choices(who)
        )
        return web.Response(text=html, content_type="text/html", headers=NO_STORE)

    async def list_alerts(self, request: web.Request) -> web.StreamResponse:
        everything = request.query.get("all") == "1"
        return web.json_response(self.alerts(request["who"], everything), headers=NO_STORE)

    def _reply(self, request: web.Request, status: int, doc: dict[str, Any]) -> web.StreamResponse:
        if wants_json(request):
            return web.json_response(doc, status=status)
        if status < 400:
            return see_other("/console")
        body = (f"<!doctype html><title>Pronto</title><p>{doc.get('error', '')}</p>"
                '<p><a href="/console">Back to the console</a></p>')  # fmt: skip
        return web.Response(status=status, text=body, content_type="text/html")

    async def action(self, request: web.Request) -> web.StreamResponse:
        who: Session = request["who"]
        ref, verb = request.match_info["ref"], request.match_info["verb"]
        alert = alert_index.alert_of(self.ingest.alerts.state, ref)
        if alert is None or alert.get("location_id") not in who.locations:
            return self._reply(request, 404, {"error": "unknown alert reference"})
        doc = {"type": VERBS[verb], "ref": ref, "by": who.name, "channel": "console"}
        try:
            await self.ingest.command(alert["location_id"], doc)
        except KafkaUnavailable:
            logger.warning("console command not stored: Kafka unavailable", extra={"ref": ref})
            return self._reply(request, 503, {"error": "alert store unavailable, retry"})
        logger.info("console command", extra={"ref": ref, "command": doc["type"],
                                              "supervisor": who.name})  # fmt: skip
        return self._reply(request, 202, {"status": "accepted", "ref": ref, "command": doc["type"]})

    async def set_themes(self, request: web.Request) -> web.StreamResponse:
        """`POST /api/v1/alerts/{ref}/themes`: form fields `theme` (repeated), or JSON
        `{"themes": [...]}`; only themes the alert's venue knows are sent on."""
        who: Session = request["who"]
        ref = request.match_info["ref"]
        alert = alert_index.alert_of(self.ingest.alerts.state, ref)
        if alert is None or alert.get("location_id") not in who.locations:
            return self._reply(request, 404, {"error": "unknown alert reference"})
        if request.content_type == "application/json":
            try:
                sent = (await request.json()).get("themes")
            except (ValueError, AttributeError):
                sent = None
        else:
            sent = (await request.post()).getall("theme", [])
        allowed = self.choices(who).get(alert["location_id"], ())
        if not isinstance(sent, list) or any(t not in allowed for t in sent):
            return self._reply(request, 400, {"error": f"themes: a list of {', '.join(allowed)}"})
        doc = {"type": "set_themes", "ref": ref, "themes": sorted(set(sent)), "by": who.name,
               "channel": "console"}  # fmt: skip
        try:
            await self.ingest.command(alert["location_id"], doc)
        except KafkaUnavailable:
            return self._reply(request, 503, {"error": "alert store unavailable, retry"})
        logger.info("console command", extra={"ref": ref, "command": doc["type"],
                                              "supervisor": who.name})  # fmt: skip
        return self._reply(request, 202, {"status": "accepted", "ref": ref, "command": doc["type"],
                                          "themes": doc["themes"]})  # fmt: skip

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """`text/event-stream`: one `alert` event per alert change, a heartbeat when idle.

        A client too slow to keep up gets a `resync` event and reloads the list.
        """
        who: Session = request["who"]
        names = self.names(who)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_MAX)
        overflow = False

        def listener(key: str, doc: dict[str, Any]) -> None:
            nonlocal overflow
            alert = doc.get("alert")
            if not isinstance(alert, dict) or alert.get("location_id") not in names:
                return
            item = {"event": doc.get("event", ""),
                    "alert": console_page.public_alert(alert, names[alert["location_id"]])}  # fmt: skip
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                overflow = True

        resp = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a proxy must not hold the events back
        })  # fmt: skip
        await resp.prepare(request)
        listeners = self.ingest.alerts.listeners
        listeners.append(listener)
        self._streams.add(queue)
        seq = 0
        try:
            await resp.write(b"retry: 3000\n" + sse("hello", json.dumps({"now": self.clock()})))
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), self.heartbeat_s)
                except TimeoutError:
                    await resp.write(b": heartbeat\n\n")
                    continue
                if item is CLOSE:
                    break
                if overflow:
                    overflow = False
                    dropped = [queue.get_nowait() for _ in range(queue.qsize())]
                    if any(d is CLOSE for d in dropped):
                        break
                    await resp.write(sse("resync", "{}"))
                    continue
                seq += 1
                await resp.write(sse("alert", json.dumps(item, separators=(",", ":")), seq))
        except ConnectionResetError:  # the client went away
            pass
        finally:
            listeners.remove(listener)
            self._streams.discard(queue)
        return resp

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in self._static:
            path = console_page.STATIC / name
            ctype = CONTENT_TYPES.get(path.suffix)
            if ctype is None or "/" in name or name.startswith(".") or not path.is_file():
                raise web.HTTPNotFound()
            data = path.read_bytes()
            self._static[name] = (data, ctype, hashlib.sha256(data).hexdigest()[:16])
        data, ctype, etag = self._static[name]
        headers = {"ETag": f'"{etag}"', "Cache-Control": "public, max-age=300",
                   "X-Content-Type-Options": "nosniff"}  # fmt: skip
        if request.headers.get("If-None-Match") == f'"{etag}"':
            return web.Response(status=304, headers=headers)
        return web.Response(
            body=data, headers={**headers, "Content-Type": f"{ctype}; charset=utf-8"}
        )


def _web_app(ctx: Pronto) -> web.Application | None:
    """The worker's aiohttp application (Faust's web server), when there is one."""
    found = getattr(getattr(getattr(ctx, "app", None), "web", None), "web_app", None)
    return found if isinstance(found, web.Application) else None


def register(ctx: Pronto, router: web.UrlDispatcher, ingest: Ingest, *,
             heartbeat_s: float = HEARTBEAT_S, clock: Callable[[], float] = time.time,
             app: web.Application | None = None) -> None:  # fmt: skip
    """Add the console, its login, the alert API and stream, and `/static/` to `router`.

    `app` (by default the Faust web server's) gets a shutdown hook that ends the streams.
    """
    auth = Auth(ctx, clock=clock)
    c = Console(ctx, ingest, auth, heartbeat_s, clock)
    app = app or _web_app(ctx)
    if app is not None and not app.frozen:
        app.on_shutdown.append(c.close_streams)
    else:
        logger.warning("console: no shutdown hook; open event streams may delay a stop")
    router.add_get("/static/{name}", c.static)
    add_login_routes(router, auth, console_page.render_login)
    router.add_get("/console", protected(auth, page=True)(c.page))
    router.add_get("/api/v1/alerts", protected(auth)(c.list_alerts))
    router.add_get("/api/v1/alerts/stream", protected(auth)(c.stream))
    verbs = "|".join(VERBS)
    router.add_post(f"/api/v1/alerts/{{ref}}/{{verb:({verbs})}}", protected(auth)(c.action))
    router.add_post("/api/v1/alerts/{ref}/themes", protected(auth)(c.set_themes))
