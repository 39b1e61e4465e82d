"""The benchmark's loads: records straight to `feedback.raw`, a bare consumer reading them
back (the ceiling for a Python worker), and signed webhooks over HTTP, paced or flat out.

Every load is bounded (a count or a duration) and targets 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice

import aiohttp

from pipeline.config import Location
from pipeline.devtools import lean_http as lean
from pipeline.devtools.feedback_mix import SimMessage, customer_pool, generate, make_message
from pipeline.devtools.simulate import HttpTarget
from pipeline.privacy import Privacy

logger = logging.getLogger(__name__)

POOL = 2_000  # distinct messages; each record gets its own id and clock


def feedback_pool(venues: Sequence[Location], secret: str, seed: int = 1, size: int = POOL,
                  ordinary: bool = False) -> list[dict[str, object]]:  # fmt: skip
    """`size` Feedback dicts built as the webhook builds them (score, language, encryption);
    with `ordinary`, none of them a complaint (no low score, no safety message)."""
    from pipeline.ingest.intake import build_feedback, feedback_id

    privacy = Privacy(secret)
    by_id = {v.id: v for v in venues}
    out = []
    mix = generate(seed, venues)
    if ordinary:
        mix = (m for m in mix if not (m.dissatisfied or m.safety))
    for msg in islice(mix, size):
        loc = by_id[msg.location_id]
        fb = build_feedback(fid=feedback_id("sms", f"SM{uuid.uuid4().hex}"), channel="sms",
                            location=loc, location_id=loc.id, phone=msg.phone, text=msg.text,
                            received_at=time.time(), privacy=privacy)  # fmt: skip
        out.append(fb.to_dict())
    return out


def records(pool: Sequence[dict[str, object]], start: int, count: int,
            tag: str) -> Iterator[tuple[bytes, bytes]]:  # fmt: skip
    """(key, value) for records `start..start+count`: pool entries with fresh ids and clocks."""
    for i in range(start, start + count):
        d = dict(pool[i % len(pool)])
        d["id"] = f"sms-bench{tag}{i:09d}"
        d["received_at"] = time.time()
        yield str(d["location_id"]).encode(), json.dumps(d, ensure_ascii=False).encode()


def produce(bootstrap: str, topic: str, items: Iterator[tuple[bytes, bytes]]) -> tuple[int, float]:
    """Send `items` keyed as the worker keys them, in big batches (acks=1); (count, seconds)."""
    return asyncio.run(_produce(bootstrap, topic, items))


async def _produce(bootstrap: str, topic: str,
                   items: Iterator[tuple[bytes, bytes]]) -> tuple[int, float]:  # fmt: skip
    from aiokafka import AIOKafkaProducer
    from aiokafka.partitioner import DefaultPartitioner

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20,
                                max_batch_size=1024 * 1024, max_request_size=4 * 1024 * 1024)  # fmt: skip
    await producer.start()
    t0 = time.monotonic()
    n = 0
    try:
        parts = sorted(await producer.partitions_for(topic))
        partitioner = DefaultPartitioner()
        batches = {p: producer.create_batch() for p in parts}
        pending = []
        for key, value in items:
            p = partitioner(key, parts, parts)
            if batches[p].append(key=key, value=value, timestamp=None) is None:
                pending.append(await producer.send_batch(batches[p], topic, partition=p))
                batches[p] = producer.create_batch()
                batches[p].append(key=key, value=value, timestamp=None)
            n += 1
        for p, batch in batches.items():
            if batch.record_count():
                pending.append(await producer.send_batch(batch, topic, partition=p))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return n, time.monotonic() - t0


async def _aiokafka_read(bootstrap: str, topic: str, count: int, timeout_s: float) -> float:
    from aiokafka import AIOKafkaConsumer

    # No group: the consumer takes every partition, from the beginning.
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")  # fmt: skip
    await consumer.start()
    try:
        n, t0 = 0, time.monotonic()
        while n < count and time.monotonic() - t0 < timeout_s:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            n += sum(len(v) for v in batch.values())
        return time.monotonic() - t0 if n >= count else float("nan")
    finally:
        await consumer.stop()


def raw_read_aiokafka(bootstrap: str, topic: str, count: int, timeout_s: float = 120.0) -> float:
    """Seconds for a bare aiokafka consumer (what Faust runs on) to read `count` records."""
    return asyncio.run(_aiokafka_read(bootstrap, topic, count, timeout_s))


def raw_read_kafka_python(bootstrap: str, topic: str, count: int,
                          timeout_s: float = 120.0) -> float:  # fmt: skip
    """Seconds for a bare kafka-python consumer to read `count` records, doing nothing."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or set()]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        n, t0 = 0, time.monotonic()
        while n < count and time.monotonic() - t0 < timeout_s:
            batch = consumer.poll(timeout_ms=500, max_records=10_000)
            n += sum(len(v) for v in batch.values())
        return time.monotonic() - t0 if n >= count else float("nan")
    finally:
        consumer.close()


@dataclass
class HttpRun:
    """What a webhook load sent, and when (wall clock) it started and ended."""

    rate: float
    sent: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    ended: float = 0.0  # the last answer
    sent_until: float = 0.0  # the last request handed to the connection pool
    behind_s: float = 0.0  # how far the sender fell behind its schedule, at worst
    complaints: int = 0  # messages the mix wrote as complaints (low score or safety)
    sent_at: dict[str, float] = field(default_factory=dict)  # feedback id -> when written

    def count(self, status: int | str) -> None:
        self.sent += 1
        if status == 200:
            self.ok += 1
        else:
            self.errors[str(status)] = self.errors.get(str(status), 0) + 1


def unique_sender(phase: int, i: int) -> str:
    """A number of its own for each message, so each complaint opens (and pages) an alert.

    >>> unique_sender(2, 7)
    '+34680200000007'
    """
    return f"+3468{phase:02d}{i:08d}"


async def paced_webhooks(base_url: str, venues: Sequence[Location], rate: float,
                         duration_s: float, phase: int, seed: int,
                         max_in_flight: int = 400) -> HttpRun:  # fmt: skip
    """Signed SMS webhooks at `rate` a second for `duration_s`, then wait for the answers.
    They are built and signed before the clock starts (`lean_http` says why)."""
    run = HttpRun(rate)
    msgs = list(islice(generate(seed, venues), int(rate * duration_s)))
    requests = prepared(base_url, phase, msgs)
    pool = lean.Pool(base_url, max_in_flight)
    tasks: set[asyncio.Task[None]] = set()

    async def one(fid: str, request: bytes) -> None:
        run.sent_at[fid] = time.time()
        await send_lean(pool, run, request)

    run.started = time.time()
    t0 = time.monotonic()
    for i, (msg, (fid, request)) in enumerate(zip(msgs, requests, strict=True)):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            run.behind_s = max(run.behind_s, -delay)
        run.complaints += int(msg.dissatisfied or msg.safety)
        task = asyncio.create_task(one(fid, request))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    run.sent_until = time.time()
    if tasks:
        await asyncio.wait(set(tasks), timeout=60)
    run.ended = time.time()
    pool.close()
    return run


def prepared(base_url: str, phase: int, msgs: Sequence[SimMessage]) -> list[tuple[str, bytes]]:
    """`msgs` as signed webhooks, each from a sender and with a MessageSid of its own, with
    the id the worker gives its feedback."""
    from pipeline.devtools.bench_env import BENCH_PUBLIC_URL, BENCH_TOKEN
    from pipeline.ingest.intake import feedback_id

    hooks = lean.SmsWebhooks(base_url, BENCH_TOKEN, BENCH_PUBLIC_URL)
    out = []
    for i, m in enumerate(msgs):
        sid = f"SM{phase:02d}{i:08d}{uuid.uuid4().hex[:22]}"
        out.append(
            (feedback_id("sms", sid), hooks.build(unique_sender(phase, i), m.to, m.text, sid))
        )
    return out


async def send_lean(pool: lean.Pool, run: HttpRun, request: bytes) -> None:
    try:
        run.count(await pool.send(request))
    except (TimeoutError, OSError) as e:
        run.count(type(e).__name__)


def complaint_messages(venues: Sequence[Location], seed: int) -> list[SimMessage]:
    """One complaint (a low score, in words too) at each of `venues`, in order.

    >>> from pipeline.config import Location
    >>> vs = [Location(id=f"v{i}", name="V", scale="csat5", numbers=(f"+{i}",)) for i in range(3)]
    >>> msgs = complaint_messages(vs, 1)
    >>> [(m.location_id, m.to, m.dissatisfied, m.score is not None and m.score <= 2) for m in msgs]
    [('v0', '+0', True, True), ('v1', '+1', True, True), ('v2', '+2', True, True)]
    """
    rng = random.Random(f"complaints-{seed}")
    customers = customer_pool(seed)
    return [make_message(rng, i, loc, customers, unhappy=True) for i, loc in enumerate(venues)]


async def complaint_webhooks(base_url: str, venues: Sequence[Location], gap_s: float,
                             phase: int, seed: int) -> HttpRun:  # fmt: skip
    """A signed SMS complaint at each of `venues`, each from a customer of its own: `gap_s`
    apart, or all at once when `gap_s` is 0."""
    run = HttpRun(0.0)
    msgs = complaint_messages(venues, seed)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        from pipeline.devtools.bench_env import BENCH_PUBLIC_URL, BENCH_TOKEN

        target = HttpTarget(session, base_url, BENCH_TOKEN, BENCH_PUBLIC_URL)

        async def one(msg: SimMessage, i: int) -> None:
            await send_counted(target, run, phase, i, msg)

        run.started = time.time()
        tasks = []
        for i, msg in enumerate(msgs):
            if gap_s and i:
                await asyncio.sleep(gap_s)
            run.complaints += 1
            tasks.append(asyncio.create_task(one(msg, i)))
        await asyncio.gather(*tasks)
        run.ended = time.time()
    return run


async def send_counted(target: HttpTarget, run: HttpRun, phase: int, i: int,
                       msg: SimMessage) -> None:  # fmt: skip
    """Send one signed webhook (a sender and MessageSid of its own) and count its answer."""
    sid = f"SM{phase:02d}{i:08d}{uuid.uuid4().hex[:22]}"
    try:
        run.count(await target.sms(unique_sender(phase, i), msg.to, msg.text, sid))
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        run.count(type(e).__name__)


async def flat_out_webhooks(base_url: str, venues: Sequence[Location], duration_s: float,
                            phase: int, seed: int, concurrency: int = 64,
                            prepare: int = 30_000) -> HttpRun:  # fmt: skip
    """As many signed webhooks as the worker answers, `concurrency` at a time, for a while
    (at most `prepare` of them, built before the clock starts)."""
    run = HttpRun(0.0)
    requests = prepared(base_url, phase, list(islice(generate(seed, venues), prepare)))
    pool = lean.Pool(base_url, concurrency)
    todo = (request for _, request in requests)
    stop_at = time.monotonic() + duration_s

    async def loop() -> None:
        for request in todo:
            if time.monotonic() >= stop_at:
                return
            await send_lean(pool, run, request)

    run.started = time.time()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    run.ended = time.time()
    pool.close()
    return run
