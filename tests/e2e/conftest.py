"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.reliability import TwilioLog


@pytest.fixture
def twilio() -> Iterator[TwilioLog]:
    """A Twilio API stand-in that keeps every message it was sent (and its message log)."""
    log = TwilioLog().start()
    yield log
    log.stop()
