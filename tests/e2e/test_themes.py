"""Issue 16, themes where people look, end to end: a real broker, a real worker (its three
processes), the real tagger. One worker for the whole story, to keep the suite short."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.http import request
from tests.support.kafka import Worker, read_json, read_topic

pytestmark = pytest.mark.kafka

LUCIA = {"Authorization": "Bearer demo-resto-lucia"}  # a supervisor at resto-sol (demo file)
# A venue phrase the tagger does not know before the correction (the customer's own words).
PHRASE = "las avispas de la terraza"


def complain(w: Worker, phone: str, comment: str, score: int = 1) -> None:
    status, body = request("POST", f"{w.url}/api/v1/feedback",
                           {"location_id": "resto-sol", "score": score, "comment": comment,
                            "phone": phone})  # fmt: skip
    assert status == 201, body


def until(what: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError("timed out")


def opened(w: Worker, bootstrap: str, feedback_text: str) -> dict[str, Any] | None:
    topic = w.env["PRONTO_TOPIC_PREFIX"] + "alerts.events"
    for ev in read_json(bootstrap, topic, timeout_s=3.0):
        alert: Any = ev.get("alert") or {}
        if ev.get("event") == "opened" and feedback_text in str(alert.get("text", "")):
            return dict(alert)
    return None


def scored_themes(w: Worker, bootstrap: str, words: str) -> list[Any]:
    """The themes of each scored record (the score stage tagged it) whose text has `words`."""
    topic = w.env["PRONTO_TOPIC_PREFIX"] + "feedback.scored"
    return [sf.get("themes") for sf in read_json(bootstrap, topic, timeout_s=3.0)
            if words in str((sf.get("feedback") or {}).get("text"))]  # type: ignore[union-attr]  # fmt: skip


def test_the_page_names_the_theme_counts_are_served_and_a_correction_is_learned_at_once(
    make_worker: Any, bootstrap: str
) -> None:
    w: Worker = make_worker()
    complain(w, "+34611000001", "La sopa llegó fría y la carne cruda")
    outbox = w.env["PRONTO_TOPIC_PREFIX"] + "pages.outbox"

    def page() -> list[dict[str, Any]]:
        return [m for m in read_json(bootstrap, outbox, timeout_s=3.0)
                if m.get("kind") == "page" and "sopa" in str(m.get("body"))]  # fmt: skip

    (first,) = until(page)
    assert "tema: comida" in str(first["body"]), first

    def counts() -> Any:
        status, body = request("GET", f"{w.url}/api/v1/themes")
        assert status == 200, body
        loc = json.loads(body)["locations"].get("resto-sol") or {}
        return (loc.get("windows", {}).get("1h") or {}).get("food")

    food = until(counts)  # counted by the score stage, served by it through the web process
    assert food["negative"] == 1 and food["n"] == 1, food
    (themes,) = until(lambda: scored_themes(w, bootstrap, "sopa"))
    assert themes == ["food"], themes  # the scored record carries them: the desk tags no more

    # The tagger does not know the venue's phrase; a supervisor says what it is about.
    complain(w, "+34611000002", f"Otra vez {PHRASE}, imposible comer")
    alert = until(lambda: opened(w, bootstrap, "avispas"))
    assert "cleanliness" not in alert["themes"], alert
    status, body = request("POST", f"{w.url}/api/v1/alerts/{alert['ref']}/themes",
                           {"themes": ["cleanliness"]}, headers=LUCIA)  # fmt: skip
    assert status == 202, body
    events = w.env["PRONTO_TOPIC_PREFIX"] + "alerts.events"
    fixed = until(lambda: [e for e in read_json(bootstrap, events, timeout_s=3.0)
                           if e.get("event") == "themes_corrected"])  # fmt: skip
    assert fixed[0]["after"] == ["cleanliness"] and fixed[0]["by"] == "Lucía"
    # The score stage learned it too, and keeps it in a table of its own.
    vocab = w.env["PRONTO_APP_ID"] + "-score-score-theme-vocab-changelog"
    assert read_topic(bootstrap, vocab, timeout_s=20.0), "the score stage learned nothing"
    # The next message with those words, from another customer, gets the corrected theme
    # (the tagger generalises a phrase to other wordings after two corrections: MIN_SUPPORT).
    status, _ = request("POST", f"{w.url}/api/v1/feedback",
                        {"location_id": "resto-sol", "score": 2, "phone": "+34611000003",
                         "comment": f"Otra vez {PHRASE}, imposible comer"})  # fmt: skip
    assert status == 201
    again = until(lambda: [e["alert"] for e in read_json(bootstrap, events, timeout_s=3.0)
                           if e.get("event") == "opened" and e["alert"]["ref"] != alert["ref"]
                           and "avispas" in e["alert"]["text"]])  # fmt: skip
    assert again[0]["themes"] == ["cleanliness"], again
    # The score stage tagged (and counted) it with the corrected theme as well.
    assert until(lambda: len(scored_themes(w, bootstrap, "avispas")) == 2)
    assert scored_themes(w, bootstrap, "avispas")[-1] == ["cleanliness"]

    def cleanliness() -> Any:
        status, body = request("GET", f"{w.url}/api/v1/themes")
        assert status == 200, body
        loc = json.loads(body)["locations"].get("resto-sol") or {}
        return (loc.get("windows", {}).get("1h") or {}).get("cleanliness")

    assert until(cleanliness)["negative"] == 1
