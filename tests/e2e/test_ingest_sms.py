"""Issue 2 and 3, end to end: a signed webhook becomes a record in Kafka, read with kcat."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from tests.support.http import post_sms, sms_params
from tests.support.kafka import read_json

pytestmark = pytest.mark.kafka

BUS = "+34910000042"  # bus-42's number in deploy/pronto.demo.toml


def kcat_records(
    bootstrap: str, topic: str, expect: int, timeout_s: float = 20
) -> list[dict[str, object]]:
    """Read `topic` with kcat, a client nobody here wrote."""
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    assert kcat, "kcat is not installed (make provision installs it)"
    deadline = time.monotonic() + timeout_s
    docs: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        out = subprocess.run([kcat, "-b", bootstrap, "-C", "-t", topic, "-e", "-q", "-f", "%s\n"],
                             capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        docs = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
        if len(docs) >= expect:
            return docs
        time.sleep(0.5)
    return docs


def test_signed_webhook_lands_in_feedback_raw_once(make_worker, bootstrap):
    w = make_worker()
    prefix = w.env["PRONTO_TOPIC_PREFIX"]
    params = sms_params(
        "SM" + "a" * 32, "+34611111111", BUS, "El bus llegó 10 minutos tarde, un 3 de 10"
    )
    status, body = post_sms(w.url, params)
    assert status == 200, body
    assert "<Response><Message>" in body and "Ref" in body
    again, _ = post_sms(w.url, params)  # Twilio retries the same MessageSid
    assert again == 200
    docs = kcat_records(bootstrap, f"{prefix}feedback.raw", expect=1)
    assert len(docs) == 1, docs
    fb = docs[0]
    assert fb["location_id"] == "bus-42" and fb["channel"] == "sms"
    assert fb["score"] == 3 and fb["scale"] == "nps10"
    assert "+34611111111" not in json.dumps(fb) and fb["customer_ref"].startswith("c_")
    scored = read_json(bootstrap, f"{prefix}feedback.scored", timeout_s=30)
    assert scored and scored[0]["feedback"]["id"] == fb["id"]
    assert scored[0]["scores"]["5m"]["nps_n"] == 1


def test_forged_signature_is_refused_and_stores_nothing(make_worker, bootstrap):
    w = make_worker()
    prefix = w.env["PRONTO_TOPIC_PREFIX"]
    params = sms_params("SM" + "b" * 32, "+34622222222", BUS, "todo mal")
    status, _ = post_sms(w.url, params, signature="forged")
    assert status == 403
    status, _ = post_sms(w.url, params, token="f" * 32)  # signed with the wrong token
    assert status == 403
    assert kcat_records(bootstrap, f"{prefix}feedback.raw", expect=1, timeout_s=5) == []
