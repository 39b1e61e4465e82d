"""Short human words for theme ids, in the languages Pronto speaks (es/en).

Pure. A theme from the venues file that has no word here is shown as its id, with
underscores read as spaces ("terraza_ruido" -> "terraza ruido").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pipeline.themes import TAXONOMY

logger = logging.getLogger(__name__)

WORDS: dict[str, dict[str, str]] = {
    "es": {
        "punctuality": "puntualidad", "crowding": "bus lleno", "staff": "personal",
        "cleanliness": "limpieza", "temperature": "temperatura", "safety": "seguridad",
        "price": "precio", "food": "comida", "wait": "espera", "noise": "ruido",
        "room": "habitacion", "checkin": "check-in", "breakfast": "desayuno",
    },
    "en": {
        "punctuality": "punctuality", "crowding": "crowding", "staff": "staff",
        "cleanliness": "cleanliness", "temperature": "temperature", "safety": "safety",
        "price": "price", "food": "food", "wait": "waiting", "noise": "noise",
        "room": "room", "checkin": "check-in", "breakfast": "breakfast",
    },
}  # fmt: skip
ABOUT = {"es": "tema", "en": "about"}
ABOUT_TREND = {"es": "mas quejas", "en": "top complaint"}  # a trend: what most complaints name
PAGE_MAX_THEMES = 2  # a page is read at a glance


def lang_of(lang: str) -> str:
    lang = (lang or "en")[:2].lower()
    return lang if lang in WORDS else "en"


def word(theme: str, lang: str) -> str:
    """The word for `theme` in `lang`.

    >>> word("food", "es"), word("wait", "en"), word("terraza_ruido", "es")
    ('comida', 'waiting', 'terraza ruido')
    """
    return WORDS[lang_of(lang)].get(theme) or theme.replace("_", " ")


def about(themes: Iterable[str], lang: str, limit: int = PAGE_MAX_THEMES, *,
          trend: bool = False) -> str:  # fmt: skip
    """ "tema: comida" / "about: food, waiting"; "" when there is no theme.

    >>> about(["food"], "es"), about(["food", "wait", "noise"], "en"), about([], "es")
    ('tema: comida', 'about: food, waiting', '')
    >>> about(["punctuality"], "en", trend=True)
    'top complaint: punctuality'
    """
    words = [word(t, lang) for t in list(themes)[:limit]]
    head = (ABOUT_TREND if trend else ABOUT)[lang_of(lang)]
    return f"{head}: {', '.join(words)}" if words else ""


def choices(kind: str, custom: Iterable[str] = ()) -> tuple[str, ...]:
    """The themes a supervisor can pick for a venue: its kind's taxonomy, then its own.

    >>> choices("nosuchkind", ["terraza"])
    ('terraza',)
    """
    base = tuple(TAXONOMY.get(kind, ()))
    return base + tuple(t for t in custom if t not in base)
