"""The console's theme parts: an alert's themes, the control that changes them, the panel of
each venue's top themes. Pure: plain values in, escaped HTML out; `console_themes.js` builds
the same markup in the live page (keep the two in step).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from html import escape
from typing import Any

from pipeline.alerts.theme_words import word

logger = logging.getLogger(__name__)

LANG = "en"  # the console speaks English


def words(choices: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """theme id -> the console's word for it, for every theme any venue offers."""
    return {t: word(t, LANG) for ids in choices.values() for t in ids}


def themes_text(themes: Iterable[str]) -> str:
    """The alert's themes in words.

    >>> themes_text(["food", "wait"]), themes_text([])
    ('food, waiting', '–')
    """
    return ", ".join(word(t, LANG) for t in themes) or "–"


def render_control(alert: dict[str, Any], csrf: str, choices: Iterable[str]) -> str:
    """The alert's themes, and a form to change them (one checkbox per theme the venue
    knows), posted to `/api/v1/alerts/{ref}/themes`."""
    ref = escape(str(alert.get("ref", "")))
    mine = set(alert.get("themes") or ())
    boxes = "".join(
        f'<label class="theme-choice"><input type="checkbox" name="theme" value="{escape(t)}"'
        f"{' checked' if t in mine else ''}> {escape(word(t, LANG))}</label>"
        for t in choices
    )
    form = (
        f'<details class="themes-edit"><summary>Change themes</summary>'
        f'<form method="post" class="act themes-form" action="/api/v1/alerts/{ref}/themes">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">{boxes}'
        '<button type="submit" class="btn-themes">Save themes</button></form></details>'
        if boxes
        else ""
    )
    return (
        f'<p class="themes"><span class="themes-label">Themes:</span> '
        f'<span class="themes-list">{escape(themes_text(sorted(mine)))}</span></p>{form}'
    )


def render_panel(choices: dict[str, tuple[str, ...]]) -> str:
    """The (script-filled) panel of top themes, with the words the script needs."""
    data = escape(json.dumps({"choices": choices, "words": words(choices)}, ensure_ascii=False))
    return (
        f'<section class="top-themes" aria-labelledby="themes-h" data-themes="{data}">'
        '<h2 id="themes-h">Top themes, last hour</h2><div id="themes-top">'
        '<noscript><p><a href="/api/v1/themes">Themes (JSON)</a></p></noscript></div></section>'
    )
