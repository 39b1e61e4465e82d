"""The endpoint of the processes without the web stage (`pipeline/web/internal.py`)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from pipeline.web import internal
from pipeline.web.local import json_reply


def boom(ctx: Any) -> Any:
    raise RuntimeError("a bug")


PATHS = {
    "/healthz": lambda ctx: json_reply({"status": "ok", "who": ctx}),
    "/api/v1/scores": lambda ctx: None,  # no score stage in this process
    "/boom": boom,
}


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await reader.read()  # the server closes the connection after one answer
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split(" ")[1]), headers, body


def test_it_answers_gets_and_refuses_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(internal, "PATHS", PATHS)

    async def run() -> list[tuple[int, dict[str, str], bytes]]:
        server = await internal.serve("ctx", "127.0.0.1", 0)  # type: ignore[arg-type]
        port = server.sockets[0].getsockname()[1]
        try:
            return [
                await exchange(port, b"GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
                await exchange(port, b"HEAD /healthz HTTP/1.1\r\n\r\n"),
                await exchange(port, b"POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
                await exchange(port, b"GET /nope HTTP/1.1\r\n\r\n"),
                await exchange(port, b"GET /api/v1/scores HTTP/1.1\r\n\r\n"),
                await exchange(port, b"GET /boom HTTP/1.1\r\n\r\n"),
                await exchange(port, b"hello there\r\n\r\n"),
            ]
        finally:
            server.close()
            await server.wait_closed()

    ok, head, post, missing, no_scores, bug, garbage = asyncio.run(run())
    assert ok[0] == 200 and json.loads(ok[2]) == {"status": "ok", "who": "ctx"}
    assert ok[1]["Content-Type"] == "application/json"
    assert int(ok[1]["Content-Length"]) == len(ok[2]) and ok[1]["Connection"] == "close"
    assert head[0] == 200 and head[2] == b"" and int(head[1]["Content-Length"]) == len(ok[2])
    assert post[0] == 405
    assert missing[0] == 404 and b"/nope" in missing[2]
    assert no_scores[0] == 404 and b"no score stage" in no_scores[2]
    assert bug[0] == 500 and json.loads(bug[2]) == {"error": "RuntimeError"}
    assert garbage[0] == 400
