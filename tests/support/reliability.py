"""Helpers for the reliability tests: a Twilio message log, a venues file, a steady load.

`TwilioLog` is a small stateful stand-in for Twilio's Messages resource (create and list).
Prism (the contract mock) answers every list call with the same canned example, so it cannot
answer the notify stage's restart question "was this page already sent?"; this one can, from
what it was really sent, newest first and one page of `PageSize`, as Twilio does.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from pipeline.ingest.intake import feedback_ref
from pipeline.privacy import Privacy
from pipeline.records import Feedback

logger = logging.getLogger(__name__)

SECRET = "test-secret"  # worker_env's PRONTO_SECRET_KEY
ACCOUNT_SID = "AC" + "5e1f0c2b9a8d7e6f" * 2
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"  # worker_env's token: webhooks sign with it
PRONTO_FROM = "+34910000099"
SUPERVISORS = {"Ana": "+34600000001", "Luis": "+34600000002", "Marta": "+34600000003"}


class TwilioLog:
    """`POST .../Messages.json` records a message; `GET .../Messages.json` lists them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []
        log = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # the test's output stays quiet
                pass

            def _reply(self, status: int, doc: dict[str, Any]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(n).decode(), keep_blank_values=True))
                if not self.path.endswith("/Messages.json") or not form.get("To"):
                    self._reply(400, {"code": 21604, "message": "'To' is required"})
                    return
                self._reply(201, log.create(form))

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if not parts.path.endswith("/Messages.json"):
                    self._reply(404, {"message": "not found"})
                    return
                self._reply(200, log.search(dict(parse_qsl(parts.query))))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> TwilioLog:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def create(self, form: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            now = time.time()
            sid = f"SM{len(self.messages) + 1:032x}"
            msg = {"sid": sid, "account_sid": ACCOUNT_SID, "to": form["To"],
                   "from": form.get("From", ""), "body": form.get("Body", ""),
                   "status": "queued", "num_segments": "1", "direction": "outbound-api",
                   "date_created": format_datetime(datetime.fromtimestamp(now, UTC), usegmt=True),
                   "date_sent": format_datetime(datetime.fromtimestamp(now, UTC), usegmt=True),
                   "_at": now}  # fmt: skip
            self.messages.append(msg)
            return {k: v for k, v in msg.items() if not k.startswith("_")}

    def search(self, query: dict[str, str]) -> dict[str, Any]:
        after = 0.0
        if query.get("DateSent>"):
            after = datetime.fromisoformat(query["DateSent>"].replace("Z", "+00:00")).timestamp()
        size = int(query.get("PageSize", "50"))
        with self.lock:
            found = [m for m in self.messages if m["_at"] >= after
                     and (not query.get("To") or m["to"] == query["To"])]  # fmt: skip
        page = [{k: v for k, v in m.items() if not k.startswith("_")} for m in found[::-1][:size]]
        return {"messages": page, "page": 0, "page_size": size, "next_page_uri": None,
                "previous_page_uri": None, "start": 0, "end": len(page)}  # fmt: skip

    def sent(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.messages)


def page_id_of(body: str) -> str:
    """The page id that `body_with_marker` appended to a message: "... [P1234-p0]" -> "P1234-p0"."""
    if body.endswith("]") and "[" in body:
        return body[body.rindex("[") + 1 : -1]
    return ""


def write_venues(path: Path, n: int) -> list[tuple[str, str]]:
    """A venues file of `n` locations (alternately nps10 and csat5), staffed 24/7.

    Returns [(location id, scale)]. Nobody is ever off shift, and acknowledgements are far
    away (PRONTO_ACK_TIMEOUT_S), so each complaint makes exactly one level-0 page.
    """
    lines: list[str] = []
    out: list[tuple[str, str]] = []
    for i in range(n):
        loc_id, scale = f"loc-{i:02d}", ("nps10" if i % 2 == 0 else "csat5")
        out.append((loc_id, scale))
        lines += ["[[locations]]", f'id = "{loc_id}"', f'name = "Venue {i}"', f'scale = "{scale}"',
                  f'numbers = ["+3491{i:07d}"]', f'code = "L{i}"', 'lang = "es"',
                  "trend_min_answers = 1000000"]  # fmt: skip
        for name, phone in SUPERVISORS.items():
            lines += ["[[locations.supervisors]]", f'name = "{name}"', f'phone = "{phone}"',
                      'shifts = ["24/7"]', f'token = "tok-{name.lower()}-{i}"']  # fmt: skip
        lines += ["[locations.escalation]", 'chain = ["Ana", "Luis"]', 'manager = "Marta"', ""]
    path.write_text("\n".join(lines))
    return out


def reliability_env(twilio: TwilioLog, venues: Path, **extra: str) -> dict[str, str]:
    """Worker settings for the reliability tests: pages to `twilio`, nothing throttled."""
    return {
        "PRONTO_CONFIG": str(venues),
        "PRONTO_TWILIO_API_BASE": twilio.base_url,
        "PRONTO_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "PRONTO_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PRONTO_TWILIO_FROM": PRONTO_FROM,
        "PRONTO_ACK_TIMEOUT_S": "3600",
        "PRONTO_PAGES_PER_SUPERVISOR_PER_MIN": "1000000",
        "PRONTO_RATE_LIMIT_PER_MIN": "1000000",
        "PRONTO_LATENESS_S": "3600",
        # Every answer of a run stays in every window, so the counts can be compared exactly.
        "PRONTO_WINDOWS": "15m,1h",
        "PRONTO_SESSION_TIMEOUT_S": "6",
        # RELIABILITY_GUARANTEE=exactly_once runs the same tests on Kafka transactions.
        "PRONTO_PROCESSING_GUARANTEE": os.environ.get("RELIABILITY_GUARANTEE", "at_least_once"),
        **extra,
    }


def phone_of(i: int) -> str:
    """A distinct customer number per feedback: one customer, at most one open alert."""
    return f"+3461{i:07d}"


def make_load(
    n: int, locations: list[tuple[str, str]], complaint_share: float, seed: int
) -> list[Feedback]:
    """`n` scored feedback over `locations`; about `complaint_share` of them are complaints."""
    rng = random.Random(seed)
    privacy = Privacy(SECRET)
    out: list[Feedback] = []
    for i in range(n):
        loc_id, scale = locations[i % len(locations)]
        bad = rng.random() < complaint_share
        if scale == "nps10":
            score = rng.randint(0, 6) if bad else rng.randint(7, 10)
        else:
            score = rng.randint(1, 2) if bad else rng.randint(4, 5)
        text = "muy lento y caro, no vuelvo" if bad else "todo bien, gracias"
        fid = f"load-{seed}-{i:05d}"
        phone = phone_of(i)
        out.append(Feedback(id=fid, received_at=time.time(), channel="sms", location_id=loc_id,
                            customer_ref=privacy.customer_ref(phone), score=score, scale=scale,
                            text=text, lang="es", contact=privacy.encrypt(phone),
                            meta={"ref": feedback_ref(fid)}))  # fmt: skip
    return out


def stored_feedback(bootstrap: str, topic: str) -> list[Feedback]:
    """Every valid feedback on `feedback.raw`, once per id: what the tables must count."""
    out: dict[str, Feedback] = {}
    for v in topic_values(bootstrap, topic):
        with contextlib.suppress(ValueError):
            fb = Feedback.from_json(v)
            out.setdefault(fb.id, fb)
    return list(out.values())


def is_complaint(fb: Feedback) -> bool:
    return fb.score is not None and fb.score <= (6 if fb.scale == "nps10" else 2)


def produce_steady(
    bootstrap: str, topic: str, records: Iterable[Feedback], rate_per_s: float
) -> Iterator[Feedback]:
    """Send each record to `topic` (acks=all) at a steady rate; yield it once acknowledged."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, retries=10)
    try:
        t0 = time.monotonic()
        for i, fb in enumerate(records):
            fb.received_at = time.time()
            producer.send(topic, key=fb.location_id.encode(), value=fb.to_json()).get(timeout=30)
            yield fb
            delay = t0 + (i + 1) / rate_per_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    finally:
        producer.close()


def topic_values(bootstrap: str, topic: str) -> list[bytes]:
    """Every record's value on `topic` up to its current end (an empty list if it does not
    exist), tombstones left out."""
    return [r.value for r in topic_records(bootstrap, topic) if r.value is not None]


def scored_ids(bootstrap: str, topic: str) -> list[str]:
    """The feedback id of every record on `feedback.scored`, duplicates included."""
    out: list[str] = []
    for v in topic_values(bootstrap, topic):
        with contextlib.suppress(ValueError, KeyError, TypeError):  # a test's own garbage
            out.append(str(json.loads(v)["feedback"]["id"]))
    return out


def wait_scored(bootstrap: str, topic: str, wanted: set[str], timeout_s: float) -> list[str]:
    """Poll `feedback.scored` until every id in `wanted` is there, or the time is up."""
    deadline = time.monotonic() + timeout_s
    ids: list[str] = []
    while time.monotonic() < deadline:
        ids = scored_ids(bootstrap, topic)
        if wanted <= set(ids):
            break
        time.sleep(2.0)
    return ids


def get_json(url: str, timeout_s: float = 10.0, unavailable_s: float = 30.0) -> Any:
    """The JSON at `url`. A 503 (documented: the worker is rebalancing or stopping, retry) is
    retried for up to `unavailable_s`, as a client of the API must."""
    deadline = time.monotonic() + unavailable_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            if e.code != 503 or time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def merged_counts(urls: Iterable[str], window: str) -> tuple[dict[str, int], dict[str, int]]:
    """({location: answers in `window`}, {location: how many workers reported it}) over the
    workers' `/api/v1/scores`: each location is reported by the worker that owns it."""
    counts: dict[str, int] = {}
    owners: dict[str, int] = {}
    for url in urls:
        for loc_id, entry in get_json(f"{url}/api/v1/scores")["locations"].items():
            w = entry["windows"][window]
            n = int(w["csat_n"]) + int(w["nps_n"])
            if n:
                counts[loc_id] = counts.get(loc_id, 0) + n
            owners[loc_id] = owners.get(loc_id, 0) + 1
    return counts, owners


def expected_counts(records: Iterable[Feedback]) -> dict[str, int]:
    out: dict[str, int] = {}
    for fb in {r.id: r for r in records}.values():
        out[fb.location_id] = out.get(fb.location_id, 0) + 1
    return out


def first_pages(twilio: TwilioLog) -> dict[str, int]:
    """{page id: times sent} for each alert's first page: its own ("P<ref>-p0") or the
    grouped page of a burst ("P<leader>-g0")."""
    out: dict[str, int] = {}
    for m in twilio.sent():
        pid = page_id_of(m["body"])
        if pid.endswith(("-p0", "-g0")):
            out[pid] = out.get(pid, 0) + 1
    return out


def opened_alerts(bootstrap: str, topic: str) -> dict[str, dict[str, str]]:
    """{feedback id: {alert ref: the ref of the burst leader it joined, or ""}} from the
    "opened" events on `alerts.events`."""
    out: dict[str, dict[str, str]] = {}
    for v in topic_values(bootstrap, topic):
        doc = json.loads(v)
        alert = doc.get("alert") or {}
        if doc.get("event") == "opened" and alert.get("feedback_ids"):
            out.setdefault(alert["feedback_ids"][0], {})[doc["ref"]] = alert.get("burst_of", "")
    return out


def page_covering(ref: str, burst_of: str) -> str:
    """The page id that tells a supervisor of alert `ref`: its own, or its burst's."""
    return f"P{burst_of}-g0" if burst_of else f"P{ref}-p0"


def topic_records(bootstrap: str, topic: str) -> list[Any]:
    """Every record of `topic` up to its current end (key, value, partition, offset),
    tombstones included; an empty list if it does not exist."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out: list[Any] = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for recs in consumer.poll(timeout_ms=1000, max_records=5000).values():
                out.extend(recs)
        return out
    finally:
        consumer.close()


def spill_table_drift(bootstrap: str, tabledir: Path, app_id: str, table: str,
                      raw_values: bool) -> dict[str, Any]:  # fmt: skip
    """Compare a `spill://` table's file with its changelog folded up to the offset the file
    says it ends at, partition by partition: the file must hold exactly that prefix, never a
    write Kafka does not have. (Exact while the changelog is not compacted yet: a test's
    minutes are within its first segment.) Returns what was checked and what differs."""
    import sqlite3

    import orjson

    with contextlib.closing(sqlite3.connect(f"file:{tabledir / f'{table}.sqlite'}?mode=ro",
                                            uri=True)) as db:  # fmt: skip
        db.execute("BEGIN")  # one snapshot for the three reads
        offsets = {k: v for k, v in db.execute("SELECT k, v FROM offsets") if k.isdigit()}
        kv = {k: orjson.loads(v) if j else v for k, v, j in db.execute("SELECT k, v, j FROM kv")}
        where = dict(db.execute("SELECT k, v FROM key_partition"))
    folded: dict[int, dict[str, Any]] = {}
    for r in topic_records(bootstrap, f"{app_id}-{table}-changelog"):
        end = offsets.get(str(r.partition))
        if end is None or r.offset > int(end):
            continue
        key = json.loads(r.key)
        state = folded.setdefault(r.partition, {})
        if r.value is None:
            state.pop(key, None)
        else:
            state[key] = r.value if raw_values else json.loads(r.value)
    differ = []
    for p in map(int, offsets):
        mine = {k: v for k, v in kv.items() if where.get(k) == p}
        theirs = folded.get(p, {})
        differ += [
            f"{p}:{k}" for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)
        ]
    return {"table": table, "partitions": len(offsets), "keys": len(kv), "differ": differ[:10]}
