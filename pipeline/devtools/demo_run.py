"""The running part of `pronto demo`: once the worker is up, feed it and watch it.

One event loop runs the simulator, the tail of `alerts.events` (which drives the board and
the simulated people) and a poll of `/api/v1/scores`, until the duration ends or a signal
arrives. The processes themselves are started and stopped by `demo.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import random
import signal
import time
from typing import TYPE_CHECKING, Any

import aiohttp
from rich.console import Console
from rich.live import Live

from pipeline.config import Venues, load_venues
from pipeline.devtools.demo_people import People
from pipeline.devtools.demo_view import Board
from pipeline.devtools.feedback_mix import SimMessage
from pipeline.devtools.simulate import HttpTarget, Simulator
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.devtools.demo import WorkerProcess

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 180.0
PLAIN_EVERY_S = 5.0


async def wait_ready(session: aiohttp.ClientSession, url: str, worker: WorkerProcess,
                     stop: asyncio.Event) -> bool:  # fmt: skip
    """Poll `/readyz` until it answers 200, the worker dies, or `stop` is set."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and not stop.is_set():
        if not worker.alive():
            return False
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
            async with session.get(f"{url}/readyz") as r:
                if r.status == 200:
                    return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
    return False


async def read_scores(session: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    """`GET /api/v1/scores`, or None if the worker does not answer."""
    with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError, ValueError):
        async with session.get(f"{url}/api/v1/scores") as r:
            if r.status == 200:
                doc: dict[str, Any] = await r.json()
                return doc
    return None


async def settle_scores(session: aiohttp.ClientSession, url: str,
                        timeout_s: float = 20.0) -> dict[str, Any] | None:  # fmt: skip
    """The scores once the pipeline has caught up: two reads, 1.5 s apart, that agree."""
    last = await read_scores(session, url)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        await asyncio.sleep(1.5)
        now = await read_scores(session, url)
        if now is not None and last is not None and now.get("locations") == last.get("locations"):
            return now
        last = now or last
    return last


async def tail_events(settings: Settings, board: Board, people: People,
                      ready: asyncio.Event) -> None:  # fmt: skip
    """Follow `alerts.events` from its end; feed the board and the simulated people."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    topic = settings.topic("alerts.events")
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        parts = None
        while not parts:
            # `topics()` would fetch the metadata without updating the client's view of it.
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic)
            if not parts:
                await asyncio.sleep(0.5)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)  # pin "the end" now, before any feedback is sent
        ready.set()
        async for rec in consumer:
            try:
                ev = json.loads(rec.value or b"")
            except ValueError:
                continue
            if isinstance(ev, dict):
                board.on_event(ev)
                people.on_event(ev)
    finally:
        await consumer.stop()


def demo_login(venues: Venues) -> str:
    """A supervisor's name and console token from the venues file."""
    sup = next((s for loc in venues.locations for s in loc.supervisors if s.token), None)
    return f"{sup.name} / {sup.token}" if sup else "(no console token in the venues file)"


def record_frame(board: Board, rate: float, path: Any) -> None:
    """Save the final frame as SVG (or plain text for any other suffix)."""
    console = Console(record=True, width=110, file=io.StringIO(), force_terminal=True)
    console.print(board.render(rate))
    if str(path).endswith(".svg"):
        console.save_svg(str(path), title="pronto demo")
    else:
        console.save_text(str(path))


async def run(
    args: argparse.Namespace, settings: Settings, port: int, worker: WorkerProcess
) -> int:
    """Wait for the worker, then simulate and show until the end; returns the exit code."""
    url = f"http://127.0.0.1:{port}"
    venues = load_venues(settings.config, settings.ack_timeout_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    board = Board(console_url=f"{url}/console", login=demo_login(venues))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        print(f"waiting for the worker at {url} (its log: {worker.log})...", flush=True)
        t0 = time.monotonic()
        if not await wait_ready(session, url, worker, stop):
            if stop.is_set():
                return 0
            print(f"pronto demo: the worker did not get ready:\n{worker.tail()}", flush=True)
            return 1
        print(f"worker ready in {time.monotonic() - t0:.1f}s", flush=True)
        target = HttpTarget(session, url, settings.twilio_auth_token.get_secret_value(),
                            settings.public_url)  # fmt: skip
        people = People(venues, send=target.sms, seed=seed)

        def on_sent(msg: SimMessage, channel: str, fid: str, status: int) -> None:
            people.remember(msg, channel, fid, status)
            board.feedback += 200 <= status < 300

        sim = Simulator(venues.locations, target, rate=args.rate, seed=seed, channel="mix",
                        burst_every_s=args.burst_every, on_sent=on_sent)  # fmt: skip
        events_ready = asyncio.Event()
        tail = asyncio.create_task(tail_events(settings, board, people, events_ready))
        await asyncio.wait([tail, asyncio.create_task(events_ready.wait())], timeout=30,
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if not events_ready.is_set():
            why = repr(tail.exception()) if tail.done() else "timed out"
            tail.cancel()
            print(f"pronto demo: could not follow alerts.events ({why})", flush=True)
            return 1
        print(
            f"console: {url}/console   login: {board.login}   (Ctrl-C stops the demo)", flush=True
        )
        code = await _watch(args, session, url, sim, board, stop, worker)
        stop.set()
        await people.close()
        if args.duration is not None:
            board.scores = await settle_scores(session, url) or board.scores
        tail.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tail
    rate = sim.stats.summary()["rate"]
    if args.record:
        record_frame(board, rate, args.record)
        print(f"final frame saved to {args.record}", flush=True)
    if args.duration is not None:
        print(json.dumps({**board.summary(), "simulator": sim.stats.summary(),
                          "replies": people.replies, "reply_errors": people.reply_errors}),
              flush=True)  # fmt: skip
    return code


async def _watch(args: argparse.Namespace, session: aiohttp.ClientSession, url: str,
                 sim: Simulator, board: Board, stop: asyncio.Event, worker: WorkerProcess) -> int:  # fmt: skip
    """Run the simulator; refresh the scores each second and show them, live or in lines."""
    sim_task = asyncio.create_task(sim.run(args.duration, None, stop))
    live = Live(board.render(0.0), refresh_per_second=2) if args.duration is None else None
    code = 0
    last_line = time.monotonic()
    with live if live is not None else contextlib.nullcontext():
        while not sim_task.done():
            if not worker.alive():
                print(f"pronto demo: the worker died:\n{worker.tail()}", flush=True)
                stop.set()
                code = 1
                break
            board.scores = await read_scores(session, url) or board.scores
            if live is not None:
                live.update(board.render(sim.stats.rate()))
            elif time.monotonic() - last_line >= PLAIN_EVERY_S:
                last_line = time.monotonic()
                print(board.plain_line(sim.stats.rate()), flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(sim_task), 1.0)
    await sim_task
    return code
