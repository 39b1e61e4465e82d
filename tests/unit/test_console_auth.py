"""The console's login, sessions, CSRF, bearer tokens, alert actions and event stream.

A small aiohttp app with `console.register` on it, a fake ctx, and a fake ingest whose
`command` records its calls; the alert index is the real `TopicMirror` fold, fed by hand.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pipeline.alert_index import apply_alert_event
from pipeline.config import parse_venues
from pipeline.ingest.publish import KafkaUnavailable
from pipeline.mirror import TopicMirror
from pipeline.settings import SecretStr
from pipeline.web import console
from pipeline.web.auth import COOKIE, SESSION_TTL_S

VENUES = parse_venues({"locations": [
    {"id": "bus-42", "name": "Línea 42", "scale": "nps10", "supervisors": [
        {"name": "Ana", "phone": "+34600000001", "token": "ana-token"},
        {"name": "Luis", "phone": "+34600000002", "token": "luis-token"}],
     "escalation": {"chain": ["Ana", "Luis"], "manager": "Luis"}},
    {"id": "hotel", "name": "Hotel", "supervisors": [
        {"name": "Eva", "phone": "+34600000003", "token": "eva-token"},
        {"name": "Pau", "phone": "+34600000004"}],
     "escalation": {"chain": ["Eva", "Pau"], "manager": "Pau"}},
]})  # fmt: skip
NOW = 1_718_000_000.0
ACTIONS = {"ack": "ack", "resolve": "resolve", "not-complaint": "not_complaint",
           "was-complaint": "was_complaint"}  # fmt: skip


@dataclass
class FakeIngest:
    alerts: TopicMirror = field(
        default_factory=lambda: TopicMirror("alerts.events", "", apply_alert_event)
    )
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: bool = False

    async def command(self, location_id: str, doc: dict[str, Any]) -> None:
        if self.fail:
            raise KafkaUnavailable("down")
        self.calls.append((location_id, doc))


def alert_event(
    ref: str, location_id: str = "bus-42", state: str = "paged", **kw: Any
) -> dict[str, Any]:
    alert = {"ref": ref, "location_id": location_id, "state": state, "reason": "low_score",
             "urgent": False, "text": "cold soup", "score": 3, "scale": "nps10",
             "p_negative": 0.9, "opened_at": NOW - 30, "acked_by": "", "level": 0, "lang": "es",
             "customer_ref": "c-secret", "contact": "enc-secret", "history": [[NOW - 30, "opened", ""]],
             **kw}  # fmt: skip
    return {"event": state, "alert": alert}


@pytest.fixture
def ingest() -> FakeIngest:
    fake = FakeIngest()
    fake.alerts.fold("bus-42", alert_event("1111"))
    fake.alerts.fold("bus-42", alert_event("2222", state="resolved"))
    fake.alerts.fold("hotel", alert_event("3333", location_id="hotel"))
    return fake


@pytest.fixture
def clock() -> list[float]:
    return [NOW]


@pytest.fixture
async def client(
    ingest: FakeIngest, clock: list[float]
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    ctx = SimpleNamespace(settings=SimpleNamespace(secret_key=SecretStr("test-key")), venues=VENUES)
    app = web.Application()
    console.register(ctx, app.router, ingest, heartbeat_s=0.05, clock=lambda: clock[0], app=app)  # type: ignore[arg-type]
    async with TestClient(TestServer(app)) as c:
        yield c


async def csrf_of(page: Any) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert m, "the page has no CSRF field"
    return m.group(1)


async def login(client: TestClient[Any, Any], name: str = "Ana", token: str = "ana-token") -> str:
    """Log in through the form; return the session's CSRF token (from the console page)."""
    csrf = await csrf_of(await client.get("/login"))
    r = await client.post("/login", data={"name": name, "token": token, "csrf": csrf},
                          allow_redirects=False)  # fmt: skip
    assert r.status == 303 and r.headers["Location"] == "/console"
    page = await client.get("/console", allow_redirects=False)
    assert page.status == 200
    return await csrf_of(page)


API_ROUTES = [("GET", "/api/v1/alerts"), ("GET", "/api/v1/alerts/stream")] + [
    ("POST", f"/api/v1/alerts/1111/{verb}") for verb in ACTIONS
]


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
async def test_api_without_login_is_401(client: TestClient[Any, Any], ingest: FakeIngest,
                                        method: str, path: str) -> None:  # fmt: skip
    r = await client.request(method, path, headers={"Accept": "application/json"})
    assert r.status == 401
    assert "error" in await r.json()
    assert not ingest.calls


@pytest.mark.parametrize(("method", "path"), [("GET", "/console"), ("POST", "/logout")])
async def test_pages_without_login_redirect_to_login(client: TestClient[Any, Any],
                                                     method: str, path: str) -> None:  # fmt: skip
    r = await client.request(method, path, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/login"


async def test_a_wrong_bearer_token_is_401(client: TestClient[Any, Any]) -> None:
    for header in ("Bearer nope", "Basic YW5hOmFuYS10b2tlbg==", "Bearer "):
        r = await client.get("/api/v1/alerts", headers={"Authorization": header})
        assert r.status == 401


async def test_login_sets_a_strict_httponly_cookie_and_opens_the_console(
    client: TestClient[Any, Any],
) -> None:
    csrf = await csrf_of(await client.get("/login"))
    r = await client.post("/login", data={"name": "ana", "token": "ana-token", "csrf": csrf},
                          allow_redirects=False)  # fmt: skip
    assert r.status == 303
    cookie = r.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and not cookie["secure"]
    page = await client.get("/console")
    html = await page.text()
    assert page.headers["Cache-Control"] == "no-store"
    assert 'id="alert-1111"' in html and "cold soup" in html
    assert 'id="alert-2222"' not in html  # resolved
    assert 'id="alert-3333"' not in html  # another location's
    assert html.count('name="csrf"') >= 4  # three actions and the logout form


async def test_the_cookie_is_secure_behind_an_https_proxy(client: TestClient[Any, Any]) -> None:
    r = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert r.cookies[COOKIE]["secure"]


@pytest.mark.parametrize(
    ("name", "token"), [("Ana", "luis-token"), ("Ana", ""), ("Pau", ""), ("Nobody", "x")]
)
async def test_login_with_a_wrong_token_fails(
    client: TestClient[Any, Any], name: str, token: str
) -> None:
    csrf = await csrf_of(await client.get("/login"))
    r = await client.post("/login", data={"name": name, "token": token, "csrf": csrf},
                          allow_redirects=False)  # fmt: skip
    assert r.status == 401
    assert (await client.get("/console", allow_redirects=False)).status == 303


async def test_repeated_failures_are_throttled(client: TestClient[Any, Any]) -> None:
    csrf = await csrf_of(await client.get("/login"))
    statuses = []
    for _ in range(12):
        r = await client.post("/login", data={"name": "Ana", "token": "guess", "csrf": csrf})
        statuses.append(r.status)
    assert statuses[0] == 401 and statuses[-1] == 429
    r = await client.post("/login", data={"name": "Ana", "token": "ana-token", "csrf": csrf})
    assert r.status == 429  # even the right token waits


async def test_login_post_without_csrf_is_403(client: TestClient[Any, Any]) -> None:
    await client.get("/login")
    r = await client.post("/login", data={"name": "Ana", "token": "ana-token"},
                          allow_redirects=False)  # fmt: skip
    assert r.status == 403


async def test_action_post_without_csrf_is_403(
    client: TestClient[Any, Any], ingest: FakeIngest
) -> None:
    await login(client)
    r1 = await client.post("/api/v1/alerts/1111/ack")
    r2 = await client.post("/api/v1/alerts/1111/ack", headers={"X-CSRF-Token": "forged"})
    r3 = await client.post("/api/v1/alerts/1111/ack", data={"csrf": "forged"})
    assert (r1.status, r2.status, r3.status) == (403, 403, 403)
    assert not ingest.calls


async def test_logout_needs_csrf_and_ends_the_session(client: TestClient[Any, Any]) -> None:
    csrf = await login(client)
    assert (await client.post("/logout", allow_redirects=False)).status == 403
    r = await client.post("/logout", data={"csrf": csrf}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/login"
    assert (await client.get("/console", allow_redirects=False)).status == 303


@pytest.mark.parametrize("verb", list(ACTIONS))
async def test_action_with_csrf_sends_the_command(client: TestClient[Any, Any], ingest: FakeIngest,
                                                  verb: str) -> None:  # fmt: skip
    csrf = await login(client)
    r = await client.post(f"/api/v1/alerts/1111/{verb}",
                          headers={"X-CSRF-Token": csrf, "Accept": "application/json"})  # fmt: skip
    assert r.status == 202
    assert (await r.json())["ref"] == "1111"
    assert ingest.calls == [
        ("bus-42", {"type": ACTIONS[verb], "ref": "1111", "by": "Ana", "channel": "console"})
    ]


async def test_a_plain_form_post_redirects_back_to_the_console(
    client: TestClient[Any, Any], ingest: FakeIngest
) -> None:
    csrf = await login(client, "Luis", "luis-token")
    r = await client.post("/api/v1/alerts/1111/resolve", data={"csrf": csrf},
                          headers={"Accept": "text/html"}, allow_redirects=False)  # fmt: skip
    assert r.status == 303 and r.headers["Location"] == "/console"
    assert ingest.calls == [("bus-42", {"type": "resolve", "ref": "1111", "by": "Luis",
                                        "channel": "console"})]  # fmt: skip


async def test_unknown_or_foreign_alerts_are_404(
    client: TestClient[Any, Any], ingest: FakeIngest
) -> None:
    csrf = await login(client)
    for ref in ("9999", "3333"):  # 3333 belongs to the hotel, where Ana is nobody
        r = await client.post(f"/api/v1/alerts/{ref}/ack", headers={"X-CSRF-Token": csrf})
        assert r.status == 404
    assert not ingest.calls


async def test_kafka_down_is_503(client: TestClient[Any, Any], ingest: FakeIngest) -> None:
    csrf = await login(client)
    ingest.fail = True
    r = await client.post("/api/v1/alerts/1111/ack", headers={"X-CSRF-Token": csrf})
    assert r.status == 503


async def test_bearer_token_needs_no_csrf(client: TestClient[Any, Any], ingest: FakeIngest) -> None:
    auth = {"Authorization": "Bearer eva-token"}
    listed = await (await client.get("/api/v1/alerts", headers=auth)).json()
    assert [a["ref"] for a in listed] == ["3333"]
    r = await client.post("/api/v1/alerts/3333/ack", headers=auth)
    assert r.status == 202
    assert ingest.calls == [
        ("hotel", {"type": "ack", "ref": "3333", "by": "Eva", "channel": "console"})
    ]


async def test_alert_list_open_by_default_all_on_request_and_no_secrets(
    client: TestClient[Any, Any],
) -> None:
    auth = {"Authorization": "Bearer ana-token"}
    open_ = await (await client.get("/api/v1/alerts", headers=auth)).json()
    every = await (await client.get("/api/v1/alerts?all=1", headers=auth)).json()
    assert [a["ref"] for a in open_] == ["1111"]
    assert sorted(a["ref"] for a in every) == ["1111", "2222"]
    for a in every:
        assert "customer_ref" not in a and "contact" not in a
        assert a["location"] == "Línea 42"


async def test_a_tampered_cookie_is_no_login(client: TestClient[Any, Any]) -> None:
    await login(client)
    (morsel,) = [m for m in client.session.cookie_jar if m.key == COOKIE]
    payload, _, mac = morsel.value.partition(".")
    jar = client.session.cookie_jar
    jar.clear()
    jar.update_cookies({COOKIE: f"{payload}.{mac[::-1]}"})
    assert (await client.get("/api/v1/alerts")).status == 401
    jar.clear()
    jar.update_cookies({COOKIE: morsel.value})  # the same jar path, untampered, still works
    assert (await client.get("/api/v1/alerts")).status == 200


async def test_a_session_expires(client: TestClient[Any, Any], clock: list[float]) -> None:
    await login(client)
    clock[0] += SESSION_TTL_S + 1
    assert (await client.get("/console", allow_redirects=False)).status == 303


async def test_the_stream_delivers_alert_events_and_heartbeats(
    client: TestClient[Any, Any], ingest: FakeIngest
) -> None:
    r = await client.get("/api/v1/alerts/stream", headers={"Authorization": "Bearer ana-token"})
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")

    async def block() -> list[bytes]:
        """The lines of the next event or comment, up to its blank line."""
        lines: list[bytes] = []
        while (line := await asyncio.wait_for(r.content.readline(), 2.0)) != b"\n":
            lines.append(line)
        return lines

    assert b"event: hello\n" in await block()
    assert len(ingest.alerts.listeners) == 1
    ingest.alerts.fold("hotel", alert_event("3333", location_id="hotel", state="acknowledged"))
    ingest.alerts.fold("bus-42", alert_event("1111", state="acknowledged", acked_by="Ana"))
    while (lines := await block()) == [b": heartbeat\n"]:
        pass
    assert b"event: alert\n" in lines  # and only for Ana's venue: the hotel's came first
    (data,) = [line for line in lines if line.startswith(b"data: ")]
    doc = json.loads(data.removeprefix(b"data: "))
    assert doc["event"] == "acknowledged" and doc["alert"]["ref"] == "1111"
    assert doc["alert"]["acked_by"] == "Ana" and "contact" not in doc["alert"]
    while (lines := await block()) != [b": heartbeat\n"]:
        pass
    r.close()
    for _ in range(100):  # the server notices at its next heartbeat
        if not ingest.alerts.listeners:
            break
        await asyncio.sleep(0.02)
    assert ingest.alerts.listeners == []


async def test_a_stopping_server_ends_open_streams(client: TestClient[Any, Any],
                                                   ingest: FakeIngest) -> None:  # fmt: skip
    r = await client.get("/api/v1/alerts/stream", headers={"Authorization": "Bearer ana-token"})
    await asyncio.wait_for(r.content.readuntil(b"event: hello"), 2.0)
    assert ingest.alerts.listeners
    await client.app.shutdown()  # the on_shutdown signal, as the runner sends it
    rest = await asyncio.wait_for(r.content.read(), 2.0)  # ends: the server closed the stream
    assert b"event: alert" not in rest
    assert ingest.alerts.listeners == []


async def test_a_slow_client_is_told_to_resync(
    client: TestClient[Any, Any], ingest: FakeIngest
) -> None:
    r = await client.get("/api/v1/alerts/stream", headers={"Authorization": "Bearer ana-token"})
    await asyncio.wait_for(r.content.readuntil(b"event: hello"), 2.0)
    for i in range(console.QUEUE_MAX + 10):  # all at once, before the stream can write any
        ingest.alerts.fold("bus-42", alert_event("1111", state="paged", level=i))
    seen = await asyncio.wait_for(r.content.readuntil(b"event: resync"), 2.0)
    assert seen.count(b"event: alert") <= console.QUEUE_MAX
    r.close()


async def test_static_files_are_served_and_nothing_else(client: TestClient[Any, Any]) -> None:
    r = await client.get("/static/console.js")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/javascript")
    again = await client.get("/static/console.js", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status == 304
    for bad in ("/static/nope.js", "/static/%2e%2e%2fauth.py", "/static/..%2Fconsole_page.py"):
        assert (await client.get(bad)).status == 404
