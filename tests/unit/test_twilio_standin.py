"""The benchmark's Twilio stand-in answers the official library as the worker calls it, each
call after its latency, many calls at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from pipeline.alerts.senders import Page, TwilioSender
from pipeline.alerts.twilio_http import RebasedAsyncTwilioHttpClient
from pipeline.devtools.bench_latency import page_id_of
from pipeline.devtools.twilio_standin import TwilioStandin

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fedcba9876543210" * 2
LATENCY_MS = 200.0


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwilioStandin]:
    with TwilioStandin(tmp_path_factory.mktemp("standin"), LATENCY_MS) as s:
        yield s


def client(base: str, token: str = AUTH_TOKEN) -> Client:
    return Client(ACCOUNT_SID, token, http_client=RebasedAsyncTwilioHttpClient(base))


def test_the_workers_sender_pages_and_finds_its_page_in_the_log(standin: TwilioStandin) -> None:
    sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, "+34910000099", standin.base_url,
                          "https://pronto.test/sms/status")  # fmt: skip
    page = Page("PSTAND1-p0", "+34710000000", "Table 7 unhappy. Reply OK STAND1", "page")
    since = time.time() - 60

    async def scenario() -> None:
        t0 = time.monotonic()
        try:
            result = await sender.send(page)
            took = time.monotonic() - t0
            assert result.ok and result.sid.startswith("SM") and len(result.sid) == 34, result
            assert took >= LATENCY_MS / 1000  # the round trip is Twilio's, not an instant mock's
            assert await sender.already_sent(page, since)
            other = Page("PSTAND2-p0", "+34710000000", "Reply OK STAND2", "page")
            assert not await sender.already_sent(other, since)
        finally:
            await sender.aclose()

    asyncio.run(scenario())
    call = next(c for c in standin.recorded() if c["method"] == "POST")
    assert page_id_of(call) == "PSTAND1-p0"
    assert call["form"]["To"] == "+34710000000" and call["wall"] <= time.time()
    assert call["status"] == 201


def test_calls_wait_side_by_side_not_in_line(standin: TwilioStandin) -> None:
    api = client(standin.base_url)
    since = time.time()

    async def one(i: int) -> str:
        msg = await api.messages.create_async(to=f"+3471000{i:04d}", from_="+34910000099",
                                              body=f"n{i}")  # fmt: skip
        return str(msg.sid)

    async def all_at_once() -> list[str]:
        try:
            return list(await asyncio.gather(*(one(i) for i in range(16))))
        finally:
            await api.http_client.close()

    t0 = time.monotonic()
    sids = asyncio.run(all_at_once())
    took = time.monotonic() - t0
    assert len(set(sids)) == 16
    assert took < 4 * LATENCY_MS / 1000, took  # 16 in a row would take 16 x the latency
    assert standin.stats()["max_in_flight"] >= 8
    assert len(standin.recorded(since)) == 16


async def test_twilios_errors_for_bad_calls(standin: TwilioStandin) -> None:
    for token, to, status, code in (("", "+1", 401, None), (AUTH_TOKEN, "", 400, 21604)):
        api = client(standin.base_url, token=token)
        try:
            with pytest.raises(TwilioRestException) as refused:
                await api.messages.create_async(to=to, from_="+2", body="x")
        finally:
            await api.http_client.close()
        assert refused.value.status == status
        assert code is None or refused.value.code == code


def test_it_stops_twice_without_error(tmp_path: Path) -> None:
    s = TwilioStandin(tmp_path, 0)
    assert s.start().startswith("http://127.0.0.1:")
    assert s.stats()["calls"] == 0
    s.stop()
    s.stop()
    with pytest.raises(OSError):
        s.stats()


def test_send_cost_measures_the_workers_sender(standin: TwilioStandin) -> None:
    from pipeline.devtools.send_cost import WARM_UP, measure

    since = time.time()
    got = asyncio.run(measure(standin.base_url, sends=20, in_flight=10))
    assert got["sends"] == 20 and got["cpu_ms_per_send"] > 0, got
    assert got["wall_s"] >= 2 * LATENCY_MS / 1000  # 20 sends, 10 at a time, each a round trip
    assert len([c for c in standin.recorded(since) if c["method"] == "POST"]) == 20 + WARM_UP
