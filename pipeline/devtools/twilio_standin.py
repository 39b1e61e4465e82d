"""A stand-in for Twilio's REST API with Twilio's round trip, for the benchmark's latency runs.

Prism (`twilio_mock.py`) checks the contract and answers at once; the real API takes a few
hundred milliseconds per call, and that wait is what a notify stage has to hide. This server
answers the calls the worker makes with the official `twilio` library, each after
`latency_ms`, and all of them at once (an aiohttp handler sleeps without blocking the others):

- `POST /2010-04-01/Accounts/{sid}/Messages.json` (form-encoded `To`, `From`, `Body`,
  `StatusCallback`): 201 and a Message resource with a fresh `SM...` sid;
- `GET .../Messages.json?To=...&DateSent>=...&PageSize=...`: the messages it was sent, newest
  first, as one page (what `already_sent` reads after a restart);
- `GET .../Messages/{sid}.json`: one of them.

A call without Basic auth for the path's account gets 401; a message without `To`, `Body` or
`From` gets 400, with Twilio's error codes. It records every call (`GET /__recorded`, as the
mock's recorder does) with the wall clock of its arrival, before the wait; `GET /__stats`
counts them and the most that were in flight at once. It runs as a process of its own, so
the benchmark's load generator cannot delay its clock:

    standin = TwilioStandin(Path("work/standin"), latency_ms=300)
    base = standin.start()       # set PRONTO_TWILIO_API_BASE=base
    standin.recorded(since=t0)   # [{"method": "POST", "wall": ..., "form": {...}, ...}]
    standin.stop()
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import web

from pipeline.devtools.twilio_mock import RECORDED_PATH, free_port

logger = logging.getLogger(__name__)

DEFAULT_LATENCY_MS = 300.0
STATS_PATH = "/__stats"
API = "/2010-04-01/Accounts/{account}"


@dataclass
class Ledger:
    """What the stand-in was asked and what it sent; plain data, no I/O."""

    latency_s: float
    calls: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    posts: int = 0  # message creates
    in_flight: int = 0
    max_in_flight: int = 0


_LEDGER: web.AppKey[Ledger] = web.AppKey("ledger", Ledger)


def twilio_error(status: int, code: int, message: str) -> web.Response:
    """An error body as Twilio writes it (the library reads `code` and `message`)."""
    body = {"code": code, "message": message, "status": status,
            "more_info": f"https://www.twilio.com/docs/errors/{code}"}  # fmt: skip
    return web.json_response(body, status=status)


def basic_user(header: str) -> str:
    """The user name in a Basic `Authorization` header with a password ("" otherwise: the
    stand-in cannot check the token, only that there is one).

    >>> basic_user("Basic " + base64.b64encode(b"AC1:secret").decode())
    'AC1'
    >>> basic_user(""), basic_user("Bearer x"), basic_user("Basic !!")
    ('', '', '')
    >>> basic_user("Basic " + base64.b64encode(b"AC1:").decode())
    ''
    """
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except ValueError:
        return ""
    return user if password else ""


def message_resource(account: str, form: dict[str, str], now: float) -> dict[str, Any]:
    """The Message JSON Twilio returns for a create call made with `form`.

    >>> m = message_resource("AC1", {"To": "+34600", "From": "+34910", "Body": "hi"}, 0.0)
    >>> m["sid"][:2], len(m["sid"]), m["status"], m["date_created"]
    ('SM', 34, 'queued', 'Thu, 01 Jan 1970 00:00:00 +0000')
    """
    sid = "SM" + uuid.uuid4().hex
    stamp = format_datetime(datetime.fromtimestamp(now, UTC))
    base = API.format(account=account)
    return {
        "account_sid": account, "api_version": "2010-04-01", "body": form.get("Body", ""),
        "date_created": stamp, "date_sent": stamp, "date_updated": stamp,
        "direction": "outbound-api", "error_code": None, "error_message": None,
        "from": form.get("From", ""), "messaging_service_sid": form.get("MessagingServiceSid"),
        "num_media": "0", "num_segments": "1", "price": None, "price_unit": "USD", "sid": sid,
        "status": "queued", "to": form.get("To", ""),
        "subresource_uris": {"media": f"{base}/Messages/{sid}/Media.json"},
        "uri": f"{base}/Messages/{sid}.json", "sent_at": now,
    }  # fmt: skip


def parse_after(value: str) -> float:
    """`DateSent>` as epoch seconds (ISO 8601 as the library writes it, or a date); 0 if none.

    >>> parse_after("2026-01-02T03:04:05Z"), parse_after("1970-01-02"), parse_after("")
    (1767323045.0, 86400.0, 0.0)
    """
    if not value:
        return 0.0
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def list_page(
    messages: list[dict[str, Any]], account: str, query: dict[str, str]
) -> dict[str, Any]:
    """One page of the message log, newest first, filtered on `To` and `DateSent>`.

    >>> log = [{"to": "+1", "sent_at": 5.0, "sid": "SMa"}, {"to": "+2", "sent_at": 6.0, "sid": "SMb"},
    ...        {"to": "+1", "sent_at": 7.0, "sid": "SMc"}]
    >>> page = list_page(log, "AC1", {"To": "+1", "PageSize": "1"})
    >>> [m["sid"] for m in page["messages"]], page["page_size"], page["next_page_uri"]
    (['SMc'], 1, None)
    """
    to = query.get("To")
    after = parse_after(query.get("DateSent>", ""))
    size = max(1, min(1000, int(query.get("PageSize", "50") or 50)))
    hits = [m for m in reversed(messages) if (not to or m["to"] == to) and m["sent_at"] >= after]
    base = API.format(account=account)
    first = f"{base}/Messages.json?" + urlencode({**query, "Page": "0"})
    return {
        "messages": [{k: v for k, v in m.items() if k != "sent_at"} for m in hits[:size]],
        "end": max(0, min(size, len(hits)) - 1), "first_page_uri": first, "next_page_uri": None,
        "page": 0, "page_size": size, "previous_page_uri": None, "start": 0,
        "uri": f"{base}/Messages.json?" + urlencode(query),
    }  # fmt: skip


async def _api(request: web.Request) -> web.StreamResponse:
    arrived_mono, arrived_wall = time.monotonic(), time.time()
    ledger = request.app[_LEDGER]
    ledger.in_flight += 1
    ledger.max_in_flight = max(ledger.max_in_flight, ledger.in_flight)
    record: dict[str, Any] = {"monotonic": arrived_mono, "wall": arrived_wall,
                              "method": request.method, "path": request.path,
                              "query": dict(request.query), "form": {}, "status": None}  # fmt: skip
    ledger.calls.append(record)
    ledger.posts += request.method == "POST" and request.path.endswith("/Messages.json")
    try:
        if request.content_type == "application/x-www-form-urlencoded":
            record["form"] = dict(parse_qsl(await request.text(), keep_blank_values=True))
        await asyncio.sleep(ledger.latency_s)  # Twilio's round trip: the call waits, not the server
        answer = _answer(request, ledger, record["form"])
        record["status"] = answer.status
        return answer
    finally:
        ledger.in_flight -= 1


def _answer(request: web.Request, ledger: Ledger, form: dict[str, str]) -> web.Response:
    account = request.match_info["account"]
    if basic_user(request.headers.get("Authorization", "")) != account:
        return twilio_error(401, 20003, "Authenticate")
    tail = request.match_info["tail"]
    if tail == "Messages.json" and request.method == "POST":
        if not form.get("To"):
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not form.get("Body") and not form.get("MediaUrl"):
            return twilio_error(400, 21602, "Message body is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        msg = message_resource(account, form, time.time())
        ledger.messages.append(msg)
        return web.json_response({k: v for k, v in msg.items() if k != "sent_at"}, status=201)
    if tail == "Messages.json" and request.method == "GET":
        return web.json_response(list_page(ledger.messages, account, dict(request.query)))
    if tail.startswith("Messages/") and tail.endswith(".json") and request.method == "GET":
        sid = tail[len("Messages/") : -len(".json")]
        for m in ledger.messages:
            if m["sid"] == sid:
                return web.json_response({k: v for k, v in m.items() if k != "sent_at"})
    return twilio_error(404, 20404, f"The requested resource {request.path} was not found")


async def _recorded(request: web.Request) -> web.Response:
    ledger = request.app[_LEDGER]
    if request.method == "DELETE":
        ledger.calls.clear()
        return web.json_response({"cleared": True})
    since = float(request.query.get("since", "0") or 0)
    return web.json_response([c for c in ledger.calls if c["wall"] >= since])


async def _stats(request: web.Request) -> web.Response:
    ledger = request.app[_LEDGER]
    return web.json_response({
        "calls": len(ledger.calls), "posts": ledger.posts, "in_flight": ledger.in_flight,
        "max_in_flight": ledger.max_in_flight, "latency_ms": round(ledger.latency_s * 1000, 3),
        "last_wall": ledger.calls[-1]["wall"] if ledger.calls else None,
    })  # fmt: skip


def make_app(latency_ms: float = DEFAULT_LATENCY_MS) -> web.Application:
    """The stand-in's aiohttp app; every API call takes `latency_ms` before its answer."""
    app = web.Application()
    app[_LEDGER] = Ledger(max(0.0, latency_ms) / 1000.0)
    app.router.add_route("GET", RECORDED_PATH, _recorded)
    app.router.add_route("DELETE", RECORDED_PATH, _recorded)
    app.router.add_route("GET", STATS_PATH, _stats)
    app.router.add_route("*", API.format(account="{account}") + "/{tail:.+}", _api)
    return app


class TwilioStandin:
    """The stand-in as a subprocess on a free port of 127.0.0.1; its log goes to `home`."""

    def __init__(self, home: Path, latency_ms: float = DEFAULT_LATENCY_MS) -> None:
        self.home = Path(home)
        self.latency_ms = latency_ms
        self.base_url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> str:
        """Start it and wait until it answers; return its base URL."""
        if self._proc is not None:
            return self.base_url
        self.home.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self._log = open(self.home / "standin.log", "ab")  # noqa: SIM115 - closed in stop()
        argv = [sys.executable, "-m", __name__, "--port", str(port),
                "--latency-ms", str(self.latency_ms)]  # fmt: skip
        self._proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"the Twilio stand-in exited; see {self.home}/standin.log")
            try:
                self.stats()
                return self.base_url
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the Twilio stand-in did not answer in {timeout_s:.0f} s")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base_url + path, timeout=30) as r:
            return json.load(r)

    def stats(self) -> dict[str, Any]:
        """Calls so far, calls in flight now and at most, and the wall clock of the last."""
        out: dict[str, Any] = self._get(STATS_PATH)
        return out

    def recorded(self, since: float = 0.0) -> list[dict[str, Any]]:
        """Every call that arrived at or after `since` (wall clock), oldest first."""
        out: list[dict[str, Any]] = self._get(f"{RECORDED_PATH}?since={since!r}")
        return out

    def clear(self) -> None:
        """Forget the recorded calls (not the message log)."""
        req = urllib.request.Request(self.base_url + RECORDED_PATH, method="DELETE")
        with urllib.request.urlopen(req, timeout=5):
            pass

    def stop(self) -> None:
        """Stop the process; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
            except ProcessLookupError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> TwilioStandin:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the stand-in in the foreground."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=DEFAULT_LATENCY_MS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    web.run_app(make_app(args.latency_ms), host=args.host, port=args.port, print=None,
                access_log=None, backlog=1024)  # fmt: skip


if __name__ == "__main__":
    main()
