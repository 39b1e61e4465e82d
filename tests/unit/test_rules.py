"""The alert rules: safety keywords, dissatisfied answers, negative text, trends."""

from __future__ import annotations

import pytest

from pipeline.alerts.rules import (
    Decision,
    Reason,
    evaluate_feedback,
    evaluate_trend,
    fold,
    safety_keyword,
)
from pipeline.config import Location

BUS = Location(id="bus-42", name="Línea 42", scale="nps10", low_nps=6, negative_threshold=0.8)
RESTO = Location(id="resto", name="Sol", scale="csat5", low_csat=2, negative_threshold=0.8)


@pytest.mark.parametrize(
    "text",
    [
        "There was an accident at the stop",
        "Ha habido un accidente",
        "Me están acosando en el autobús",
        "a man is harassing a woman",
        "FUEGO en la cocina",
        "hay un incendio",
        "Me han robado la cartera",
        "my bag was stolen",
        "sufrí una agresión",
        "hay un herido en el pasillo",
        "there is blood on the seat",
        "¡Emergencia!",
        "llamen una ambulancia",
        "hay una pelea atrás",
        "smoke coming from the engine",
        "huele a humo",
        "creo que hay una fuga de gas",
        "I smell a gas leak",
        "houve um assalto",
        "il y a une bagarre",
        "c'è una rissa",
        "m\u2019han robat el mòbil",
    ],
)
def test_safety_keywords_are_urgent_in_every_language(text: str) -> None:
    d = evaluate_feedback(BUS, None, None, text, 0.0)
    assert d is not None
    assert d.reason == Reason.SAFETY
    assert d.urgent


@pytest.mark.parametrize(
    "text",
    [
        "the fireworks from the window were great",
        "cordero a fuego lento, perfecto",
        "un agua con gas, por favor",
        "I accidentally left my umbrella",
        "el robot de la recepción es gracioso",
        "blood orange sorbet was lovely",
        "salmón ahumado riquísimo",
        "bien",
    ],
)
def test_harmless_words_do_not_match(text: str) -> None:
    assert safety_keyword(text) is None


def test_accents_and_case_are_folded() -> None:
    assert safety_keyword("AGRESIÓN") == "agresion"
    assert safety_keyword("Agresion") == "agresion"
    assert fold("Ñandú ÉXITO") == "nandu exito"


def test_safety_wins_over_a_good_score() -> None:
    d = evaluate_feedback(RESTO, 5, "csat5", "great food but there is smoke in the hall", 0.05)
    assert d is not None and d.reason == Reason.SAFETY and d.urgent


@pytest.mark.parametrize(
    ("loc", "score", "scale", "alert"),
    [
        (RESTO, 1, "csat5", True),
        (RESTO, RESTO.low_csat, "csat5", True),
        (RESTO, RESTO.low_csat + 1, "csat5", False),
        (RESTO, 5, "csat5", False),
        (BUS, 0, "nps10", True),
        (BUS, BUS.low_nps, "nps10", True),
        (BUS, BUS.low_nps + 1, "nps10", False),
        (BUS, 10, "nps10", False),
    ],
)
def test_dissatisfied_answers(loc: Location, score: int, scale: str, alert: bool) -> None:
    d = evaluate_feedback(loc, score, scale, "", None)
    if alert:
        assert d is not None
        assert (d.reason, d.urgent) == (Reason.LOW_SCORE, False)
        assert d.detail.startswith(f"score {score}/")
    else:
        assert d is None


def test_thresholds_come_from_the_location() -> None:
    strict = Location(id="s", name="S", scale="csat5", low_csat=3)
    assert evaluate_feedback(strict, 3, "csat5", "", None) is not None
    assert evaluate_feedback(RESTO, 3, "csat5", "", None) is None


def test_scale_defaults_to_the_locations() -> None:
    d = evaluate_feedback(BUS, 5, None, "", None)  # 5 on nps10 is a detractor
    assert d is not None and d.reason == Reason.LOW_SCORE


def test_unknown_scale_is_an_error() -> None:
    with pytest.raises(ValueError, match="scale"):
        evaluate_feedback(BUS, 3, "stars7", "", None)


def test_negative_text_only_without_a_score() -> None:
    t = BUS.negative_threshold
    assert evaluate_feedback(BUS, None, None, "fatal", t) == Decision(
        Reason.NEGATIVE_TEXT, False, f"P(negative)={t:.2f} >= {t:.2f}"
    )
    assert evaluate_feedback(BUS, None, None, "fatal", t - 0.01) is None
    assert evaluate_feedback(BUS, None, None, "fatal", None) is None
    assert evaluate_feedback(BUS, None, None, "   ", 0.99) is None
    # A good score is the customer's own word; the model does not overrule it.
    assert evaluate_feedback(BUS, 9, "nps10", "fatal", 0.99) is None


def test_trend_needs_enough_answers_and_a_low_csat() -> None:
    loc = Location(id="t", name="T", trend_csat_threshold=0.6, trend_min_answers=20)
    low = evaluate_trend(loc, 0.5, 20)
    assert low is not None and low.reason == Reason.TREND_CSAT and low.for_manager
    assert not low.urgent
    assert evaluate_trend(loc, 0.5, 19) is None
    assert evaluate_trend(loc, 0.6, 100) is None  # at the threshold is not below it
    assert evaluate_trend(loc, None, 100) is None


def test_drift_is_a_trend_for_the_manager() -> None:
    d = evaluate_trend(RESTO, None, 0, drift=True, drift_detail="ADWIN on P(negative)")
    assert d is not None and d.reason == Reason.DRIFT and d.for_manager
    assert d.detail == "ADWIN on P(negative)"
    assert evaluate_trend(RESTO, 0.2, 3, drift=False) is None


def test_customer_decisions_are_not_for_the_manager() -> None:
    d = evaluate_feedback(RESTO, 1, "csat5", "", None)
    assert d is not None and not d.for_manager
