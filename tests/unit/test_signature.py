"""The webhook signature check answers as Twilio's own `RequestValidator.validate` does."""

from __future__ import annotations

import itertools

import pytest
from twilio.request_validator import RequestValidator

from pipeline.ingest.signature import SignatureCheck

TOKEN = "0123456789abcdef0123456789abcdef"
URLS = ("https://pronto.example.test/sms/inbound",
        "https://pronto.example.test:443/sms/inbound",
        "https://pronto.example.test:8443/sms/inbound",
        "http://127.0.0.1:6066/sms/inbound?x=1&y=%C3%B1",
        "http://127.0.0.1/sms/status")  # fmt: skip
PARAMS = ({"From": "+34600111222", "Body": "¡Fatal! 2/10 😡", "MessageSid": "SM1"},
          {"MessageSid": "SM2", "MessageStatus": "delivered"}, {})  # fmt: skip


@pytest.mark.parametrize(("url", "params"), list(itertools.product(URLS, PARAMS)))
def test_it_accepts_and_refuses_exactly_what_the_library_does(url: str, params: dict) -> None:
    library, ours = RequestValidator(TOKEN), SignatureCheck(TOKEN)
    forged = RequestValidator("f" * 32)
    signatures = {library.compute_signature(u, params) for u in URLS}  # every URL's, right or wrong
    signatures |= {forged.compute_signature(url, params), "", "x", library.compute_signature(
        url, {**params, "Body": "tampered"})}  # fmt: skip
    answers = {sig: (ours.valid(url, params, sig), library.validate(url, params, sig))
               for sig in signatures}  # fmt: skip
    assert all(mine == theirs for mine, theirs in answers.values()), answers
    assert ours.valid(url, params, library.compute_signature(url, params))  # its own: yes
