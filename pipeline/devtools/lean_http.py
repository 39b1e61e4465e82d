"""The bench's webhook sender: Twilio webhooks built and signed before the clock starts, then
sent over kept-alive HTTP/1.1 connections by a bare asyncio protocol.

The sender shares the box with what it measures. Through aiohttp's client it took 0.57 ms of
CPU a webhook (`paced_probe`, 400/s), a sixth of the whole pipeline's, so the bench's
"1,000/s" load stopped near 780/s with the box full. Here a request is one `write` of bytes
made in advance, and an answer is its status line and `Content-Length`: what Twilio's own
servers spend on a webhook is not ours to measure.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Mapping

from pipeline.devtools.simulate import SMS_PATH, loopback_only, sms_params

HEAD_END = b"\r\n\r\n"


def form_post(path: str, host: str, params: Mapping[str, str],
              headers: Mapping[str, str] | None = None) -> bytes:  # fmt: skip
    """An HTTP/1.1 form POST of `params` to `path`, as bytes ready to write.

    >>> form_post("/sms/inbound", "127.0.0.1:1", {"Body": "¡hola!"}, {"X-A": "1"}).decode()
    'POST /sms/inbound HTTP/1.1\\r\\nHost: 127.0.0.1:1\\r\\nContent-Type: application/x-www-form-urlencoded\\r\\nContent-Length: 18\\r\\nX-A: 1\\r\\n\\r\\nBody=%C2%A1hola%21'
    """
    body = urllib.parse.urlencode(params).encode()
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}",
             "Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parse_answer(buf: bytearray) -> tuple[int, bool] | None:
    """(status, keep-alive) of the complete answer at the start of `buf`, which it removes;
    None while the answer is incomplete.

    >>> b = bytearray(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok" b"HTTP/1.1 4")
    >>> parse_answer(b), bytes(b)
    ((200, True), b'HTTP/1.1 4')
    >>> parse_answer(bytearray(b"HTTP/1.1 503 x\\r\\nConnection: close\\r\\nContent-Length: 0\\r\\n\\r\\n"))
    (503, False)
    >>> parse_answer(bytearray(b"HTTP/1.1 200 OK\\r\\nContent-Length: 5\\r\\n\\r\\nok")) is None
    True
    """
    end = buf.find(HEAD_END)
    if end < 0:
        return None
    head = bytes(buf[:end]).lower()
    length, keep = 0, True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip() == b"close":
            keep = False
    if len(buf) < end + 4 + length:
        return None
    del buf[: end + 4 + length]
    return int(head[9:12]), keep


class _Conn(asyncio.Protocol):
    """One kept-alive connection, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bool]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        answer = parse_answer(self.buf)
        if answer is not None and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionResetError("the server closed"))

    async def request(self, data: bytes) -> tuple[int, bool]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Pool:
    """At most `size` requests in flight to `base_url` (this machine only), over as many
    kept-alive connections."""

    def __init__(self, base_url: str, size: int) -> None:
        parts = urllib.parse.urlsplit(loopback_only(base_url))
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.gate = asyncio.Semaphore(size)
        self.idle: list[_Conn] = []

    async def send(self, data: bytes, timeout_s: float = 30.0) -> int:
        """Write one prepared request; its HTTP status."""
        async with self.gate:
            conn = self.idle.pop() if self.idle else await self._open()
            try:
                status, keep = await asyncio.wait_for(conn.request(data), timeout_s)
            except BaseException:
                conn.close()
                raise
            if keep and not conn.closed:
                self.idle.append(conn)
            else:
                conn.close()
            return status

    async def _open(self) -> _Conn:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Conn, self.host, self.port)
        return conn

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


class SmsWebhooks:
    """Twilio's inbound-SMS webhook to a local worker, signed with `auth_token` over
    `public_url` as Twilio signs it, as bytes ready for `Pool.send`."""

    def __init__(self, base_url: str, auth_token: str, public_url: str = "") -> None:
        from twilio.request_validator import RequestValidator

        parts = urllib.parse.urlsplit(loopback_only(base_url))
        self.host = parts.netloc
        self.sign_url = f"{(public_url or loopback_only(base_url)).rstrip('/')}{SMS_PATH}"
        self.validator = RequestValidator(auth_token) if auth_token else None

    def build(self, sender: str, to: str, body: str, sid: str) -> bytes:
        params = sms_params(sender, to, body, sid)
        headers = {}
        if self.validator is not None:
            headers["X-Twilio-Signature"] = self.validator.compute_signature(self.sign_url, params)
        return form_post(SMS_PATH, self.host, params, headers)
