"""The Twilio API mock for tests: Prism with Twilio's OpenAPI description, behind a recorder.

Session-scoped: Prism takes a few seconds to load the 2 MB spec, so the suite starts it once
and each test clears the recording. A missing node, npm or Prism fails the test: it never
skips, because a skipped contract test looks green in CI.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pipeline.devtools.twilio_mock import TwilioMock, TwilioMockError

logger = logging.getLogger(__name__)

# Realistic but fake: Prism checks the shape of the account SID ("AC" + 32 hex digits).
FAKE_ACCOUNT_SID = "AC" + "5e1f0c2b9a8d7e6f" * 2
FAKE_AUTH_TOKEN = "0f9e8d7c6b5a49382716a5b4c3d2e1f0"
FAKE_FROM = "+34910000042"


@pytest.fixture(scope="session")
def twilio_mock_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwilioMock]:
    """One mock for the whole session; logs under the session's temporary folder."""
    mock = TwilioMock(tmp_path_factory.mktemp("twilio-mock"))
    t0 = time.monotonic()
    try:
        mock.start()
    except TwilioMockError as e:
        pytest.fail(f"the Twilio API mock cannot start (run scripts/provision-twilio-mock.sh): {e}")
    logger.info(
        "twilio mock up in %.1f s (prism %.1f s)", time.monotonic() - t0, mock.prism_start_s
    )
    try:
        yield mock
    finally:
        mock.stop()


@pytest.fixture
def twilio_mock(
    twilio_mock_session: TwilioMock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TwilioMock]:
    """The session's mock with an empty recording, and PRONTO_TWILIO_* pointing at it."""
    twilio_mock_session.clear()
    monkeypatch.setenv("PRONTO_TWILIO_API_BASE", twilio_mock_session.base_url)
    monkeypatch.setenv("PRONTO_TWILIO_ACCOUNT_SID", FAKE_ACCOUNT_SID)
    monkeypatch.setenv("PRONTO_TWILIO_AUTH_TOKEN", FAKE_AUTH_TOKEN)
    yield twilio_mock_session


Message = dict[str, Any]


def sent_messages(mock: TwilioMock) -> list[Message]:
    """The messages the worker asked the Twilio mock to send, oldest first."""
    return [
        r for r in mock.recorded() if r["method"] == "POST" and r["path"].endswith("/Messages.json")
    ]


def wait_for_messages(
    mock: TwilioMock, pred: Callable[[Message], bool], timeout_s: float = 30.0
) -> list[Message]:
    """The sent messages matching `pred`, once Prism has answered each of them ([] on timeout)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [m for m in sent_messages(mock) if pred(m)]
        if found and all(m.get("status") is not None for m in found):
            return found
        time.sleep(0.2)
    return []
