"""The Twilio senders against Prism serving Twilio's own OpenAPI description of the 2010 API."""

from __future__ import annotations

import base64
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from pipeline.alerts.senders import Page, TwilioSender
from pipeline.devtools.twilio_mock import TwilioMock
from tests.support import twilio as twilio_support
from tests.support.twilio import FAKE_ACCOUNT_SID, FAKE_AUTH_TOKEN, FAKE_FROM

# The fixtures, by assignment: the mock is shared by the whole session.
twilio_mock_session = twilio_support.twilio_mock_session
twilio_mock = twilio_support.twilio_mock

MESSAGES_PATH = f"/2010-04-01/Accounts/{FAKE_ACCOUNT_SID}/Messages.json"


def _sender(mock: TwilioMock, status_callback: str | None = None) -> TwilioSender:
    return TwilioSender(
        FAKE_ACCOUNT_SID, FAKE_AUTH_TOKEN, FAKE_FROM, mock.base_url, status_callback
    )


def _raw_post(base: str, path: str, form: dict[str, str], auth: bool = True) -> int:
    """POST a form straight to the mock, bypassing the twilio library's own checks."""
    req = urllib.request.Request(
        base + path, data=urllib.parse.urlencode(form).encode(), method="POST"
    )
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    if auth:
        token = base64.b64encode(f"{FAKE_ACCOUNT_SID}:{FAKE_AUTH_TOKEN}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


async def test_sms_page_reaches_the_api_once(twilio_mock: TwilioMock) -> None:
    sender = _sender(twilio_mock, status_callback="https://pronto.example/sms/status")
    page = Page("A-4821", "+34600000001", "Mesa 7 no está contenta. Responde OK A-4821", "page")
    t0 = time.monotonic()
    result = await sender.send(page)
    await sender.aclose()

    assert result.ok, result.error
    assert result.sid.startswith("SM")
    calls = twilio_mock.recorded()
    assert [(c["method"], c["path"]) for c in calls] == [("POST", MESSAGES_PATH)]
    call = calls[0]
    assert call["form"]["To"] == page.to
    assert call["form"]["From"] == FAKE_FROM
    assert call["form"]["Body"] == page.body
    assert (
        call["form"]["StatusCallback"] == f"https://pronto.example/sms/status?page={page.page_id}"
    )
    assert call["status"] == 201
    assert t0 <= call["monotonic"] <= time.monotonic()


async def test_whatsapp_page_goes_from_the_whatsapp_number(twilio_mock: TwilioMock) -> None:
    sender = _sender(twilio_mock)
    result = await sender.send(Page("A-7", "whatsapp:+34600000002", "Hola", "customer"))
    await sender.aclose()

    assert result.ok, result.error
    (call,) = twilio_mock.recorded()
    assert call["form"]["To"] == "whatsapp:+34600000002"
    assert call["form"]["From"] == "whatsapp:" + FAKE_FROM
    assert call["form"]["Body"] == "Hola [A-7]"  # the page id rides along for already_sent


async def test_already_sent_asks_the_message_log(twilio_mock: TwilioMock) -> None:
    sender = _sender(twilio_mock)
    since = time.time() - 60
    # Prism answers with the spec's example message, which carries no page id of ours.
    found = await sender.already_sent(Page("A-4821", "+34600000001", "x", "page"), since)
    await sender.aclose()

    assert found is False
    (call,) = twilio_mock.recorded()
    assert (call["method"], call["path"], call["status"]) == ("GET", MESSAGES_PATH, 200)
    assert call["query"]["To"] == "+34600000001"
    assert call["query"]["PageSize"] == "100"
    assert call["query"]["DateSent>"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))


async def test_rejected_request_is_a_failed_result(twilio_mock: TwilioMock) -> None:
    # An account SID of the wrong shape breaks the path's pattern in Twilio's contract.
    sender = TwilioSender("AC123", FAKE_AUTH_TOKEN, FAKE_FROM, api_base=twilio_mock.base_url)
    result = await sender.send(Page("A-1", "+34600000001", "hi", "page"))
    await sender.aclose()

    assert not result.ok
    assert result.error.startswith("422")
    assert [c["status"] for c in twilio_mock.recorded()] == [422]


@pytest.mark.parametrize(
    ("form", "auth", "status"),
    [
        ({"From": FAKE_FROM, "Body": "no To"}, True, 422),
        ({"To": "+34600000001", "From": FAKE_FROM, "Body": "no auth"}, False, 401),
    ],
)
def test_prism_rejects_what_breaks_the_contract(
    twilio_mock: TwilioMock, form: dict[str, str], auth: bool, status: int
) -> None:
    assert _raw_post(twilio_mock.base_url, MESSAGES_PATH, form, auth) == status
    (call,) = twilio_mock.recorded()
    assert call["form"] == form


def test_valid_raw_request_is_accepted(twilio_mock: TwilioMock) -> None:
    # The control for the test above: the same request with To is accepted.
    form = {"To": "+34600000001", "From": FAKE_FROM, "Body": "ok"}
    assert _raw_post(twilio_mock.base_url, MESSAGES_PATH, form) == 201


def test_clear_forgets_the_recording(twilio_mock: TwilioMock) -> None:
    _raw_post(twilio_mock.base_url, MESSAGES_PATH, {"To": "+34600000001", "Body": "x"})
    assert len(twilio_mock.recorded()) == 1
    twilio_mock.clear()
    assert twilio_mock.recorded() == []


def test_strict_mock_rejects_alike_and_leaves_no_process_behind(tmp_path: Path) -> None:
    mock = TwilioMock(tmp_path, strict_responses=True)
    base = mock.start()
    pids = [p.pid for p in mock._procs]
    try:
        assert len(pids) == 2
        assert _raw_post(base, MESSAGES_PATH, {"From": FAKE_FROM, "Body": "no To"}) == 422
        # Under --errors Prism refuses to serve Twilio's own list example (relative URIs in
        # fields declared `format: uri`): why the default mock runs without the flag.
        auth = base64.b64encode(f"{FAKE_ACCOUNT_SID}:{FAKE_AUTH_TOKEN}".encode()).decode()
        req = urllib.request.Request(
            base + MESSAGES_PATH, headers={"Authorization": f"Basic {auth}"}
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 500
    finally:
        mock.stop()

    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)  # signal 0: does the group still exist?
    assert "prism/errors#VIOLATIONS" in (tmp_path / "prism.log").read_text()
