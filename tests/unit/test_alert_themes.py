"""Themes where people look, the pure parts: the alert's themes in the desk, the page, the
supervisor's correction, the manager's trend notice (the counts: `test_theme_counts.py`)."""

from __future__ import annotations

import time

from pipeline.alerts import desk, theme_desk
from pipeline.alerts import lifecycle as lc
from pipeline.alerts.messages import SMS_LIMIT, grouped_page_text, page_text, segments
from pipeline.config import Supervisor
from tests.unit.test_desk import BUS, VENUES, DictBook, scored

BUS_THEMES = ("cleanliness", "crowding", "price", "punctuality", "safety", "staff", "temperature")


def test_the_page_names_the_theme_in_the_supervisors_language() -> None:
    book, now = DictBook(), time.time()
    out = desk.on_feedback(book, BUS, scored("f1", 2, "el bus llego tarde"), now, ("punctuality",))
    (page,) = out.messages
    assert "tema: puntualidad" in page["body"]
    assert out.events[0]["event"] == "opened" and out.events[0]["alert"]["themes"] == [
        "punctuality"
    ]
    alert = next(iter(book.alerts.values()), None) or out.alerts[page["ref"]]
    assert alert is not None
    en = page_text(alert, BUS, Supervisor("Tom", "+1", lang="en"), now + 30)
    assert "about: punctuality" in en


def test_a_long_complaint_keeps_the_theme_and_one_segment() -> None:
    book, now = DictBook(), time.time()
    text = "el conductor ha frenado de golpe varias veces y " * 6
    out = desk.on_feedback(book, BUS, scored("f1", 1, text), now, ("safety", "staff"))
    body = out.messages[0]["body"]
    assert "tema: seguridad, personal" in body and segments(body) == (1, "gsm7")
    assert len(body) <= SMS_LIMIT


def test_a_message_joining_an_open_alert_adds_its_themes() -> None:
    book, now = DictBook(), time.time()
    book.apply(desk.on_feedback(book, BUS, scored("f1", 2, "sucio"), now, ("cleanliness",)))
    out = desk.on_feedback(
        book, BUS, scored("f2", None, "y hace calor", p_neg=0.95), now + 5, ("temperature",)
    )
    book.apply(out)
    (alert,) = book.alerts.values()
    assert alert.themes == ("cleanliness", "temperature")
    assert out.events[0]["alert"]["themes"] == ["cleanliness", "temperature"]


def test_a_supervisor_changes_the_themes_once_and_the_event_says_who_and_what() -> None:
    book, now = DictBook(), time.time()
    book.apply(desk.on_feedback(book, BUS, scored("f1", 2, "el 42 va a tope"), now, ("staff",)))
    ref = next(iter(book.alerts))
    cmd = {"type": "set_themes", "ref": ref, "themes": ["crowding", "made-up"], "by": "Ana"}
    out = theme_desk.on_set_themes(book, BUS, cmd, now + 10, BUS_THEMES)
    book.apply(out)
    (ev,) = out.events
    assert ev["event"] == "themes_corrected" and ev["ref"] == ref and ev["location_id"] == "bus-42"
    assert (ev["before"], ev["after"], ev["by"]) == (["staff"], ["crowding"], "Ana")
    assert ev["text"] == "el 42 va a tope" and ev["lang"] == "es"  # what the tagger learns
    assert book.alerts[ref].themes == ("crowding",)
    assert theme_desk.on_set_themes(book, BUS, cmd, now + 11, BUS_THEMES).events == []  # again
    gone = {**cmd, "ref": "0000"}
    assert theme_desk.on_set_themes(book, BUS, gone, now, BUS_THEMES).events == []


def test_the_managers_trend_notice_names_the_top_negative_theme() -> None:
    """The score stage counts the themes: its drift command, and each scored record for a
    falling CSAT, carry the location's top negative theme of the last hour."""
    resto = VENUES.by_id("resto-sol")
    assert resto is not None
    book, now = DictBook(), time.time()
    out = desk.on_drift(book, resto, "satisfaction fell from 0.80 to 0.40", now, ("food",))
    (notice,) = out.messages
    assert notice["kind"] == "manager" and "mas quejas: comida" in notice["body"]
    assert out.events[0]["alert"]["themes"] == ["food"]
    quiet = desk.on_drift(DictBook(), resto, "satisfaction fell", now)
    assert "quejas" not in quiet.messages[0]["body"]  # no theme known: no theme named
    window = {"1h": {"csat": 0.3, "csat_n": resto.trend_min_answers + 5}}
    sf = scored("f1", None, "ok", scores=window)
    sf.feedback["location_id"], sf.top_theme = "resto-sol", "wait"
    (falling,) = desk.on_feedback(DictBook(), resto, sf, now).messages
    assert falling["kind"] == "manager" and "mas quejas: espera" in falling["body"]


def test_a_grouped_page_names_the_themes_of_the_burst() -> None:
    a, _ = lc.open_alert("1111", "bus-42", "c1", "f1", "low_score", False, 0.0, text="tarde",
                         themes=("punctuality",))  # fmt: skip
    b, _ = lc.open_alert("2222", "bus-42", "c2", "f2", "low_score", False, 5.0, text="lleno",
                         themes=("crowding", "punctuality"))  # fmt: skip
    body = grouped_page_text([a, b], BUS, Supervisor("Ana", "+3"), 40.0)
    assert body.startswith("2 quejas en Linea 42 (hace 40 s, tema: bus lleno, puntualidad):")
    assert segments(body)[0] == 1


def test_a_conflict_keeps_its_themes_through_the_question_and_the_answer() -> None:
    from pipeline.ingest.triage import annotate
    from tests.unit.test_conflict import HAPPY, FakeModel, fb, sf_of

    book, now = DictBook(), time.time()
    first = annotate(BUS, fb("2, genial el conductor", 2), FakeModel(HAPPY))
    book.apply(desk.on_feedback(book, BUS, sf_of(first), now, ("staff",)))
    (alert,) = book.alerts.values()
    assert alert.state == lc.State.CONFIRMING and alert.themes == ("staff",)
    answer = annotate(BUS, fb("2, fatal y tarde", 2, fid="f2"), FakeModel({"negative": 0.9}))
    out = desk.on_feedback(book, BUS, sf_of(answer, 0.95), now + 30, ("punctuality",))
    (page,) = out.messages
    assert "tema: puntualidad, personal" in page["body"]  # sorted by id
