"""End-to-end latency, matched record by record.

Webhook -> page: the worker stamps `received_at` when the webhook arrives; the alert keeps it,
and its page in `pages.outbox` carries it with the page id. The Twilio mock records when each
API call arrived, and the call names its page id in `StatusCallback` (`?page=P...`). Both
clocks are this host's wall clock. Webhook -> scored: `received_at` against the Kafka
timestamp of the record on `feedback.scored`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)


def first_pages(outbox: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """page id -> the customer's `received_at`, for first pages (level 0) to a supervisor.

    >>> first_pages([{"page_id": "P1-p0", "kind": "page", "level": 0, "received_at": 5.0},
    ...              {"page_id": "P1-p1", "kind": "page", "level": 1, "received_at": 5.0},
    ...              {"page_id": "P2-m0", "kind": "manager", "level": 0, "received_at": 6.0}])
    {'P1-p0': 5.0}
    """
    return {
        str(m["page_id"]): float(m["received_at"])
        for m in outbox
        if m.get("kind") == "page" and int(m.get("level", 0)) == 0 and "received_at" in m
    }


def page_id_of(call: Mapping[str, Any]) -> str:
    """The page id a recorded Twilio call names in its StatusCallback ("" if none).

    >>> page_id_of({"form": {"StatusCallback": "https://x.test/sms/status?page=P12-p0"}})
    'P12-p0'
    >>> page_id_of({"form": {}})
    ''
    """
    cb = str(call.get("form", {}).get("StatusCallback", ""))
    return parse_qs(urlsplit(cb).query).get("page", [""])[0]


def page_latencies(outbox: Iterable[Mapping[str, Any]], calls: Iterable[Mapping[str, Any]],
                   since: float, until: float) -> list[float]:  # fmt: skip
    """Seconds from webhook to Twilio call, for first pages of feedback received in
    [since, until]. A page sent twice (it must not be) counts once, at its first call.

    >>> outbox = [{"page_id": "P1-p0", "kind": "page", "level": 0, "received_at": 10.0}]
    >>> calls = [{"method": "POST", "path": "/2010-04-01/Accounts/AC1/Messages.json",
    ...           "wall": 10.05, "form": {"StatusCallback": "https://x/sms/status?page=P1-p0"}}]
    >>> [round(x, 3) for x in page_latencies(outbox, calls, 0.0, 20.0)]
    [0.05]
    """
    received = first_pages(outbox)
    seen: dict[str, float] = {}
    for call in calls:
        if call.get("method") != "POST" or not str(call.get("path", "")).endswith("/Messages.json"):
            continue
        pid = page_id_of(call)
        at = received.get(pid)
        if at is None or pid in seen or not since <= at <= until:
            continue
        seen[pid] = float(call["wall"]) - at
    return list(seen.values())


def scored_latencies(scored: Iterable[tuple[int, bytes]], since: float,
                     until: float) -> list[float]:  # fmt: skip
    """Seconds from webhook to `feedback.scored`, from (Kafka timestamp ms, value) pairs.

    >>> v = json.dumps({"feedback": {"received_at": 100.0}}).encode()
    >>> [round(x, 3) for x in scored_latencies([(100_020, v), (99_000, b"nope")], 0.0, 200.0)]
    [0.02]
    """
    out = []
    for ts_ms, value in scored:
        try:
            at = float(json.loads(value)["feedback"]["received_at"])
        except (ValueError, KeyError, TypeError):
            continue
        if since <= at <= until:
            out.append(max(0.0, ts_ms / 1000.0 - at))
    return out


def read_all(bootstrap: str, topic: str, timeout_s: float = 60.0) -> list[tuple[int, bytes]]:
    """Every record now in `topic`, as (timestamp ms, value), read up to the end offsets."""
    import time

    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             max_partition_fetch_bytes=8 * 1024 * 1024)  # fmt: skip
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or set()]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(consumer.position(tp) < ends[tp] for tp in tps):
            for recs in consumer.poll(timeout_ms=500, max_records=20_000).values():
                out.extend((r.timestamp, r.value) for r in recs)
        return out
    finally:
        consumer.close()


def outbox_messages(records: Sequence[tuple[int, bytes]]) -> list[dict[str, Any]]:
    """The JSON messages of `pages.outbox` (anything undecodable is skipped)."""
    out = []
    for _, value in records:
        try:
            doc = json.loads(value)
        except ValueError:
            continue
        if isinstance(doc, dict):
            out.append(doc)
    return out
