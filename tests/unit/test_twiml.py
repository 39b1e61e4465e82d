"""The webhook's TwiML reply is byte for byte what the official library would write."""

from __future__ import annotations

import pytest
from twilio.twiml.messaging_response import MessagingResponse

from pipeline.ingest.sms import twiml_xml

TEXTS = [
    None,
    "",
    "Gracias, recibido. Ref 4821",
    "a & b < c > d \" e ' f",
    "¡Lo sentimos! Ana va de camino 😀\nRef: 12",
    "&amp; already escaped <Message>",
    "tab\tand\r\nwindows",
]


@pytest.mark.parametrize("text", TEXTS)
def test_the_reply_matches_the_library(text: str | None) -> None:
    resp = MessagingResponse()
    if text:
        resp.message(text)
    assert twiml_xml(text) == str(resp)
