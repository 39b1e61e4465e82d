"""Issue 6 with a real worker: a full run (feedback, alerts, escalation, ack, resolve, follow-up
with both outcomes) scraped by a real Prometheus. Every dashboard and recording-rule query
returns data, and neither the logs nor /metrics hold a phone number that the run used.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.alerts import roster
from pipeline.config import load_venues
from pipeline.kafka_local import deploy_dir
from tests.support.http import post_sms, request, sms_params
from tests.support.prometheus import start_prometheus, wait_for_data
from tests.support.promql import dashboard_queries

pytestmark = pytest.mark.kafka

VENUES = load_venues(deploy_dir() / "pronto.demo.toml")
CUSTOMERS = [f"+3461234{i:04d}" for i in range(13)]


def _number(loc_id: str) -> str:
    loc = VENUES.by_id(loc_id)
    assert loc is not None and loc.numbers
    return loc.numbers[0]


def _open_alerts(url: str, token: str) -> list[dict[str, Any]]:
    status, body = request(
        "GET", f"{url}/api/v1/alerts", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 200, body
    return json.loads(body)


def _wait(pred: Any, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError("timed out")


def drive_edge_cases(url: str, bootstrap: str, prefix: str) -> None:
    """Keywords, an opted-out complainer, a poison record and a late answer."""
    from kafka import KafkaProducer

    from pipeline.records import Feedback

    quitter = CUSTOMERS[12]
    for i, body in enumerate(["AYUDA", "STOP", "un 1 de 10, fatal"]):
        params = sms_params(f"SM{90_000 + i:032d}", quitter, _number("bus-42"), body)
        assert post_sms(url, params)[0] == 200
    late = Feedback(id="late-1", received_at=time.time() - 3600, channel="api", location_id="resto-sol",
                    score=4, scale="csat5")  # fmt: skip
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send(f"{prefix}feedback.raw", key=b"resto-sol", value=b"\x00 garbage")
    producer.send(f"{prefix}feedback.raw", key=b"resto-sol", value=late.to_json())
    producer.flush()
    producer.close()
    # Acknowledging the quitter's complaint would tell them who is coming: they get nothing.
    loc = VENUES.by_id("bus-42")
    assert loc is not None
    sup, _ = roster.recipient(loc, 0, datetime.now(UTC))
    mine = _wait(
        lambda: [a for a in _open_alerts(url, sup.token) if a["text"].startswith("un 1 de 10")]
    )
    auth = {"Authorization": f"Bearer {sup.token}"}
    assert request("POST", f"{url}/api/v1/alerts/{mine[0]['ref']}/ack", {}, auth)[0] == 202


def drive_full_run(url: str) -> None:
    """Customers at three venues; alerts acknowledged, resolved and followed up."""
    sid = iter(range(10_000))
    texts = {"bus-42": ["un 9, muy puntual", "8/10 bien", "un 2 de 10, muy sucio", "3/10 llega tarde"],
             "resto-sol": ["4/5 rico", "5 estrellas", "1 de 5, la sopa fría", "2/5 tardaron mucho"],
             "hotel-mar": ["5/5 lovely room", "4 out of 5", "1/5 the shower is broken", "2/5 noisy"]}  # fmt: skip
    for i, (loc_id, msgs) in enumerate(texts.items()):
        for j, text in enumerate(msgs):
            params = sms_params(f"SM{next(sid):032d}", CUSTOMERS[i * 4 + j], _number(loc_id), text)
            status, body = post_sms(url, params)
            assert status == 200, body
    assert post_sms(url, sms_params("SM" + "f" * 32, CUSTOMERS[0], _number("bus-42"), "x"),
                    signature="forged")[0] == 403  # fmt: skip
    status, _ = request("POST", f"{url}/api/v1/feedback", {"location_id": "resto-sol", "score": 9})
    assert status == 400
    now = datetime.now(UTC)
    for i, loc_id in enumerate(texts):
        loc = VENUES.by_id(loc_id)
        assert loc is not None
        sup, _ = roster.recipient(loc, 0, now)
        alerts = _wait(
            lambda sup=sup: len(_open_alerts(url, sup.token)) >= 2 and _open_alerts(url, sup.token)
        )
        for k, alert in enumerate(sorted(alerts, key=lambda a: a["opened_at"])[:2]):
            ref = alert["ref"]
            auth = {"Authorization": f"Bearer {sup.token}"}
            if k == 0 and i == 0:
                time.sleep(4)  # past the ack timeout: this one (and its burst) escalates first
            assert request("POST", f"{url}/api/v1/alerts/{ref}/ack", {}, auth)[0] == 202
            assert request("POST", f"{url}/api/v1/alerts/{ref}/resolve", {}, auth)[0] == 202
            customer = CUSTOMERS[i * 4 + 2 + k]
            time.sleep(1.0)
            answer = "5" if k == 0 else "2"  # one recovered, one not
            params = sms_params(f"SM{next(sid):032d}", customer, _number(loc_id), answer)
            assert post_sms(url, params)[0] == 200


def test_full_run_feeds_every_dashboard_query_and_leaks_no_phone(
    make_worker, bootstrap: str, tmp_path: Path
) -> None:
    w = make_worker(PRONTO_ACK_TIMEOUT_S="3")
    drive_full_run(w.url)
    drive_edge_cases(w.url, bootstrap, w.env["PRONTO_TOPIC_PREFIX"])
    time.sleep(6)  # lag timer, recoveries
    host = w.url.removeprefix("http://")
    (tmp_path / "prom").mkdir()
    prom_url, stop = start_prometheus(tmp_path / "prom", [host])
    try:
        queries = dashboard_queries(alerts=False)
        missing = wait_for_data(prom_url, queries, timeout_s=40)
        assert not missing, "queries without data:\n" + "\n".join(
            f"{q.source}: {q.expr}" for q in missing
        )
    finally:
        stop()
    with urllib.request.urlopen(f"{w.url}/metrics", timeout=10) as r:
        metrics = r.read().decode()
    assert 'pronto_recoveries_total{location="bus-42",outcome="recovered"}' in metrics
    assert 'outcome="not_recovered"' in metrics
    assert re.search(r'pronto_escalations_total\{location="bus-42"', metrics)
    assert 'pronto_pages_failed_total{channel="console",reason="opted_out"} 1.0' in metrics
    logs = w.log.read_text(errors="replace")
    for phone in CUSTOMERS + [s.phone for loc in VENUES.locations for s in loc.supervisors]:
        digits = phone.lstrip("+")
        for form in (phone, digits, digits[2:]):
            assert form not in logs, f"{form} in the worker log"
            assert form not in metrics, f"{form} in /metrics"
