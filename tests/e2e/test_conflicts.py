"""Issue 16 part 3, end to end: a score and text that disagree do not page on the score alone.

Real Kafka, a real worker, Prism serving Twilio's contract.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.test_alerts import on_shift, sms, twilio_env, wait_for
from tests.support.twilio import sent_messages

pytestmark = pytest.mark.kafka


def test_happy_text_with_a_low_score_asks_once_and_an_unhappy_answer_pages(
    make_worker, bootstrap, twilio_mock, tmp_path
):
    w = make_worker(twilio_env(bootstrap, tmp_path / "h", twilio_mock.base_url))
    supervisor = on_shift(0)
    # A five-point answer at the NPS bus line: read as 5/5, nobody paged, nothing asked.
    reply = sms(w, "SM" + "a" * 32, "+34611111111", "5, muy rápidos")
    assert "Gracias por su opinión" in reply
    # A low score with clearly happy words: the customer is asked, once, in Spanish.
    customer = "+34622222222"
    reply = sms(w, "SM" + "b" * 32, customer, "2, genial el conductor")
    assert "Gracias por su opinión" in reply and "avisando" not in reply
    (question,) = wait_for(twilio_mock, lambda m: m["form"].get("To") == customer)
    assert "Del 0 al 10" in question["form"]["Body"], question
    time.sleep(2)
    assert not [m for m in sent_messages(twilio_mock) if m["form"].get("To") == supervisor.phone]
    # Their answer is a complaint: it pages now, with the answer's words.
    sms(w, "SM" + "c" * 32, customer, "2, fatal")
    (page,) = wait_for(twilio_mock, lambda m: m["form"].get("To") == supervisor.phone)
    assert "2, fatal" in page["form"]["Body"]
    assert len([m for m in sent_messages(twilio_mock) if m["form"].get("To") == customer]) == 1
