"""The theme tagger: the public interface, the lexicon's behaviour, and learning."""

from __future__ import annotations

import pytest

from pipeline.themes import TAXONOMY, ThemeTagger
from pipeline.themes.learner import MAX_EXACT, MAX_FEATURES, LocationModel
from pipeline.themes.phrases import PhraseIndex, compile_phrase
from pipeline.themes.text import tokens


def test_taxonomy_ids_are_the_issue_s() -> None:
    assert TAXONOMY == {
        "bus": (
            "punctuality",
            "crowding",
            "staff",
            "cleanliness",
            "temperature",
            "safety",
            "price",
        ),
        "restaurant": ("food", "wait", "staff", "cleanliness", "price", "noise"),
        "hotel": ("room", "checkin", "cleanliness", "noise", "staff", "breakfast"),
    }


def test_theme_ids_add_the_location_s_own_and_unknown_kinds_have_none() -> None:
    t = ThemeTagger({"bus-42": {"accessibility": ["rampa"], "punctuality": ["cibeles"]}})
    assert t.theme_ids("bus", "bus-42") == (*TAXONOMY["bus"], "accessibility")
    assert t.theme_ids("bus", "bus-7") == TAXONOMY["bus"]
    assert t.theme_ids("spaceship") == ()
    assert t.theme_ids("spaceship", "bus-42") == ("accessibility", "punctuality")
    assert t.tag("tarde y sucio", kind="spaceship") == ()


@pytest.mark.parametrize(
    ("text", "kind", "themes"),
    [
        ("El bus llegó TARDÍSIMO y llenooo", "bus", ("crowding", "punctuality")),
        (
            "bus was late, packed and the driver was rude",
            "bus",
            ("crowding", "punctuality", "staff"),
        ),
        ("no estaba sucio", "bus", ("cleanliness",)),  # a negated mention names the theme
        ("asientos llenos de chicles", "bus", ("cleanliness",)),  # "lleno de" is not crowding
        ("el chofer frenaba de golpe", "bus", ("safety",)),  # the driver alone is weak
        ("el conductor se perdió", "bus", ("staff",)),
        ("la comida fría y tardaron una hora", "restaurant", ("food", "wait")),
        ("Check-in took forever, room was tiny", "hotel", ("checkin", "room")),  # "tiny" is strong
        ("the check-in queue", "hotel", ("checkin",)),
        ("gracias!!", "hotel", ()),
        ("", "bus", ()),
        ("9", "bus", ()),
    ],
)
def test_the_lexicon_tags_es_and_en(text: str, kind: str, themes: tuple[str, ...]) -> None:
    assert ThemeTagger().tag(text, kind=kind) == themes


def test_tag_returns_sorted_unique_ids_of_the_kind() -> None:
    t = ThemeTagger()
    for kind, ids in TAXONOMY.items():
        got = t.tag("tarde tarde sucio caro ruido comida desayuno habitacion lleno", kind=kind)
        assert got == tuple(sorted(set(got)))
        assert set(got) <= set(ids)


def test_venue_phrases_tag_only_at_that_venue() -> None:
    t = ThemeTagger({"bus-42": {"accessibility": ["rampa", "silla de ruedas", "wheelchair*"]}})
    assert t.tag("la rampa no baja", kind="bus", location_id="bus-42") == ("accessibility",)
    assert t.tag("no wheelchairs space", kind="bus", location_id="bus-42") == ("accessibility",)
    assert t.tag("la rampa no baja", kind="bus", location_id="bus-7") == ()


def test_a_bad_custom_theme_id_is_refused() -> None:
    with pytest.raises(ValueError, match="theme id"):
        ThemeTagger({"x": {"Bad Id": ["a"]}})


def test_a_correction_is_learned_at_once_and_only_there() -> None:
    t = ThemeTagger()
    text = "la 42 no para en Cibeles"
    t.learn(text, ["punctuality", "not-a-theme"], kind="bus", location_id="bus-42")
    assert t.tag(text, kind="bus", location_id="bus-42") == ("punctuality",)
    assert t.tag(text, kind="bus", location_id="bus-43") == ()


def test_a_correction_can_remove_themes_and_set_none() -> None:
    t = ThemeTagger()
    text = "llegó tarde y lleno"
    t.learn(text, [], kind="bus", location_id="bus-42")
    assert t.tag(text, kind="bus", location_id="bus-42") == ()
    t.learn(text, ["crowding"], kind="bus", location_id="bus-42")
    assert t.tag(text, kind="bus", location_id="bus-42") == ("crowding",)


def test_a_repeated_phrase_generalises_to_new_messages_of_the_venue() -> None:
    t = ThemeTagger()
    for text in ("la 42 no para en Cibeles", "otra vez no paró en cibeles!!"):
        t.learn(text, ["punctuality"], kind="bus", location_id="bus-42")
    assert t.tag("hoy tampoco para en Cibeles", kind="bus", location_id="bus-42") == (
        "punctuality",
    )
    assert t.tag("hoy tampoco para en Cibeles", kind="bus", location_id="bus-43") == ()


def test_a_place_name_alone_is_not_the_theme_its_complaints_share() -> None:
    t = ThemeTagger()
    taught = [("la 42 no para en Cibeles", ["punctuality"]), ("ni para en Cibeles!!", ["punctuality"]),
              ("tampoco paró en Cibeles", ["punctuality"]), ("en Cibeles iba lleno", ["crowding"]),
              ("no ha parado en Cibeles", ["punctuality"]), ("la 42 bien hasta Cibeles", [])]  # fmt: skip
    for text, themes in taught:
        t.learn(text, themes, kind="bus", location_id="bus-42")
    assert t.tag("bajé en Cibeles, ok", kind="bus", location_id="bus-42") == ()
    assert t.tag("Cibeles precioso", kind="bus", location_id="bus-42") == ()
    # a negated verb learned in any form: "sin parar" is "no para"
    assert t.tag("pasó por Cibeles sin parar", kind="bus", location_id="bus-42") == ("punctuality",)


def test_a_false_lexicon_hit_removed_repeatedly_is_suppressed_at_that_venue() -> None:
    t = ThemeTagger()
    # At this hotel "cola" is the drink of the minibar, not a queue.
    for text in ("la cola del minibar caliente", "no habia cola en la nevera"):
        t.learn(text, ["room"], kind="hotel", location_id="h1")
    assert t.tag("pedimos una cola", kind="hotel", location_id="h2") == ("checkin",)
    # the false hit is gone; what the corrections said instead ("cola" twice with room) stays
    assert t.tag("pedimos una cola", kind="hotel", location_id="h1") == ("room",)


def test_vocab_round_trips_through_json() -> None:
    import json

    t = ThemeTagger()
    for text in ("no para en Cibeles", "no paró en Cibeles", "sucio", "llegó tarde"):
        t.learn(text, ["punctuality"], kind="bus", location_id="bus-42")
    doc = json.loads(json.dumps(t.vocab("bus-42")))
    fresh = ThemeTagger()
    fresh.load_vocab("bus-42", doc)
    assert fresh.vocab("bus-42") == t.vocab("bus-42")
    for text in ("la 42 ni para en Cibeles", "sucio", "tarde y sucio"):
        assert fresh.tag(text, kind="bus", location_id="bus-42") == t.tag(
            text, kind="bus", location_id="bus-42"
        )


def test_vocab_of_an_untaught_location_is_empty_and_a_foreign_version_is_refused() -> None:
    doc = ThemeTagger().vocab("nowhere")
    assert doc["features"] == {} and doc["exact"] == []
    with pytest.raises(ValueError, match="version"):
        ThemeTagger().load_vocab("x", {**doc, "version": 99})


def test_learned_state_is_bounded() -> None:
    model = LocationModel()
    for i in range(MAX_FEATURES):
        toks = tokens(f"palabra{i} otra{i} cosa{i}")
        model.learn(toks, ("staff",), {})
    assert len(model.feats) <= MAX_FEATURES
    assert len(model.exact) == MAX_EXACT


def test_phrase_syntax_errors() -> None:
    for bad in ("", "?", "!no", "ab*", "~"):
        with pytest.raises(ValueError):
            compile_phrase("x", bad)


def test_wildcard_and_negative_lookahead() -> None:
    idx = PhraseIndex.build(
        [compile_phrase("p", "salt* ? parada"), compile_phrase("c", "llen* !de")]
    )
    assert [p.theme for p in idx.match(tokens("se saltó mi parada"))] == ["p"]
    assert [p.theme for p in idx.match(tokens("iba llena"))] == ["c"]
    assert idx.match(tokens("llena de basura")) == []
