"""The learner contract for the theme tagger (STYLE.md item 9, river checks/common.py style):
the input is unchanged, pickling and the vocab round-trip, and the same corrections in the
same order give the same state and the same tags."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable

import pytest

from pipeline.themes import ThemeTagger
from pipeline.themes.venue_demo import make_sets

CORRECTIONS = make_sets(7)[0][:20]
PROBES = ["la 42 no para en Cibeles", "llegó tarde", "todo bien", "en Cibeles iba lleno", ""]


def _untaught() -> ThemeTagger:
    return ThemeTagger({"bus-42": {"accessibility": ["rampa"]}})


def _taught() -> ThemeTagger:
    t = _untaught()
    for text, themes in CORRECTIONS:
        t.learn(text, list(themes), kind="bus", location_id="bus-42")
    return t


TAGGERS: dict[str, Callable[[], ThemeTagger]] = {"untaught": _untaught, "taught": _taught}


def _tags(t: ThemeTagger) -> list[tuple[str, ...]]:
    return [t.tag(p, kind="bus", location_id="bus-42") for p in PROBES]


@pytest.mark.parametrize("make", TAGGERS.values(), ids=TAGGERS.keys())
def test_inputs_are_unchanged(make: Callable[[], ThemeTagger]) -> None:
    custom = {"bus-42": {"accessibility": ["rampa"]}}
    before = copy.deepcopy(custom)
    t = ThemeTagger(custom)
    themes = ["punctuality", "crowding"]
    t.learn("la 42 no para en Cibeles", themes, kind="bus", location_id="bus-42")
    assert custom == before and themes == ["punctuality", "crowding"]
    doc = make().vocab("bus-42")
    snapshot = copy.deepcopy(doc)
    t.load_vocab("bus-42", doc)
    t.learn("otra cosa en Cibeles", ["staff"], kind="bus", location_id="bus-42")
    assert doc == snapshot


@pytest.mark.parametrize("make", TAGGERS.values(), ids=TAGGERS.keys())
def test_pickling_round_trips(make: Callable[[], ThemeTagger]) -> None:
    t = make()
    clone = pickle.loads(pickle.dumps(t))
    assert _tags(clone) == _tags(t)
    assert clone.vocab("bus-42") == t.vocab("bus-42")


@pytest.mark.parametrize("make", TAGGERS.values(), ids=TAGGERS.keys())
def test_vocab_round_trips(make: Callable[[], ThemeTagger]) -> None:
    t = make()
    fresh = _untaught()
    fresh.load_vocab("bus-42", t.vocab("bus-42"))
    assert _tags(fresh) == _tags(t)
    assert fresh.vocab("bus-42") == t.vocab("bus-42")


@pytest.mark.parametrize("make", TAGGERS.values(), ids=TAGGERS.keys())
def test_deterministic(make: Callable[[], ThemeTagger]) -> None:
    a, b = make(), make()
    assert a.vocab("bus-42") == b.vocab("bus-42")
    assert _tags(a) == _tags(b)
