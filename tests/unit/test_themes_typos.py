"""Typo tolerance of the theme lexicon: one slip in a long word, never a real word changed."""

from __future__ import annotations

import pytest

from pipeline.themes import ThemeTagger
from pipeline.themes.typos import TypoIndex, slip_at


@pytest.mark.parametrize(
    ("text", "kind", "themes"),
    [
        ("un retrazo de media hora", "bus", ("punctuality",)),  # z for s
        ("asientos asquerosos y pegajsoos", "bus", ("cleanliness",)),  # two letters swapped
        ("frecuensia malisima", "bus", ("punctuality",)),
        ("la recepcionsta muy maja", "hotel", ("staff",)),  # a letter dropped
        ("totally overprized", "restaurant", ("price",)),
        ("temperatrua horrible", "bus", ("temperature",)),
    ],
)
def test_one_slip_in_a_long_word_still_names_its_theme(
    text: str, kind: str, themes: tuple[str, ...]
) -> None:
    assert ThemeTagger().tag(text, kind=kind) == themes


@pytest.mark.parametrize(
    ("text", "kind", "themes"),
    [
        ("parking was easy", "hotel", ()),  # not "barking"
        ("vaya cocina tan bonita", "restaurant", ()),  # not "cochina"
        ("me esperó cuando corría", "bus", ()),  # an inflection, not a slip of "espera"
        ("cocktails watered down", "restaurant", ("food",)),  # "watered" is not "waiter"
    ],
)
def test_real_words_are_not_corrected_into_another_theme(
    text: str, kind: str, themes: tuple[str, ...]
) -> None:
    assert ThemeTagger().tag(text, kind=kind) == themes


def test_short_words_and_ambiguous_slips_are_left_alone() -> None:
    idx = TypoIndex.build(["horrible", "terrible"], ["retras"])
    assert idx.fix("horible") == "horrible"
    assert idx.fix("tarde") is None  # too short to guess
    assert TypoIndex.build(["casada", "cazada"], []).fix("caxada") is None  # which one?
    assert slip_at("abcdef", "abcdef") == -1
