"""Pages, notices and customer messages: language, content, and one SMS segment."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.alerts.lifecycle import Alert, escalate, open_alert, page
from pipeline.alerts.messages import (
    SMS_LIMIT,
    ack_text,
    coming_text,
    escalation_notice,
    follow_up_text,
    grouped_page_text,
    gsm_fold,
    overdue_notice,
    page_text,
    segments,
    septets,
    thanks_text,
    trend_notice,
)
from pipeline.alerts.rules import Decision, Reason
from pipeline.config import Location, Supervisor, load_venues

DEMO = load_venues(Path(__file__).resolve().parents[2] / "deploy" / "pronto.demo.toml")
T0 = 1_700_000_000.0
ANA = Supervisor("Ana", "+34600000001", lang="es", pronoun="she")
TOM = Supervisor("Tom", "+34600000209", lang="en", pronoun="he")
SAM = Supervisor("Sam", "+34600000203", lang="en", pronoun="they")

TYPICAL = [
    "El conductor ha frenado de golpe y casi me caigo, además va con 20 minutos de retraso",
    "La comida llegó fría y el camarero ni se disculpó. ¡Qué vergüenza! 😡😡",
    "Room 214: no hot water since this morning and nobody answers the phone at reception…",
    "mal",
    "",
    "Hay humo saliendo del motor!!! Paren el autobús por favor, huele a quemado y hay niños",
]


def alert(
    text: str, score: int | None = 2, scale: str = "csat5", ref: str = "4821", urgent: bool = False
) -> Alert:
    a, _ = open_alert(
        ref, "x", "c", "f-" + ref, "low_score", urgent, T0, text=text, score=score, scale=scale
    )
    return a


def test_segments_counts_gsm7_and_ucs2() -> None:
    assert segments("") == (1, "gsm7")
    assert segments("x" * 160) == (1, "gsm7")
    assert segments("x" * 161) == (2, "gsm7")
    assert segments("x" * 306) == (2, "gsm7")  # 153 per part once split
    assert segments("x" * 307) == (3, "gsm7")
    assert segments("{" * 80) == (1, "gsm7")  # extension characters take two septets
    assert segments("{" * 81) == (2, "gsm7")
    assert segments("¿Qué tal? ñ ü é") == (1, "gsm7")  # these accents are in GSM-7
    assert segments("á" * 70) == (1, "ucs2")
    assert segments("á" * 71) == (2, "ucs2")
    assert segments("😀" * 35) == (1, "ucs2")  # two UTF-16 units each
    assert segments("😀" * 36) == (2, "ucs2")


@given(st.text(max_size=300))
def test_gsm_fold_always_yields_gsm7(text: str) -> None:
    assert segments(gsm_fold(text))[1] == "gsm7"


@pytest.mark.parametrize("text", TYPICAL)
@pytest.mark.parametrize("loc", DEMO.locations, ids=lambda loc: loc.id)
def test_page_fits_one_gsm7_segment(loc: Location, text: str) -> None:
    sup = loc.supervisors[0]
    a = alert(text, score=3, scale=loc.scale, urgent=True)
    a, _ = escalate(page(a, "A", T0 + 1)[0], "B", T0 + 61)  # the longest header: URGENT ESCALATED
    msg = page_text(a, loc, sup, T0 + 75)
    assert segments(msg) == (1, "gsm7"), msg
    assert septets(msg) <= SMS_LIMIT
    assert f"OK {a.ref}" in msg
    assert gsm_fold(loc.name) in msg


def test_page_content_in_spanish_and_english() -> None:
    loc = Location("bus-42", "Línea 42", scale="nps10")
    es = page_text(alert("tarde", score=4, scale="nps10"), loc, ANA, T0 + 120)
    assert es == 'Linea 42: "tarde" 4/10, hace 2 min. Responda OK 4821'
    en = page_text(alert("late", score=None, urgent=True), loc, TOM, T0 + 30)
    assert en == 'URGENT Linea 42: "late", 30 s ago. Reply OK 4821'


def test_page_trims_long_text_and_keeps_its_start() -> None:
    text = "No hay agua caliente en la habitación " * 10
    msg = page_text(alert(text), Location("h", "Hotel Mar"), ANA, T0 + 5)
    assert SMS_LIMIT - 15 <= septets(msg) <= SMS_LIMIT  # trimmed to the room there is
    assert '"No hay agua caliente en la habitacion' in msg and '..."' in msg
    quoted = msg.split('"')[1].removesuffix("...")
    assert gsm_fold(text).startswith(quoted + " ")  # cut between words


def test_grouped_page() -> None:
    loc = Location("bus-42", "Línea 42")
    alerts = [alert(t, ref=r) for t, r in (("frío", "1111"), ("tarde", "2222"), ("sucio", "3333"))]
    msg = grouped_page_text(alerts, loc, ANA, T0 + 30)
    assert msg.startswith("3 quejas en Linea 42")
    assert all(r in msg for r in ("1111", "2222", "3333"))
    assert segments(msg) == (1, "gsm7")
    assert grouped_page_text(alerts[:1], loc, ANA, T0) == page_text(alerts[0], loc, ANA, T0)
    assert "3 complaints at" in grouped_page_text(alerts, loc, TOM, T0 + 30)


@pytest.mark.parametrize(
    ("kind", "sup", "lang", "expected"),
    [
        ("restaurant", ANA, "es", "Ana, la supervisora de turno, va hacia su mesa."),
        ("bus", TOM, "es", "Tom, el supervisor de turno, va hacia su asiento."),
        ("hotel", SAM, "es", "Sam, la persona supervisora de turno, va hacia su habitación."),
        ("restaurant", ANA, "en", "Ana, the shift supervisor, is on her way to your table."),
        ("bus", TOM, "en", "Tom, the shift supervisor, is on his way to your seat."),
        ("hotel", SAM, "en", "Sam, the shift supervisor, is on their way to your room."),
        ("museum", ANA, "es", "Ana, la supervisora de turno, va hacia usted."),
        ("museum", ANA, "en", "Ana, the shift supervisor, is on her way to you."),
    ],
)
def test_who_is_coming(kind: str, sup: Supervisor, lang: str, expected: str) -> None:
    assert coming_text(sup, Location("x", "X", kind=kind), lang) == expected


def test_customer_language_falls_back_to_the_location_then_english() -> None:
    loc = Location("x", "X", kind="restaurant", lang="es")
    assert coming_text(ANA, loc, "").endswith("mesa.")
    assert coming_text(ANA, loc, "de").endswith("table.")
    assert coming_text(ANA, loc, "es", ref="4821").endswith("Ref 4821")


def test_follow_up_and_thanks() -> None:
    assert (
        follow_up_text("es", "4821")
        == "¿Lo hemos solucionado? Responda 1-5 (5 = del todo). Ref 4821"
    )
    assert follow_up_text("en").startswith("Did we fix it? Reply 1-5")
    assert thanks_text("es", True) != thanks_text("es", False)
    assert thanks_text("en", True).startswith("Thank you")


def test_ack_text_variants_and_overrides() -> None:
    loc = Location("x", "X")
    assert "4821" in ack_text(loc, "es", "4821") and "4821" in ack_text(loc, "en", "4821", True)
    assert "responsable" in ack_text(loc, "es", "4821", complaint=True)
    custom = Location(
        "x", "X", reply_text={"es": "Gracias {ref}", "es_complaint": "Ya vamos {ref}"}
    )
    assert ack_text(custom, "es", "7") == "Gracias 7"
    assert ack_text(custom, "es", "7", complaint=True) == "Ya vamos 7"
    assert ack_text(custom, "en", "7").startswith("Thank you")  # no English override
    resto = DEMO.by_id("resto-sol")
    assert resto is not None and "{ref}" not in ack_text(resto, "es", "4821")


def test_manager_notices_are_gsm7_and_name_the_alert() -> None:
    loc = Location("bus-42", "Línea 42", trend_csat_threshold=0.6)
    trend = trend_notice(loc, Decision(Reason.TREND_CSAT, False, "x"), "es", csat=0.42, n=31)
    assert "42 %" in trend and "31" in trend and segments(trend) == (1, "gsm7")
    drift = trend_notice(loc, Decision(Reason.DRIFT, False, "ADWIN"), "en")
    assert "ADWIN" in drift
    a = alert("frío")
    esc = escalation_notice(a, loc, "es", T0 + 70, missed_by="Ana")
    assert "Ana" in esc and "4821" in esc and segments(esc) == (1, "gsm7")
    over = overdue_notice(a, loc, "en", T0 + 660)
    assert "4821" in over and "11 min" in over and segments(over) == (1, "gsm7")
    assert "nobody" in over
    acked = Alert.from_dict({**a.to_dict(), "acked_by": "Luis", "state": "acknowledged"})
    assert "la tiene Luis" in overdue_notice(acked, loc, "es", T0 + 660)
