"""Building records and validating submissions: pure parts of ingest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.config import load_venues
from pipeline.ingest.intake import build_feedback, feedback_id, feedback_ref
from pipeline.ingest.web import ValidationError, validate_submission
from pipeline.kafka_local import deploy_dir
from pipeline.phones import redact_phones
from pipeline.privacy import Privacy
from pipeline.records import Feedback

VENUES = load_venues(deploy_dir() / "pronto.demo.toml")
RESTO = VENUES.by_id("resto-sol")


def test_the_record_holds_no_phone_number_in_plain_form() -> None:
    p = Privacy("secret")
    fb = build_feedback(fid=feedback_id("sms", "SM1"), channel="sms", location=RESTO,
                        location_id="resto-sol", phone="+34600123456", text="la sopa fría, 2/5",
                        received_at=1.0, privacy=p)  # fmt: skip
    raw = fb.to_json().decode()
    assert "600123456" not in raw
    assert (fb.score, fb.scale, fb.lang) == (2, "csat5", "es")
    assert p.decrypt(fb.contact) == "+34600123456"
    assert fb.customer_ref == p.customer_ref("+34 600 123 456")
    assert Feedback.from_json(fb.to_json()) == fb


def test_a_retried_webhook_gets_the_same_id_and_reference() -> None:
    assert feedback_id("sms", "SM1") == feedback_id("sms", "SM1")
    assert feedback_ref(feedback_id("sms", "SM1")) != feedback_ref(feedback_id("sms", "SM2"))
    assert feedback_id("web") != feedback_id("web")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"score": 9}, "score"),  # 9 is not on the 1-5 scale
        ({"score": "x"}, "score"),
        ({"score": True}, "score"),
        ({}, "score"),  # neither a score nor a comment
        ({"comment": "a" * 1001}, "comment"),
        ({"score": 3, "phone": "12"}, "phone"),
        ({"score": 3, "scale": "nps99"}, "scale"),
        ({"score": 3, "meta": {"a": {"b": {"c": {}}}}}, "body"),
    ],
)
def test_bad_submissions_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as e:
        validate_submission(data, RESTO)
    assert e.value.field == field


@given(st.dictionaries(st.text(max_size=10), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=10)))  # fmt: skip
def test_validation_either_accepts_or_names_a_field(data: dict[str, object]) -> None:
    try:
        score, _scale, text, _phone = validate_submission(data, RESTO)
    except ValidationError as e:
        assert e.field
    else:
        assert score is not None or text


def test_logs_lose_phone_numbers_but_keep_addresses() -> None:
    line = "to +34 600 123 456 and 34600123456 via 127.0.0.1:9092 at 12:30"
    assert redact_phones(line) == "to [phone] and [phone] via 127.0.0.1:9092 at 12:30"


def test_references_stay_what_customers_were_given() -> None:
    # Worked out with the whole digest before the reference took only its first five bytes.
    assert [feedback_ref(f) for f in ("sms-SM123", "web-abc", "sms-SMffff")] == [
        "QEK63A", "VFBDYT", "4NRQQ3"]  # fmt: skip
