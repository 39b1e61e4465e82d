"""Issue 7, in a real browser: the QR form on a phone, and the live supervisor console.

Debian's Chromium driven by Playwright (never a downloaded browser), against a real worker on
the suite's Kafka, with its pages going to the Twilio API mock (Prism). Screenshots go to
`tests/artifacts/` for a person to look at.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.alerts import roster
from pipeline.config import Location, Supervisor, load_venues
from pipeline.kafka_local import LocalKafka, deploy_dir
from tests.support.kafka import ROOT, Worker, read_json, worker_env
from tests.support.twilio import (
    FAKE_ACCOUNT_SID,
    FAKE_AUTH_TOKEN,
    Message,
    sent_messages,
    wait_for_messages,
)

pytestmark = [pytest.mark.kafka, pytest.mark.browser]

CHROMIUM = Path(os.environ.get("PRONTO_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]  # fmt: skip
ARTIFACTS = ROOT / "tests" / "artifacts"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True, "locale": "es-ES",
         "extra_http_headers": {"Accept-Language": "es-ES,es;q=0.9"}}  # fmt: skip
DESKTOP = {"viewport": {"width": 1280, "height": 800}, "locale": "en-GB"}
VENUES = load_venues(deploy_dir() / "pronto.demo.toml")
LOC_ID = "resto-sol"
REF_RE = re.compile(r"^[A-Z2-9]{6}$")  # what `feedback_ref` gives: base32 without I L O U 0 1
PRONTO_FROM = "+34910000099"


def sms_body(m: Message) -> str:
    return str(m["form"].get("Body", ""))


def wait_for(mock: Any, to: str, contains: str = "", timeout_s: float = 30.0) -> list[Message]:
    """The messages to `to` (with `contains` in the body) once the mock has answered them."""
    return wait_for_messages(
        mock, lambda m: m["form"].get("To") == to and contains in sms_body(m), timeout_s
    )


def location() -> Location:
    loc = VENUES.by_id(LOC_ID)
    assert loc is not None
    return loc


def on_shift() -> Supervisor:
    """The supervisor paged first right now: the one a real console user would be."""
    sup, _ = roster.recipient(location(), 0, datetime.now(UTC))
    assert sup is not None and sup.token
    return sup


@pytest.fixture(scope="module")  # the sync API holds an event loop: end it with this module
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright. Missing, the test fails: a skip would look green."""
    if not CHROMIUM.is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        pytest.fail(f"python playwright is not installed: {e}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def worker(
    kafka: LocalKafka, twilio_mock_session: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    """One worker for the module, paging through the Twilio mock; acks never time out here."""
    tmp = tmp_path_factory.mktemp("browser")
    env = worker_env(
        kafka.bootstrap, tmp / "home", PRONTO_TWILIO_API_BASE=twilio_mock_session.base_url,
        PRONTO_TWILIO_ACCOUNT_SID=FAKE_ACCOUNT_SID, PRONTO_TWILIO_AUTH_TOKEN=FAKE_AUTH_TOKEN,
        PRONTO_TWILIO_FROM=PRONTO_FROM, PRONTO_ACK_TIMEOUT_S="120",
    )  # fmt: skip
    w = Worker(env=env, port=int(env["PRONTO_WEB_PORT"]), log=tmp / "worker.log")
    try:
        yield w.start()
    finally:
        w.stop()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


Reply = tuple[int, dict[str, str], bytes]


def request(w: Worker, method: str, path: str, data: bytes | None = None,
            headers: dict[str, str] | None = None) -> Reply:  # fmt: skip
    """One HTTP request that does not follow redirects: (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", w.port, timeout=10)
    try:
        conn.request(method, path, body=data, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def login(page: Any, sup: Supervisor) -> None:
    """Log `sup` in from the console's own login form; return once the console is live."""
    page.goto("/console")
    assert page.url.endswith("/login")
    page.fill("#name", sup.name)
    page.fill("#token", sup.token)
    page.click("button[type=submit]")
    page.wait_for_url("**/console")
    page.wait_for_selector("#live.on", timeout=10_000)


def test_phone_form_to_console_ack_and_resolve_reach_the_customer(
    browser: Any, worker: Worker, twilio_mock_session: Any, artifacts: Path
) -> None:
    mock = twilio_mock_session
    mock.clear()
    loc, sup = location(), on_shift()
    customer_typed, customer = "+34 611 223 344", "+34611223344"
    comment = f"La sopa llegó fría y nadie nos atendió ({int(time.time())})"

    # The supervisor is already watching the console, so the alert must arrive live.
    desk = browser.new_context(**DESKTOP, base_url=worker.url)
    console = desk.new_page()
    login(console, sup)
    console.evaluate("window.__sameDocument = true")  # gone if the page ever reloads

    phone = browser.new_context(**PHONE, base_url=worker.url)
    form = phone.new_page()
    form.goto(f"/f/{LOC_ID}")
    assert form.evaluate("document.documentElement.lang") == "es"
    assert form.is_hidden("#more")  # the optional part waits for a score
    form.tap("label[for=score-1]")
    form.wait_for_selector("#more", state="visible")
    form.fill("#comment", comment)
    form.fill("#phone", customer_typed)
    form.screenshot(path=str(artifacts / "form-phone.png"), full_page=True)
    assert not form.evaluate("document.documentElement.scrollWidth > innerWidth")  # no sideways
    form.tap("button.send")
    form.wait_for_selector("p.ref")
    ref = form.inner_text("p.ref").strip()
    assert REF_RE.match(ref), ref
    assert "¡Gracias!" in form.inner_text("h1")
    form.screenshot(path=str(artifacts / "form-thanks.png"), full_page=True)

    card = console.locator("li.alert", has_text=comment)
    card.wait_for(timeout=15_000)
    alert_ref = card.get_attribute("data-ref")
    assert alert_ref and alert_ref.isdigit()
    assert console.evaluate("window.__sameDocument") is True
    assert "1/5" in card.inner_text() and loc.name in card.inner_text()
    console.screenshot(path=str(artifacts / "console.png"), full_page=True)
    # On shift the console is often a phone in a pocket: it must fit one too.
    pocket = browser.new_context(**PHONE, base_url=worker.url)
    small = pocket.new_page()
    login(small, sup)
    small.locator(f"#alert-{alert_ref}").wait_for()
    assert not small.evaluate("document.documentElement.scrollWidth > innerWidth")
    small.screenshot(path=str(artifacts / "console-phone.png"), full_page=True)
    pocket.close()
    # The on-shift supervisor was paged by SMS with the same alert reference.
    pages = wait_for(mock, sup.phone)
    assert len(pages) == 1 and f"OK {alert_ref}" in sms_body(pages[0])
    assert "tema: comida" in sms_body(pages[0])

    # The card names the themes; a supervisor adds one, and the card shows it live. The
    # venue's top themes of the last hour list it.
    assert "food" in card.locator(".themes-list").inner_text()
    card.locator(".themes-edit summary").click()
    card.locator("input[name=theme][value=noise]").check()
    card.locator("button.btn-themes").click()
    console.locator(f"#alert-{alert_ref} .themes-list", has_text="noise").wait_for(timeout=10_000)
    console.locator(".loc-themes .theme-name", has_text="food").wait_for(timeout=20_000)
    console.screenshot(path=str(artifacts / "console-themes.png"), full_page=True)

    # Ack: the customer is told, by name, who is coming.
    card.locator("button.btn-ack").click()
    console.locator(f"#alert-{alert_ref} .badge", has_text="Acknowledged").wait_for(timeout=10_000)
    console.screenshot(path=str(artifacts / "console-acked.png"), full_page=True)
    told = wait_for(mock, customer)
    assert len(told) == 1, sent_messages(mock)
    assert told[0]["status"] == 201, told[0]  # Prism took it under Twilio's contract
    assert sup.name in sms_body(told[0]), sms_body(told[0])

    # Resolve: the card leaves the list and the customer gets the follow-up question.
    console.locator(f"#alert-{alert_ref} button.btn-resolve").click()
    console.locator(f"#alert-{alert_ref}").wait_for(state="detached", timeout=10_000)
    told = wait_for(mock, customer, contains="1-5")
    assert len(told) == 1, sent_messages(mock)
    assert alert_ref in sms_body(told[0])
    assert console.evaluate("window.__sameDocument") is True
    phone.close()
    desk.close()


def test_kiosk_form_screenshot(browser: Any, worker: Worker, artifacts: Path) -> None:
    tablet = browser.new_context(viewport={"width": 800, "height": 1280}, has_touch=True,
                                 is_mobile=True, base_url=worker.url)  # fmt: skip
    page = tablet.new_page()
    page.goto(f"/f/{LOC_ID}?kiosk=1")
    faces = page.locator(".opts label")
    assert faces.count() == 5
    assert page.locator("#phone").count() == 0  # a kiosk asks nobody for a phone number
    page.screenshot(path=str(artifacts / "form-kiosk.png"), full_page=True)
    tablet.close()


def test_form_works_without_javascript(
    browser: Any, worker: Worker, kafka: LocalKafka, artifacts: Path
) -> None:
    ctx = browser.new_context(**PHONE, java_script_enabled=False, base_url=worker.url)
    page = ctx.new_page()
    page.goto(f"/f/{LOC_ID}")
    assert page.is_visible("#comment")  # nothing is hidden behind a script
    page.click("label[for=score-4]")
    page.screenshot(path=str(artifacts / "form-nojs.png"), full_page=True)
    page.click("button.send")
    page.wait_for_selector("p.ref")
    ref = page.inner_text("p.ref").strip()
    assert REF_RE.match(ref), ref
    page.screenshot(path=str(artifacts / "form-thanks-nojs.png"), full_page=True)
    ctx.close()
    # The reference the customer holds is the stored record's.
    topic = worker.env["PRONTO_TOPIC_PREFIX"] + "feedback.raw"
    deadline = time.monotonic() + 20
    mine: list[dict[str, Any]] = []
    while not mine and time.monotonic() < deadline:
        records = read_json(kafka.bootstrap, topic, timeout_s=5)
        mine = [r for r in records if (meta := r.get("meta")) and isinstance(meta, dict)
                and meta.get("ref") == ref]  # fmt: skip
    assert len(mine) == 1
    assert mine[0]["score"] == 4 and mine[0]["channel"] == "web"


PROTECTED = [("GET", "/api/v1/alerts"), ("GET", "/api/v1/alerts/stream")] + [
    ("POST", f"/api/v1/alerts/1234/{verb}")
    for verb in ("ack", "resolve", "not-complaint", "was-complaint")
]


def test_protected_routes_need_a_login_and_public_ones_do_not(browser: Any, worker: Worker) -> None:
    # The console page sends a browser to the login page.
    status, headers, _ = request(worker, "GET", "/console", headers={"Accept": "text/html"})
    assert status == 303 and headers["location"] == "/login"
    for method, path in PROTECTED:
        json_headers = {"Accept": "application/json", "Content-Type": "application/json"}
        body = b"{}" if method == "POST" else None
        status, headers, data = request(worker, method, path, body, json_headers)
        assert status == 401, (method, path, status)
        assert json.loads(data)["error"] and "bearer" in headers["www-authenticate"].lower()
        # A wrong bearer token is no better than none.
        bad = {**json_headers, "Authorization": "Bearer not-a-token"}
        assert request(worker, method, path, body, bad)[0] == 401, (method, path)
    for verb in ("ack", "resolve", "not-complaint", "was-complaint"):
        # A plain browser form post without a session goes to the login page, not to an action.
        form_headers = {"Accept": "text/html", "Content-Type": "application/x-www-form-urlencoded"}
        status, headers, _ = request(worker, "POST", f"/api/v1/alerts/1234/{verb}",
                                     b"csrf=x", form_headers)  # fmt: skip
        assert status == 303 and headers["location"] == "/login", verb

    # The customer's side stays public: the form, the JSON API, and the login page itself.
    ctx = browser.new_context(base_url=worker.url)
    page = ctx.new_page()
    assert page.goto(f"/f/{LOC_ID}").status == 200
    assert page.goto("/console").url.endswith("/login")
    ctx.close()
    status, _, data = request(worker, "POST", "/api/v1/feedback",
                              json.dumps({"location_id": LOC_ID, "score": 5}).encode(),
                              {"Content-Type": "application/json"})  # fmt: skip
    assert status == 201 and REF_RE.match(json.loads(data)["ref"])
    assert request(worker, "GET", "/login")[0] == 200
