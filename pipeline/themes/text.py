"""Text to theme tokens: case and accent folding, stretched letters, apostrophes.

Pure. Themes need less than sentiment does (no negation marks, no emoji), and they must be
cheap: one regex pass and a squeeze per token.
"""

from __future__ import annotations

import logging
import re
import unicodedata

logger = logging.getLogger(__name__)

_TOKEN_RE = re.compile(r"[a-z0-9]+")
_APOSTROPHE_RE = re.compile(r"[’'`´]")
_RUN3_RE = re.compile(r"([a-z])\1{2,}")
_ASCII_WORD_RE = re.compile(r"[ -~]*")
_MONEY = str.maketrans({"€": " euros ", "£": " pounds ", "$": " dollars "})


def fold(text: str) -> str:
    """Lowercase, strip accents (ñ becomes n), spell out € £ $, drop apostrophes.

    >>> fold("Carísimo, 15€ ¡NO volveré! didn't")
    'carisimo, 15 euros  ¡no volvere! didnt'
    >>> fold("£2.80 or $3")
    ' pounds 2.80 or  dollars 3'
    """
    lowered = _APOSTROPHE_RE.sub("", text.lower())
    if "€" in lowered or "£" in lowered or "$" in lowered:
        lowered = lowered.translate(_MONEY)
    if _ASCII_WORD_RE.fullmatch(lowered):  # most SMS: nothing to decompose
        return lowered
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def squeeze(word: str) -> str:
    """Collapse a letter stretched three times or more: vowels to one, consonants to two.

    >>> squeeze("tardeee"), squeeze("sucioooo"), squeeze("llleno"), squeeze("cafe")
    ('tarde', 'sucio', 'lleno', 'cafe')
    """
    if not _RUN3_RE.search(word):
        return word
    return _RUN3_RE.sub(lambda m: m.group(1) if m.group(1) in "aeiou" else m.group(1) * 2, word)


def tokens(text: str) -> tuple[str, ...]:
    """The theme tokens of `text`: folded ASCII words and numbers, in order.

    >>> tokens("El check-in tardóooo 40 min, y la cama… ¡SUCIA!")
    ('el', 'check', 'in', 'tardo', '40', 'min', 'y', 'la', 'cama', 'sucia')
    """
    return tuple(squeeze(t) for t in _TOKEN_RE.findall(fold(text)))
