"""End-to-end latency, matched record by record.

Webhook -> page: the worker stamps `received_at` when the webhook arrives; the alert keeps it,
and its page in `pages.outbox` carries it with the page id. The Twilio stand-in records when
each API call arrived, and the call names its page id in `StatusCallback` (`?page=P...`). Both
clocks are this host's wall clock. Only an alert's own first page counts: a complaint that
joins a burst has no page of its own (the burst's grouped page follows 30 s later, by design). Webhook -> scored: `received_at` against the Kafka
timestamp of the record on `feedback.scored`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)


def is_own_page(page_id: str) -> bool:
    """Whether a level-0 page id is an alert's own first page (`P<ref>-p0`), not the grouped
    page a burst leader sends 30 s later (`P<ref>-g0`), which no complaint waits for.

    >>> is_own_page("PA1B2-p0"), is_own_page("PA1B2-g0"), is_own_page("PA1B2-c9")
    (True, False, False)
    """
    return page_id.rpartition("-")[2] == "p0"


def first_pages(outbox: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, float]]:
    """page id -> (location id, the customer's `received_at`), for each alert's own first page
    (level 0, not a burst's grouped page) to a supervisor.

    >>> first_pages([{"page_id": "P1-p0", "kind": "page", "level": 0, "received_at": 5.0,
    ...               "location_id": "a"},
    ...              {"page_id": "P1-p1", "kind": "page", "level": 1, "received_at": 5.0},
    ...              {"page_id": "P1-g0", "kind": "page", "level": 0, "received_at": 5.0},
    ...              {"page_id": "P2-m0", "kind": "manager", "level": 0, "received_at": 6.0}])
    {'P1-p0': ('a', 5.0)}
    """
    return {
        str(m["page_id"]): (str(m.get("location_id", "")), float(m["received_at"]))
        for m in outbox
        if m.get("kind") == "page" and int(m.get("level", 0)) == 0 and "received_at" in m
        and is_own_page(str(m.get("page_id", "")))
    }  # fmt: skip


def page_id_of(call: Mapping[str, Any]) -> str:
    """The page id a recorded Twilio call names in its StatusCallback ("" if none).

    >>> page_id_of({"form": {"StatusCallback": "https://x.test/sms/status?page=P12-p0"}})
    'P12-p0'
    >>> page_id_of({"form": {}})
    ''
    """
    cb = str(call.get("form", {}).get("StatusCallback", ""))
    return parse_qs(urlsplit(cb).query).get("page", [""])[0]


@dataclass(frozen=True)
class PageCall:
    """A first page matched to the first Twilio call that sent it (both wall clock)."""

    page_id: str
    location_id: str
    received_at: float  # the customer's webhook reached the worker
    called_at: float  # the page's API call reached Twilio

    @property
    def latency_s(self) -> float:
        return self.called_at - self.received_at


def page_calls(outbox: Iterable[Mapping[str, Any]],
               calls: Iterable[Mapping[str, Any]]) -> list[PageCall]:  # fmt: skip
    """Each first page of `outbox` that some call sent, at its first call (a page sent twice,
    which must not happen, counts once). Calls that are not a message create are ignored.

    >>> outbox = [{"page_id": "P1-p0", "kind": "page", "level": 0, "received_at": 10.0,
    ...            "location_id": "a"}]
    >>> call = {"method": "POST", "path": "/2010-04-01/Accounts/AC1/Messages.json",
    ...         "wall": 10.05, "form": {"StatusCallback": "https://x/sms/status?page=P1-p0"}}
    >>> [(c.location_id, round(c.latency_s, 3)) for c in page_calls(outbox, [call, call])]
    [('a', 0.05)]
    """
    pages = first_pages(outbox)
    seen: dict[str, PageCall] = {}
    for call in calls:
        if call.get("method") != "POST" or not str(call.get("path", "")).endswith("/Messages.json"):
            continue
        pid = page_id_of(call)
        if pid in seen or pid not in pages:
            continue
        loc, at = pages[pid]
        seen[pid] = PageCall(pid, loc, at, float(call["wall"]))
    return list(seen.values())


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
    return [c.latency_s for c in page_calls(outbox, calls) if since <= c.received_at <= until]


def opening_feedback(events: Iterable[Mapping[str, Any]]) -> dict[tuple[str, float], str]:
    """(alert ref, opened at) -> the id of the feedback that opened the alert, from the alert
    dicts of `alerts.events` (a ref is reused once its alert is closed: the opening time,
    which is that feedback's `received_at`, tells them apart).

    >>> opening_feedback([{"event": "opened", "alert": {"ref": "12", "opened_at": 5.0,
    ...                    "feedback_ids": ["sms-SM1", "sms-SM2"]}}, {"event": "tick"}])
    {('12', 5.0): 'sms-SM1'}
    """
    out: dict[tuple[str, float], str] = {}
    for ev in events:
        alert = ev.get("alert") or {}
        ids = alert.get("feedback_ids") or []
        if ids and "opened_at" in alert:
            out.setdefault((str(alert.get("ref")), float(alert["opened_at"])), str(ids[0]))
    return out


def sent_page_latencies(matched: Iterable[PageCall], opened_by: Mapping[tuple[str, float], str],
                        sent_at: Mapping[str, float]) -> list[float]:  # fmt: skip
    """Seconds from the moment the sender wrote each webhook (`sent_at`: feedback id -> wall
    clock) to its page's API call: the customer's clock, which also counts any wait before the
    worker took the webhook in.

    >>> pcs = [PageCall("P12-p0", "a", 5.0, 5.3), PageCall("P13-p0", "a", 6.0, 6.1)]
    >>> [round(x, 3) for x in sent_page_latencies(pcs, {("12", 5.0): "sms-SM1"},
    ...                                           {"sms-SM1": 4.9})]
    [0.4]
    """
    return [secs for _, secs in sent_page_pairs(page_feedback(matched, opened_by), sent_at)]


def page_feedback(matched: Iterable[PageCall],
                  opened_by: Mapping[tuple[str, float], str]) -> list[tuple[PageCall, str]]:  # fmt: skip
    """Each page with the id of the feedback that opened its alert (pages of alerts that
    `opened_by` does not know are left out).

    >>> pc = PageCall("P12-p0", "a", 5.0, 5.3)
    >>> page_feedback([pc, PageCall("P13-p0", "a", 6.0, 6.1)], {("12", 5.0): "sms-SM1"})
    [(PageCall(page_id='P12-p0', location_id='a', received_at=5.0, called_at=5.3), 'sms-SM1')]
    """
    out = []
    for pc in matched:
        fid = opened_by.get((pc.page_id[1:].rpartition("-")[0], pc.received_at))
        if fid is not None:
            out.append((pc, fid))
    return out


def sent_page_pairs(paged: Iterable[tuple[PageCall, str]],
                    sent_at: Mapping[str, float]) -> list[tuple[str, float]]:  # fmt: skip
    """(feedback id, seconds from its send to its page's call), for `page_feedback`'s pages:
    `sent_page_latencies` with the feedback each page was for."""
    return [(fid, pc.called_at - sent_at[fid]) for pc, fid in paged if fid in sent_at]


def first_written(records: Iterable[tuple[int, bytes]], key: str) -> dict[str, float]:
    """`key` of each record (a top-level field, or "feedback.id") -> when its first record was
    written (the Kafka timestamp, seconds).

    >>> one = b'{"feedback": {"id": "sms-SM1"}}'
    >>> recs = [(2500, one), (3000, one), (9, b'not json')]
    >>> first_written(recs, "feedback.id")
    {'sms-SM1': 2.5}
    >>> first_written([(1000, b'{"page_id": "P1-p0"}')], "page_id")
    {'P1-p0': 1.0}
    """
    out: dict[str, float] = {}
    for ts_ms, value in records:
        try:
            doc = json.loads(value)
            for part in key.split("."):
                doc = doc[part]
        except (ValueError, KeyError, TypeError):
            continue
        out.setdefault(str(doc), ts_ms / 1000.0)
    return out


def pages_in(outbox: Iterable[Mapping[str, Any]], since: float, until: float) -> int:
    """How many first pages the alert stage wrote for feedback received in [since, until]
    (sent or not yet).

    >>> pages_in([{"page_id": "P1-p0", "kind": "page", "level": 0, "received_at": 3.0}], 0, 5)
    1
    """
    return sum(1 for _, at in first_pages(outbox).values() if since <= at <= until)


def complaint_pages(matched: Iterable[PageCall], locations: Collection[str], since: float,
                    until: float) -> dict[str, PageCall]:  # fmt: skip
    """location id -> its page, for complaints sent one per location in `locations` and
    received in [since, until]: the earliest such page at each location.

    >>> pcs = [PageCall("P1-p0", "a", 5.0, 5.2), PageCall("P2-p0", "a", 4.0, 4.1),
    ...        PageCall("P3-p0", "b", 1.0, 1.1), PageCall("P4-p0", "z", 5.0, 5.1)]
    >>> {k: v.page_id for k, v in complaint_pages(pcs, {"a", "b"}, 3.0, 9.0).items()}
    {'a': 'P2-p0'}
    """
    out: dict[str, PageCall] = {}
    for pc in matched:
        if pc.location_id not in locations or not since <= pc.received_at <= until:
            continue
        if pc.location_id not in out or pc.received_at < out[pc.location_id].received_at:
            out[pc.location_id] = pc
    return out


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
