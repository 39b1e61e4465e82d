"""SMS keywords: the whole message decides, and every kind has its reply in es and en."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.ingest.keywords import Keyword, KeywordKind, classify_keyword, keyword_reply

OPT_OUT = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]
OPT_OUT += ["BAJA", "PARAR", "CANCELAR"]
OPT_IN = ["START", "UNSTOP", "YES", "ALTA"]
HELP = ["HELP", "INFO", "AYUDA"]
ALL = [(w, KeywordKind.OPT_OUT) for w in OPT_OUT]
ALL += [(w, KeywordKind.OPT_IN) for w in OPT_IN]
ALL += [(w, KeywordKind.HELP) for w in HELP]


@pytest.mark.parametrize(("word", "kind"), ALL)
@pytest.mark.parametrize("dress", ["{}", "{}!", "{}.", "  {}  ", "{}!!", "\n{}\n"])
@pytest.mark.parametrize("case", [str.upper, str.lower, str.capitalize])
def test_every_keyword_in_every_dress(
    word: str, kind: KeywordKind, dress: str, case: Callable[[str], str]
) -> None:
    assert classify_keyword(dress.format(case(word))) == Keyword(kind, word)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Ayúda", Keyword(KeywordKind.HELP, "AYUDA")),
        ("BÁJA!", Keyword(KeywordKind.OPT_OUT, "BAJA")),
        ("Cancelár.", Keyword(KeywordKind.OPT_OUT, "CANCELAR")),
        ("stop all", Keyword(KeywordKind.OPT_OUT, "STOPALL")),
        ("opt-out", Keyword(KeywordKind.OPT_OUT, "OPTOUT")),
        ("Opt out", Keyword(KeywordKind.OPT_OUT, "OPTOUT")),
        ("ALTA.", Keyword(KeywordKind.OPT_IN, "ALTA")),
        ("¡Ayuda!", Keyword(KeywordKind.HELP, "AYUDA")),
        ("¡¡BAJA!!", Keyword(KeywordKind.OPT_OUT, "BAJA")),
    ],
)
def test_accents_and_spacing_are_folded(body: str, expected: Keyword) -> None:
    assert classify_keyword(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        "please stop the music",
        "stop at the next stop please",
        "el bus no para en mi parada",
        "help! the driver is drunk",
        "quiero darme de baja",
        "yes the food was great",
        "end of the line was dirty",
        "8",
        "",
        "   ",
        "STOP?",
        "stopp",
        "info sobre horarios",
    ],
)
def test_feedback_is_not_a_keyword(body: str) -> None:
    assert classify_keyword(body) is None


@pytest.mark.parametrize(
    ("body", "word", "ref"),
    [
        ("STATUS 4821", "STATUS", "4821"),
        ("status 4821", "STATUS", "4821"),
        ("Estado 4821.", "ESTADO", "4821"),
        ("ESTADO: B42X91", "ESTADO", "B42X91"),
        ("status #ab12", "STATUS", "ab12"),
        ("estado 12345678", "ESTADO", "12345678"),
    ],
)
def test_status_carries_its_reference(body: str, word: str, ref: str) -> None:
    assert classify_keyword(body) == Keyword(KeywordKind.STATUS, word, ref)


@pytest.mark.parametrize(
    "body", ["STATUS", "status 482", "estado 123456789", "estado de mi queja 4821", "status 48-21"]
)
def test_status_needs_a_reference_of_four_to_eight(body: str) -> None:
    assert classify_keyword(body) is None


@given(st.text(max_size=80))
def test_never_raises(body: str) -> None:
    kw = classify_keyword(body)
    assert kw is None or isinstance(kw.kind, KeywordKind)


@pytest.mark.parametrize("lang", ["es", "en", "es-ES", "EN", "fr"])
@pytest.mark.parametrize("kind", [KeywordKind.OPT_OUT, KeywordKind.OPT_IN, KeywordKind.HELP])
def test_replies_name_the_venue_and_the_way_back(lang: str, kind: KeywordKind) -> None:
    reply = keyword_reply(Keyword(kind, "X"), lang, "Línea 42")
    spanish = lang.lower().startswith("es")
    assert reply.startswith("Línea 42:")
    assert len(reply) <= 320  # two SMS segments at most
    if kind is KeywordKind.OPT_OUT:
        assert ("ALTA" if spanish else "START") in reply
    else:
        assert ("BAJA" if spanish else "STOP") in reply


def test_replies_differ_by_language() -> None:
    kw = Keyword(KeywordKind.HELP, "HELP")
    assert keyword_reply(kw, "es", "V") != keyword_reply(kw, "en", "V")


def test_status_has_no_canned_reply() -> None:
    with pytest.raises(ValueError, match="status"):
        keyword_reply(Keyword(KeywordKind.STATUS, "STATUS", "4821"), "es", "Línea 42")


def test_venue_name_is_not_a_template() -> None:
    reply = keyword_reply(Keyword(KeywordKind.HELP, "HELP"), "en", "Bar {venue}")
    assert reply.startswith("Bar {venue}:")
