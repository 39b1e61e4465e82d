"""The HTTP endpoint of a process without the web stage (the score and alert processes):
GET /healthz, /readyz, /metrics, /api/v1/scores and /api/v1/themes (`local.py`), on
`PRONTO_WEB_HOST:PRONTO_WEB_PORT` (127.0.0.1 and a free port in the supervised worker, where
the web process asks it; the port Prometheus scrapes when stages run apart).

It is asyncio's own stream server, one request per connection: these few GETs come from the web process and from Prometheus, not from customers,
and aiohttp's server (with Faust's web driver) would hold about 13 MB in each process.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pipeline.web.local import NO_SCORE_STAGE, PATHS, Reply, json_reply

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)

READ_TIMEOUT_S = 10.0
MAX_HEAD_BYTES = 16 * 1024


def answer(ctx: Pronto, method: str, target: str) -> Reply:
    """The reply to one request line."""
    path = urlsplit(target).path
    handler = PATHS.get(path)
    if handler is None:
        return json_reply({"error": f"no such path: {path}"}, 404)
    if method not in ("GET", "HEAD"):
        return json_reply({"error": f"{method} is not allowed here"}, 405)
    return handler(ctx) or NO_SCORE_STAGE


def response(reply: Reply, head_only: bool = False) -> bytes:
    """The bytes of an HTTP/1.1 response that closes its connection.

    >>> response((200, "text/plain", b"ok"))
    b'HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok'
    """
    status, content_type, body = reply
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")  # fmt: skip
    return head.encode("latin-1") + (b"" if head_only else body)


async def serve(ctx: Pronto, host: str, port: int) -> asyncio.Server:
    """Start the endpoint; the caller closes the server it returns."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            method = parts[0]
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                reply = json_reply({"error": "not an HTTP/1.x request line"}, 400)
            else:
                try:
                    reply = answer(ctx, method, parts[1])
                except Exception as e:  # a handler's bug: a 500, and the endpoint goes on
                    logger.exception("internal endpoint: %s %s failed", method, parts[1])
                    reply = json_reply({"error": type(e).__name__}, 500)
            writer.write(response(reply, head_only=method == "HEAD"))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):  # fmt: skip
            pass  # a client that went away, or a head too long or too slow: no answer
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=MAX_HEAD_BYTES)
