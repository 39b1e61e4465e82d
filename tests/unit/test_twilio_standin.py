"""The benchmark's Twilio stand-in answers the official library as the worker calls it, each
call after its latency, many calls at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from pipeline.alerts.senders import Page, TwilioSender
from pipeline.alerts.twilio_http import RebasedTwilioHttpClient
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
    return Client(ACCOUNT_SID, token, http_client=RebasedTwilioHttpClient(base))


def test_the_workers_sender_pages_and_finds_its_page_in_the_log(standin: TwilioStandin) -> None:
    sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, "+34910000099", standin.base_url,
                          "https://pronto.test/sms/status")  # fmt: skip
    page = Page("PSTAND1-p0", "+34710000000", "Table 7 unhappy. Reply OK STAND1", "page")
    since = time.time() - 60
    t0 = time.monotonic()
    try:
        result = asyncio.run(sender.send(page))
        took = time.monotonic() - t0
        assert result.ok and result.sid.startswith("SM") and len(result.sid) == 34, result
        assert took >= LATENCY_MS / 1000  # the round trip is Twilio's, not an instant mock's
        assert asyncio.run(sender.already_sent(page, since))
        other = Page("PSTAND2-p0", "+34710000000", "Reply OK STAND2", "page")
        assert not asyncio.run(sender.already_sent(other, since))
    finally:
        sender.close()
    call = next(c for c in standin.recorded() if c["method"] == "POST")
    assert page_id_of(call) == "PSTAND1-p0"
    assert call["form"]["To"] == "+34710000000" and call["wall"] <= time.time()
    assert call["status"] == 201


def test_calls_wait_side_by_side_not_in_line(standin: TwilioStandin) -> None:
    api = client(standin.base_url)
    since = time.time()

    def one(i: int) -> str:
        msg = api.messages.create(to=f"+3471000{i:04d}", from_="+34910000099", body=f"n{i}")
        return str(msg.sid)

    t0 = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        sids = list(pool.map(one, range(16)))
    took = time.monotonic() - t0
    assert len(set(sids)) == 16
    assert took < 4 * LATENCY_MS / 1000, took  # 16 in a row would take 16 x the latency
    assert standin.stats()["max_in_flight"] >= 8
    assert len(standin.recorded(since)) == 16


def test_twilios_errors_for_bad_calls(standin: TwilioStandin) -> None:
    with pytest.raises(TwilioRestException) as bad_auth:
        client(standin.base_url, token="").messages.create(to="+1", from_="+2", body="x")
    assert bad_auth.value.status == 401
    with pytest.raises(TwilioRestException) as no_to:
        client(standin.base_url).messages.create(to="", from_="+2", body="x")
    assert (no_to.value.status, no_to.value.code) == (400, 21604)


def test_it_stops_twice_without_error(tmp_path: Path) -> None:
    s = TwilioStandin(tmp_path, 0)
    assert s.start().startswith("http://127.0.0.1:")
    assert s.stats()["calls"] == 0
    s.stop()
    s.stop()
    with pytest.raises(OSError):
        s.stats()
