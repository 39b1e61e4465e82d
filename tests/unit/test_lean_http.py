"""The bench's lean webhook sender, against a real aiohttp server on 127.0.0.1: its requests
are signed as Twilio signs them, connections are kept alive, and a closed one is replaced."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from pipeline.devtools import lean_http as lean

TOKEN = "0123456789abcdef0123456789abcdef"
PUBLIC = "https://pronto.example.test"


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def test_signed_webhooks_pass_twilio_validation_over_kept_alive_connections() -> None:
    seen: list[tuple[dict[str, str], object]] = []

    async def inbound(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        ok = RequestValidator(TOKEN).validate(f"{PUBLIC}/sms/inbound", form, signature)
        seen.append((form, request.transport))
        return web.Response(status=200 if ok else 403, text="<Response/>")

    async def main() -> list[int]:
        app = web.Application()
        app.router.add_post("/sms/inbound", inbound)
        runner, url = await serve(app)
        try:
            hooks = lean.SmsWebhooks(url, TOKEN, PUBLIC)
            good = [hooks.build(f"+3460000000{i}", "+15005550006", f"¡mal! nº{i} & más", f"SM{i}")
                    for i in range(6)]  # fmt: skip
            forged = lean.SmsWebhooks(url, "f" * 32, PUBLIC).build("+34600", "+1", "x", "SMx")
            pool = lean.Pool(url, 2)
            statuses = [await pool.send(r) for r in good[:3]]
            statuses += await asyncio.gather(*(pool.send(r) for r in good[3:]))
            statuses.append(await pool.send(forged))
            pool.close()
            return statuses
        finally:
            await runner.cleanup()

    statuses = asyncio.run(main())
    assert statuses == [200] * 6 + [403]
    assert [form["Body"] for form, _ in seen[:3]] == [f"¡mal! nº{i} & más" for i in range(3)]
    assert seen[0][0]["From"] == "+34600000000" and seen[0][0]["MessageSid"] == "SM0"
    # One connection served the three in a row; the pool never opened more than its size.
    assert seen[0][1] is seen[1][1] is seen[2][1]
    assert len({id(t) for _, t in seen}) <= 2


def test_a_connection_the_server_closes_is_replaced_and_errors_are_statuses() -> None:
    async def closing(request: web.Request) -> web.Response:
        await request.read()
        status = int(request.query.get("s", "200"))
        return web.Response(status=status, text="bye", headers={"Connection": "close"})

    async def main() -> list[int]:
        app = web.Application()
        app.router.add_post("/x", closing)
        runner, url = await serve(app)
        try:
            pool = lean.Pool(url, 1)
            host = url.removeprefix("http://")
            out = [await pool.send(lean.form_post(f"/x?s={s}", host, {"a": "1"}))
                   for s in (200, 503, 200)]  # fmt: skip
            assert pool.idle == []  # each answer said "close": nothing kept
            pool.close()
            return out
        finally:
            await runner.cleanup()

    assert asyncio.run(main()) == [200, 503, 200]


def test_a_silent_server_times_out_and_only_this_machine_is_a_target() -> None:
    async def main() -> None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1)
            await asyncio.sleep(5)

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = lean.Pool(f"http://127.0.0.1:{port}", 1)
        with pytest.raises(TimeoutError):
            await pool.send(lean.form_post("/", "h", {}), timeout_s=0.2)
        server.close()

    asyncio.run(main())
    with pytest.raises(ValueError, match="only targets 127"):
        lean.Pool("http://example.com", 1)
