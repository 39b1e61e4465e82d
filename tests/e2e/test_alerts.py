"""Issue 5, end to end: real Kafka, a real worker, and Prism serving Twilio's OpenAPI contract."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.alerts import roster
from pipeline.config import load_venues
from pipeline.kafka_local import deploy_dir
from tests.support.http import post_sms, sms_params
from tests.support.kafka import Worker, worker_env
from tests.support.twilio import FAKE_ACCOUNT_SID, FAKE_AUTH_TOKEN, sent_messages, wait_for_messages

pytestmark = pytest.mark.kafka

BUS = "+34910000042"
PRONTO_FROM = "+34910000099"
VENUES = load_venues(deploy_dir() / "pronto.demo.toml")
LOC = VENUES.by_id("bus-42")
assert LOC is not None


def twilio_env(bootstrap: str, home: Path, api_base: str, **extra: str) -> dict[str, str]:
    return worker_env(bootstrap, home, PRONTO_TWILIO_API_BASE=api_base,
                      PRONTO_TWILIO_ACCOUNT_SID=FAKE_ACCOUNT_SID,
                      PRONTO_TWILIO_AUTH_TOKEN=FAKE_AUTH_TOKEN, PRONTO_TWILIO_FROM=PRONTO_FROM,
                      **extra)  # fmt: skip


def sms(w: Worker, sid: str, sender: str, body: str) -> str:
    status, text = post_sms(w.url, sms_params(sid, sender, BUS, body), token=FAKE_AUTH_TOKEN)
    assert status == 200, text
    return text


def wait_for(mock: Any, pred: Any, timeout_s: float = 30.0) -> list[dict[str, Any]]:
    return wait_for_messages(mock, pred, timeout_s)


def on_shift(level: int) -> Any:
    sup, _ = roster.recipient(LOC, level, datetime.now(UTC))
    return sup


def test_complaint_pages_once_then_escalates_and_ack_by_sms_tells_the_customer(
    make_worker, bootstrap, twilio_mock, tmp_path
):
    w = make_worker(
        twilio_env(bootstrap, tmp_path / "h", twilio_mock.base_url, PRONTO_ACK_TIMEOUT_S="4")
    )
    customer = "+34633333333"
    first = on_shift(0)
    sms(
        w,
        "SM" + "1" * 32,
        customer,
        "Llevamos 20 minutos parados y el conductor pasa de todo. Un 1 de 10",
    )
    pages = wait_for(twilio_mock, lambda m: m["form"].get("To") == first.phone)
    assert len(pages) == 1, sent_messages(twilio_mock)
    page = pages[0]
    assert page["status"] == 201, page  # Prism accepted it under Twilio's contract
    assert page["form"]["From"] == PRONTO_FROM
    body = page["form"]["Body"]
    assert "OK" in body and len(body) <= 160
    ref = body.split("OK ")[1].split()[0]
    assert ref.isdigit()
    # Nobody acknowledges: after the timeout the next one on shift is paged.
    second = on_shift(1)
    escalated = wait_for(twilio_mock, lambda m: m["form"].get("To") == second.phone, timeout_s=20)
    assert len(escalated) == 1
    # The second one answers by SMS; the customer is told who is coming, by name.
    status, reply = post_sms(w.url, sms_params("SM" + "2" * 32, second.phone, BUS, f"OK {ref}"),
                             token=FAKE_AUTH_TOKEN)  # fmt: skip
    assert status == 200 and ref in reply
    told = wait_for(twilio_mock, lambda m: m["form"].get("To") == customer)
    assert len(told) == 1 and second.name in told[0]["form"]["Body"]
    # The acknowledgement stops the escalation: nobody else is paged.
    n = len(sent_messages(twilio_mock))
    time.sleep(6)
    assert len(sent_messages(twilio_mock)) == n
    assert len(wait_for(twilio_mock, lambda m: m["form"].get("To") == first.phone, 1)) == 1


def test_opted_out_customer_gets_nothing(make_worker, bootstrap, twilio_mock, tmp_path):
    w = make_worker(twilio_env(bootstrap, tmp_path / "h", twilio_mock.base_url))
    customer = "+34644444444"
    reply = sms(w, "SM" + "3" * 32, customer, "BAJA")
    assert "<Message>" in reply  # the opt-out is confirmed once, in the reply
    reply = sms(w, "SM" + "4" * 32, customer, "Un asco, un 0")
    assert "<Message>" not in reply  # stored, but nothing is answered
    first = on_shift(0)
    pages = wait_for(twilio_mock, lambda m: m["form"].get("To") == first.phone)
    assert len(pages) == 1  # the supervisor is still paged
    ref = pages[0]["form"]["Body"].split("OK ")[1].split()[0]
    post_sms(
        w.url, sms_params("SM" + "5" * 32, first.phone, BUS, f"OK {ref}"), token=FAKE_AUTH_TOKEN
    )
    time.sleep(4)
    assert [m for m in sent_messages(twilio_mock) if m["form"].get("To") == customer] == []


def test_failed_delivery_report_escalates(make_worker, bootstrap, twilio_mock, tmp_path):
    w = make_worker(twilio_env(bootstrap, tmp_path / "h", twilio_mock.base_url))
    first, second = on_shift(0), on_shift(1)
    sms(w, "SM" + "6" * 32, "+34655555555", "Nos han robado en el bus")  # safety: urgent
    pages = wait_for(twilio_mock, lambda m: m["form"].get("To") == first.phone)
    assert len(pages) == 1
    callback = pages[0]["form"]["StatusCallback"]
    assert callback.startswith("https://pronto.example.test/sms/status?page=P")
    from twilio.request_validator import RequestValidator

    params = {"MessageSid": "SM" + "7" * 32, "MessageStatus": "failed", "ErrorCode": "30006",
              "To": first.phone, "From": PRONTO_FROM}  # fmt: skip
    sig = RequestValidator(FAKE_AUTH_TOKEN).compute_signature(callback, params)
    import urllib.parse
    import urllib.request

    path = callback.removeprefix("https://pronto.example.test")
    req = urllib.request.Request(w.url + path, data=urllib.parse.urlencode(params).encode(),
                                 headers={"X-Twilio-Signature": sig,
                                          "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 204
    assert len(wait_for(twilio_mock, lambda m: m["form"].get("To") == second.phone, 15)) == 1


class Blackhole:
    """A TCP server that accepts and never answers: a Twilio call that hangs forever."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)


def test_sigkill_between_alert_and_page_sends_exactly_one_page(
    make_worker, bootstrap, twilio_mock, tmp_path
):
    hole = Blackhole()
    env = twilio_env(bootstrap, tmp_path / "h", hole.url)
    w = make_worker(env)
    first = on_shift(0)
    sms(w, "SM" + "8" * 32, "+34666666666", "Un 2 de 10, el bus va sucísimo")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not hole.conns:
        time.sleep(0.1)
    assert hole.conns, "the worker never tried to send the page"
    w.kill()  # SIGKILL while the page is on its way out
    env2 = {**env, "PRONTO_TWILIO_API_BASE": twilio_mock.base_url}
    w2 = make_worker(env2)
    assert w2.url
    pages = wait_for(twilio_mock, lambda m: m["form"].get("To") == first.phone)
    time.sleep(5)  # room for a duplicate to show up
    pages = [m for m in sent_messages(twilio_mock) if m["form"].get("To") == first.phone]
    assert len(pages) == 1, pages
