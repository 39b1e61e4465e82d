"""The page senders that need no network: console, the recording fake, and the helpers."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import time
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException

from pipeline.alerts.senders import (
    ConsoleSender,
    Page,
    PageSender,
    RecordingSender,
    SenderError,
    TwilioSender,
    body_with_marker,
    mask_phone,
)

PHONE = "+34600000001"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fedcba9876543210" * 2


def _page(page_id: str = "A-4821", to: str = PHONE, kind: str = "page") -> Page:
    return Page(page_id, to, f"Mesa 7: cliente descontento. Responde OK {page_id}", kind)


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+34600000001", "+34•••••0001"),
        ("+14155550123", "+14•••••0123"),
        ("whatsapp:+34600000001", "whatsapp:+34•••••0001"),
        ("+447700900123", "+44••••••0123"),
        ("600000001", "60•••0001"),
        ("112", "•12"),
        ("", ""),
    ],
)
def test_mask_phone(number: str, masked: str) -> None:
    assert mask_phone(number) == masked


@pytest.mark.parametrize("number", ["+34600000001", "+447700900123", "whatsapp:+14155550123"])
def test_mask_phone_never_shows_the_middle(number: str) -> None:
    digits = number.rpartition(":")[2].lstrip("+")
    masked = mask_phone(number)
    assert digits not in masked
    assert masked.count("•") == len(digits) - 6


def test_page_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="kind"):
        Page("A-1", PHONE, "hi", "sms")


def test_body_with_marker_keeps_a_body_that_names_the_page() -> None:
    page = _page()
    assert body_with_marker(page) == page.body
    bare = Page("A-9", PHONE, "Gracias", "customer")
    assert "A-9" in body_with_marker(bare)


async def test_console_sender_prints_and_remembers_without_the_number(
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = io.StringIO()
    sender: PageSender = ConsoleSender(out)
    since = time.time()
    with caplog.at_level(logging.INFO, logger="pipeline.alerts.senders"):
        result = await sender.send(_page())

    assert result.ok and result.sid and result.at >= since
    assert PHONE not in out.getvalue() and PHONE not in caplog.text
    assert mask_phone(PHONE) in out.getvalue()
    assert "OK A-4821" in caplog.text
    assert await sender.already_sent(_page(), since)
    assert not await sender.already_sent(_page("A-1"), since)
    assert not await sender.already_sent(_page(), time.time() + 1)


async def test_recording_sender_records_in_order() -> None:
    sender = RecordingSender()
    pages = [_page("A-1"), _page("A-2", kind="manager"), _page("A-3", kind="customer")]
    results = [await sender.send(p) for p in pages]

    assert all(r.ok for r in results)
    assert len({r.sid for r in results}) == 3
    assert sender.pages == pages


async def test_recording_sender_fails_on_cue_then_recovers() -> None:
    sender = RecordingSender(fail_next=2)
    since = time.time()
    results = [await sender.send(_page()) for _ in range(3)]

    assert [r.ok for r in results] == [False, False, True]
    assert results[0].error == sender.error
    assert len(sender.attempts) == 3 and sender.pages == [_page()]
    assert await sender.already_sent(_page(), since)


async def test_recording_sender_fail_always_sends_nothing() -> None:
    sender = RecordingSender(fail_always=True, error="429 20429: too many requests")
    result = await sender.send(_page())

    assert (result.ok, result.error) == (False, "429 20429: too many requests")
    assert sender.pages == []
    assert not await sender.already_sent(_page(), 0.0)


class _FakeMessages:
    """The library's message list, as the sender calls it: its `*_async` calls only."""

    def __init__(self, bodies: list[str | None]) -> None:
        self.bodies = bodies
        self.asked: dict[str, Any] = {}

    async def page_async(self, **kw: Any) -> list[SimpleNamespace]:
        self.asked = kw
        return [SimpleNamespace(body=b) for b in self.bodies]

    async def create_async(self, **kw: Any) -> SimpleNamespace:
        self.asked = {**kw, "thread": threading.current_thread().name}
        return SimpleNamespace(sid="SM" + "0" * 32)


async def test_twilio_send_calls_the_library_on_the_event_loop() -> None:
    sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, "+34910000042", api_base="http://127.0.0.1:9")
    messages = _FakeMessages([])
    sender._client = SimpleNamespace(messages=messages)  # type: ignore[assignment]
    try:
        result = await sender.send(_page())
    finally:
        await sender.aclose()
    assert result.ok and result.sid == "SM" + "0" * 32
    assert messages.asked["thread"] == threading.current_thread().name  # no thread hand-off
    assert (messages.asked["to"], messages.asked["from_"]) == (PHONE, "+34910000042")


@pytest.mark.parametrize(
    ("bodies", "found"),
    [(["Responde OK A-4821"], True), (["Responde OK A-1", None], False), ([], False)],
)
async def test_twilio_already_sent_looks_for_the_page_id(
    bodies: list[str | None], found: bool
) -> None:
    sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, "+34910000042", api_base="http://127.0.0.1:9")
    messages = _FakeMessages(bodies)
    sender._client = SimpleNamespace(messages=messages)  # type: ignore[assignment]
    try:
        assert await sender.already_sent(_page(), 1_700_000_000.0) is found
    finally:
        await sender.aclose()
    assert messages.asked["to"] == PHONE
    assert messages.asked["date_sent_after"].timestamp() == 1_700_000_000.0


async def test_twilio_sender_reports_an_unreachable_api() -> None:
    # Nothing listens on port 9 of the loopback: the failure must come back as a result.
    sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, "+34910000042", api_base="http://127.0.0.1:9")
    try:
        result = await sender.send(_page())
        with pytest.raises(SenderError):
            await sender.already_sent(_page(), 0.0)
    finally:
        await sender.aclose()
    assert not result.ok and result.error and result.sid == "" and result.status == 0


async def test_twilio_sender_gives_up_on_an_api_that_does_not_answer() -> None:
    # A listener that never answers: the call ends at the sender's timeout, as a result.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, "+34910000042",
                          api_base=f"http://127.0.0.1:{port}", timeout_s=0.3)  # fmt: skip
    t0 = time.monotonic()
    try:
        result = await sender.send(_page())
    finally:
        await sender.aclose()
        server.close()
    assert (result.ok, result.status) == (False, 0) and "Timeout" in result.error, result
    assert time.monotonic() - t0 < 5


class _RefusingMessages(_FakeMessages):
    def __init__(self, error: Exception) -> None:
        super().__init__([])
        self.error = error

    async def create_async(self, **kw: Any) -> SimpleNamespace:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (TwilioRestException(429, "https://api.twilio.com/x", "Too Many Requests", 20429), 429),
        (TwilioRestException(503, "https://api.twilio.com/x", "Service Unavailable"), 503),
        (TwilioRestException(400, "https://api.twilio.com/x", "Invalid 'To'", 21211), 400),
        (ConnectionResetError("reset by peer"), 0),
        (aiohttp.ServerDisconnectedError("gone"), 0),
    ],
)
async def test_twilio_failure_carries_the_http_status_for_the_retry_policy(
    error: Exception, status: int
) -> None:
    sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, "+34910000042", api_base="http://127.0.0.1:9")
    sender._client = SimpleNamespace(messages=_RefusingMessages(error))  # type: ignore[assignment]
    try:
        result = await sender.send(_page())
    finally:
        await sender.aclose()
    assert (result.ok, result.status) == (False, status)
    assert result.error.startswith(str(status)) if status else str(error) in result.error


async def test_twilio_sender_keeps_a_connection_for_every_send_in_flight() -> None:
    sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, "+34910000042", concurrency=24)
    try:
        assert sender.http._session().connector.limit >= 24  # type: ignore[union-attr]
    finally:
        await sender.aclose()
    default = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, "+34910000042")
    assert default.connections >= 16  # the default `PRONTO_SEND_CONCURRENCY`


async def test_recording_sender_plays_a_script_of_statuses() -> None:
    sender = RecordingSender(statuses=[429, 0, 201])
    results = [await sender.send(_page()) for _ in range(4)]

    assert [(r.ok, r.status) for r in results] == [
        (False, 429),
        (False, 0),
        (True, 201),
        (True, 201),
    ]
    assert len(sender.attempts) == 4 and len(sender.pages) == 2


async def test_recording_sender_counts_the_sends_under_way() -> None:
    gate = asyncio.Event()
    sender = RecordingSender(hold=gate)
    calls = [asyncio.create_task(sender.send(_page(f"A-{n}"))) for n in range(3)]
    while sender.in_flight < 3:
        await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*calls)
    assert (sender.in_flight, sender.max_in_flight, len(sender.pages)) == (0, 3, 3)
