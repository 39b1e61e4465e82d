"""Score extraction: the ambiguity rules, the corpus, and properties over arbitrary text."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.scoring.extract import RANGES, Extraction, extract_score

CORPUS = Path(__file__).parents[1] / "data" / "score_corpus.tsv"
MIN_ACCURACY = 0.98


def load_corpus() -> list[dict[str, str]]:
    with CORPUS.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def ex(score: int, scale: str, explicit: bool = False) -> Extraction:
    return Extraction(score, scale, explicit)


@pytest.mark.parametrize(
    ("text", "scale", "expected"),
    [
        # digits, and a message that is only a number
        ("8", "nps10", ex(8, "nps10")),
        ("0", "nps10", ex(0, "nps10")),
        ("4", "csat5", ex(4, "csat5")),
        ("un 9", "nps10", ex(9, "nps10")),
        ("le doy un 8", "nps10", ex(8, "nps10")),
        ("I'd give it a 7", "nps10", ex(7, "nps10")),
        ("7 pts", "nps10", ex(7, "nps10")),
        ("nota: 6", "nps10", ex(6, "nps10")),
        ("8,5 la cena", "nps10", ex(8, "nps10")),
        # explicit forms carry their own scale
        ("8/10", "csat5", ex(8, "nps10", True)),
        ("4 de 5", "nps10", ex(4, "csat5", True)),
        ("9 sobre 10", "csat5", ex(9, "nps10", True)),
        ("6 out of 10", "csat5", ex(6, "nps10", True)),
        ("nueve de diez", "csat5", ex(9, "nps10", True)),
        ("0/5 no volveré", "csat5", ex(1, "csat5", True)),
        ("del 1 al 10, un 7", "csat5", ex(7, "nps10", True)),
        ("on a scale of 1 to 5, 4", "nps10", ex(4, "csat5", True)),
        # number words
        ("nine", "nps10", ex(9, "nps10")),
        ("nueve, muy bien todo", "nps10", ex(9, "nps10")),
        ("diez", "nps10", ex(10, "nps10")),
        ("cero. Nadie en recepción", "nps10", ex(0, "nps10")),
        ("cinco", "csat5", ex(5, "csat5")),
        ("a ten for the waiter", "nps10", ex(10, "nps10")),
        # stars
        ("★★★★", "nps10", ex(4, "csat5", True)),
        ("★★★☆☆ ok", "nps10", ex(3, "csat5", True)),
        ("5 stars", "nps10", ex(5, "csat5", True)),
        ("5 estrellas", "nps10", ex(5, "csat5", True)),
        ("5*", "nps10", ex(5, "csat5", True)),
        ("a 5 star hotel with 2 star service", "nps10", ex(2, "csat5", True)),
        # emoji, on either scale
        ("😡", "csat5", ex(1, "csat5")),
        ("😞", "csat5", ex(2, "csat5")),
        ("😐", "csat5", ex(3, "csat5")),
        ("🙂", "csat5", ex(4, "csat5")),
        ("😍", "csat5", ex(5, "csat5")),
        ("☹️", "csat5", ex(2, "csat5")),
        ("😡", "nps10", ex(0, "nps10")),
        ("🙂", "nps10", ex(8, "nps10")),
        ("🤩", "nps10", ex(10, "nps10")),
        ("👍👍 pero 👎", "csat5", ex(4, "csat5")),
        ("👍 👎", "csat5", ex(2, "csat5")),  # a tie goes to the unhappier reading
        ("cold food :(", "csat5", ex(2, "csat5")),
        # a number wins over an emoji, an explicit form over both
        ("😡 un 3", "nps10", ex(3, "nps10")),
        ("un 3 😍 8/10", "csat5", ex(8, "nps10", True)),
    ],
)
def test_extracts(text: str, scale: str, expected: Extraction) -> None:
    assert extract_score(text, scale) == expected


@pytest.mark.parametrize(
    ("text", "scale", "expected"),
    [
        ("llegó 10 minutos tarde", "nps10", None),
        ("llegó 10 minutos tarde. Un 3", "nps10", ex(3, "nps10")),
        ("Mesa 12: 2/10", "csat5", ex(2, "nps10", True)),
        ("mesa 7, todo perfecto, 5", "csat5", ex(5, "csat5")),
        ("Room 5 no hot water", "csat5", None),
        ("table #3, waiter was rude", "csat5", None),
        ("Nº 4 llegó tarde", "csat5", None),
        ("2 personas", "nps10", None),
        ("we were 4 and sat by the door", "csat5", None),
        ("a las 8:30", "nps10", None),
        ("bus at 8:30 was full", "nps10", None),
        ("at 9pm", "nps10", None),
        ("el 5 de mayo", "nps10", None),
        ("20 €", "nps10", None),
        ("10% off", "nps10", None),
        ("7", "csat5", None),  # out of the scale's range
        ("0", "csat5", None),
        ("12", "nps10", None),
        ("12/10", "nps10", None),
        ("dos camareros para todo el restaurante", "csat5", None),
        ("the best one in town.", "csat5", None),
        ("ten minutes late", "nps10", None),
        ("we ordered 2 pizzas", "csat5", None),
        ("Breakfast from 7 to 10", "nps10", None),
        ("hotel de 5 estrellas", "nps10", None),
        ("https://example.org/a:/b", "nps10", None),
        ("", "nps10", None),
        ("   ", "nps10", None),
    ],
)
def test_ambiguity_rules(text: str, scale: str, expected: Extraction | None) -> None:
    assert extract_score(text, scale) == expected


def test_unknown_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scale"):
        extract_score("8", "stars7")


def test_corpus_shape() -> None:
    rows = load_corpus()
    langs = [r["lang"] for r in rows]
    assert len(rows) >= 320
    assert langs.count("es") >= 0.35 * len(rows)
    assert langs.count("en") >= 0.35 * len(rows)
    assert all(r["scale"] in RANGES for r in rows)
    assert all(r["expected_scale"] in ("", *RANGES) for r in rows)


def test_corpus_accuracy() -> None:
    rows = load_corpus()
    wrong = []
    for r in rows:
        got = extract_score(r["text"], r["scale"])
        expected = (int(r["expected_score"]), r["expected_scale"]) if r["expected_score"] else None
        if (None if got is None else (got.score, got.scale)) != expected:
            wrong.append(f"{r['text']!r}: expected {expected}, got {got}")
    accuracy = 1 - len(wrong) / len(rows)
    print(f"\nscore extraction: {accuracy:.1%} right on {len(rows)} messages")
    print("\n".join(wrong))
    assert accuracy >= MIN_ACCURACY, wrong


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.sampled_from(sorted(RANGES)))
@example("9/10/2024 ★☆ 😡😍 :( <3 un 11 de 10", "csat5")
@example("\u0301\ufe0f8", "nps10")
def test_never_raises_and_stays_in_range(text: str, scale: str) -> None:
    got = extract_score(text, scale)
    if got is not None:
        lo, hi = RANGES[got.scale]
        assert lo <= got.score <= hi
        assert got.scale == scale or got.explicit


_NOISE = st.sampled_from(
    [
        "el bus llegó 10 minutos tarde",
        "Mesa 12:",
        "room 4",
        "a las 8:30",
        "somos 2 personas",
        "un 3",
        "le doy un 7",
        "nine",
        "gracias 😡",
        "😍😍",
        "xq tardan tanto??",
        "great driver :)",
        "línea 27",
        "",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(_NOISE, max_size=3),
    st.lists(_NOISE, max_size=3),
    st.sampled_from([5, 10]),
    st.data(),
    st.sampled_from(sorted(RANGES)),
)
def test_explicit_form_wins(
    before: list[str], after: list[str], top: int, data: st.DataObject, scale: str
) -> None:
    n = data.draw(st.integers(1 if top == 5 else 0, top))
    form = data.draw(st.sampled_from(["{n}/{top}", "{n} de {top}", "{n} out of {top}"]))
    text = " ".join([*before, form.format(n=n, top=top), *after])
    assert extract_score(text, scale) == Extraction(n, "csat5" if top == 5 else "nps10", True)


@given(st.integers(0, 10))
def test_a_lone_number_in_range_is_a_score(n: int) -> None:
    assert extract_score(str(n), "nps10") == Extraction(n, "nps10", False)
    assert (extract_score(f" {n}. ", "csat5") is not None) == (1 <= n <= 5)


@given(st.text(max_size=40))
@example("¡Ñandú ☹️ MUY Lento! İstanbul ﬁ")
def test_folding_by_table_is_folding_character_by_character(text: str) -> None:
    from pipeline.scoring.extract import _fold, _fold_char, _FoldTable

    one_by_one = "".join(_fold_char(c) for c in text)
    assert _fold(text) == one_by_one
    assert len(_fold(text)) == len(text)  # positions still match the original
    assert text.translate(_FoldTable(limit=1)) == one_by_one  # past its limit: worked out each time


def test_the_score_of_a_text_read_twice_is_the_same_for_each_scale() -> None:
    assert extract_score("8", "nps10") == Extraction(8, "nps10", False)
    assert extract_score("8", "csat5") is None  # not the nps10 answer kept from the line above
    assert extract_score("8", "nps10") == Extraction(8, "nps10", False)
