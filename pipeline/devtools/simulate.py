"""`pronto simulate`: realistic feedback at a given rate, over HTTP or straight to Kafka.

Over HTTP it sends what Twilio would send (form-encoded webhooks signed with the auth token)
and what the QR form would post, paced with asyncio. It only ever targets this machine: a load
generator pointed at someone else's server is an attack, not a test. Via Kafka it builds the
same `Feedback` records the webhook would and produces them to `feedback.raw`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import sys
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from twilio.request_validator import RequestValidator

from pipeline.config import Location, load_venues
from pipeline.devtools.feedback_mix import SimMessage, burst, generate
from pipeline.settings import Settings

logger = logging.getLogger(__name__)

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_IN_FLIGHT = 200
WEB_PHONE_SHARE = 0.6  # web customers who leave a number for the follow-up
ACCOUNT_SID = "AC" + "0" * 32
SMS_PATH = "/sms/inbound"


def loopback_only(url: str) -> str:
    """`url` without a trailing slash if it points at this machine; ValueError otherwise.

    >>> loopback_only("http://127.0.0.1:6066/")
    'http://127.0.0.1:6066'
    >>> loopback_only("https://example.com")
    Traceback (most recent call last):
    ValueError: refusing to send to example.com: pronto simulate only targets 127.0.0.1
    """
    host = urllib.parse.urlsplit(url).hostname or ""
    if host not in LOOPBACK:
        raise ValueError(f"refusing to send to {host}: pronto simulate only targets 127.0.0.1")
    return url.rstrip("/")


@dataclass
class Stats:
    """What was sent and how the server answered."""

    sent: int = 0
    ok: int = 0
    errors: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    recent: list[float] = field(default_factory=list)  # send times, for the live rate

    def record(self, status: int | str) -> None:
        self.sent += 1
        self.statuses[str(status)] += 1
        if isinstance(status, int) and 200 <= status < 300:
            self.ok += 1
        else:
            self.errors += 1
        now = time.monotonic()
        self.recent.append(now)
        if len(self.recent) > 2000:
            del self.recent[:1000]

    def rate(self, over_s: float = 10.0) -> float:
        """Messages a second over the last `over_s` seconds."""
        now = time.monotonic()
        span = min(over_s, max(now - self.started, 1e-9))
        return sum(1 for t in self.recent if t >= now - over_s) / span

    def summary(self) -> dict[str, Any]:
        elapsed = (self.ended or time.monotonic()) - self.started
        return {"sent": self.sent, "ok_2xx": self.ok, "errors": self.errors,
                "statuses": dict(self.statuses), "elapsed_s": round(elapsed, 2),
                "rate": round(self.sent / elapsed, 2) if elapsed > 0 else 0.0}  # fmt: skip


class HttpTarget:
    """Posts signed Twilio webhooks and QR-form submissions to a local worker."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, auth_token: str,
                 public_url: str = "") -> None:  # fmt: skip
        self.session = session
        self.base = loopback_only(base_url)
        self.sign_base = (public_url or self.base).rstrip("/")
        self.validator = RequestValidator(auth_token) if auth_token else None

    async def sms(self, sender: str, to: str, body: str, sid: str | None = None) -> int:
        """POST /sms/inbound as Twilio would; returns the HTTP status."""
        params = sms_params(sender, to, body, sid or new_sid())
        headers = {}
        if self.validator is not None:
            url = f"{self.sign_base}{SMS_PATH}"
            headers["X-Twilio-Signature"] = self.validator.compute_signature(url, params)
        async with self.session.post(f"{self.base}{SMS_PATH}", data=params,
                                     headers=headers) as r:  # fmt: skip
            await r.read()
            return r.status

    async def form(self, location_id: str, score: int | None, comment: str, phone: str) -> int:
        """POST /f/{location_id} as the QR-code form would."""
        data = {"score": "" if score is None else str(score), "comment": comment, "phone": phone}
        async with self.session.post(f"{self.base}/f/{location_id}", data=data) as r:
            await r.read()
            return r.status


def sms_params(sender: str, to: str, body: str, sid: str) -> dict[str, str]:
    """The form fields of Twilio's inbound-SMS webhook (the ones Pronto reads, and a few)."""
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID, "From": sender,
            "To": to, "Body": body, "NumMedia": "0", "NumSegments": "1"}  # fmt: skip


def new_sid() -> str:
    """A fresh Twilio-shaped MessageSid: a rerun never collides with an earlier run's ids."""
    return "SM" + uuid.uuid4().hex


OnSent = Callable[[SimMessage, str, str, int], None]  # message, channel, feedback id, status


class Simulator:
    """Sends the mix at `rate` a second, and a burst at one venue every `burst_every_s`."""

    def __init__(self, venues: Sequence[Location], target: HttpTarget, *, rate: float,
                 seed: int, channel: str = "sms", burst_every_s: float = 0.0,
                 burst_size: int = 6, on_sent: OnSent | None = None) -> None:  # fmt: skip
        self.venues = list(venues)
        self.target = target
        self.rate = rate
        self.seed = seed
        self.channel = channel
        self.burst_every_s = burst_every_s
        self.burst_size = burst_size
        self.on_sent = on_sent
        self.stats = Stats()
        self.rng = random.Random(seed)
        self._gate = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._tasks: set[asyncio.Task[None]] = set()

    def _pick_channel(self) -> str:
        if self.channel == "mix":
            return "sms" if self.rng.random() < 0.7 else "web"
        return self.channel

    async def send(self, msg: SimMessage) -> None:
        channel = self._pick_channel()
        fid = ""
        async with self._gate:
            try:
                if channel == "web":
                    loc = next(v for v in self.venues if v.id == msg.location_id)
                    as_button = msg.score is not None and msg.scale == loc.scale
                    phone = msg.phone if self.rng.random() < WEB_PHONE_SHARE else ""
                    status = await self.target.form(msg.location_id, msg.score if as_button else None,
                                                    msg.comment if as_button else msg.text, phone)  # fmt: skip
                else:
                    sid = new_sid()
                    fid = f"sms-{sid}"
                    status = await self.target.sms(msg.phone, msg.to, msg.text, sid)
            except (aiohttp.ClientError, TimeoutError, OSError) as e:
                self.stats.record(type(e).__name__)
                return
        self.stats.record(status)
        if self.on_sent is not None:
            self.on_sent(msg, channel, fid, status)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _burst(self, seq: int) -> None:
        loc = self.rng.choice(self.venues)
        logger.info("burst at %s", loc.id)
        for msg in burst(self.seed + seq, loc, self.burst_size, start_seq=seq):
            self._spawn(self.send(msg))
            await asyncio.sleep(0.25)

    async def run(self, duration_s: float | None = None, count: int | None = None,
                  stop: asyncio.Event | None = None) -> Stats:  # fmt: skip
        """Send until `duration_s` has passed, `count` were sent, or `stop` is set."""
        stop = stop or asyncio.Event()
        start = time.monotonic()
        self.stats = Stats(started=start)
        next_burst = start + self.burst_every_s if self.burst_every_s > 0 else float("inf")
        for i, msg in enumerate(generate(self.seed, self.venues)):
            if count is not None and i >= count:
                break
            due = start + i / self.rate
            if duration_s is not None and due - start >= duration_s:
                break
            delay = due - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                break
            if time.monotonic() >= next_burst:
                next_burst += self.burst_every_s
                self._spawn(self._burst(10_000_000 + i))
            self._spawn(self.send(msg))
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=15)
        self.stats.ended = time.monotonic()
        return self.stats


async def run_kafka(settings: Settings, venues: Sequence[Location], rate: float, seed: int,
                    duration_s: float | None, count: int | None) -> Stats:  # fmt: skip
    """Produce `Feedback` records to `feedback.raw`, keyed by location, as the webhook would."""
    from aiokafka import AIOKafkaProducer

    from pipeline.ingest.intake import build_feedback, feedback_id
    from pipeline.privacy import Privacy

    privacy = Privacy(settings.secret_key.get_secret_value())
    by_id = {v.id: v for v in venues}
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    stats = Stats()
    topic = settings.topic("feedback.raw")
    pending: set[asyncio.Future[Any]] = set()

    def done(fut: asyncio.Future[Any]) -> None:
        pending.discard(fut)
        stats.record(200 if not fut.cancelled() and fut.exception() is None else "KafkaError")

    try:
        for i, msg in enumerate(generate(seed, venues)):
            due = stats.started + i / rate
            if (count is not None and i >= count) or (
                duration_s is not None and due - stats.started >= duration_s
            ):
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            loc = by_id[msg.location_id]
            fb = build_feedback(fid=feedback_id("sms", new_sid()), channel="sms", location=loc,
                                location_id=loc.id, phone=msg.phone, text=msg.text,
                                received_at=time.time(), privacy=privacy)  # fmt: skip
            # Not send_and_wait: one round trip per record would cap the rate far below Kafka's.
            fut = await producer.send(topic, fb.to_json(), key=loc.id.encode())
            pending.add(fut)
            fut.add_done_callback(done)
        if pending:
            await asyncio.wait(set(pending), timeout=30)
    finally:
        await producer.stop()
    stats.ended = time.monotonic()
    return stats


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pronto simulate", description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=5.0, help="messages a second (default 5)")
    p.add_argument("--duration", type=float, default=None, help="seconds to run")
    p.add_argument("--count", type=int, default=None, help="messages to send")
    p.add_argument("--seed", type=int, default=None, help="the mix's seed (default: random)")
    p.add_argument("--via", choices=["http", "kafka"], default="http")
    p.add_argument(
        "--url", default=None, help="the worker (default http://127.0.0.1:$PRONTO_WEB_PORT)"
    )
    p.add_argument("--channel", choices=["sms", "web", "mix"], default="sms")
    p.add_argument(
        "--burst-every", type=float, default=0.0, help="seconds between bursts (0: none)"
    )
    args = p.parse_args(argv)
    if args.rate <= 0:
        p.error("--rate must be positive")
    if args.duration is None and args.count is None:
        args.duration = 60.0  # bounded by default
    return args


def main(argv: list[str]) -> int:
    """`pronto simulate ...`: prints one JSON summary line."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    settings = Settings()
    venues = load_venues(settings.config, settings.ack_timeout_s).locations
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    if args.via == "kafka":
        if not settings.broker:
            print("pronto simulate: --via kafka needs PRONTO_BROKER", file=sys.stderr)
            return 2
        stats = asyncio.run(run_kafka(settings, venues, args.rate, seed, args.duration, args.count))
    else:
        try:
            url = loopback_only(args.url or f"http://127.0.0.1:{settings.web_port}")
        except ValueError as e:
            print(f"pronto simulate: {e}", file=sys.stderr)
            return 2

        async def go() -> Stats:
            token = settings.twilio_auth_token.get_secret_value()
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
                target = HttpTarget(session, url, token, settings.public_url)
                sim = Simulator(venues, target, rate=args.rate, seed=seed, channel=args.channel,
                                burst_every_s=args.burst_every)  # fmt: skip
                return await sim.run(args.duration, args.count)

        stats = asyncio.run(go())
    print(json.dumps({"via": args.via, "seed": seed, **stats.summary()}))
    return 0 if stats.sent and not stats.errors else 1
