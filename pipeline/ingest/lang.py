"""The language of a customer's message, as an ISO 639-1 code.

lingua (offline: its models ship in the wheel) decides among the few languages our customers
write in. The detector is built once, on first use, with its models preloaded, so the first
call pays one to four seconds (and about 200 MiB of models) and every later call about 0.1
ms; `warm_up()` lets a worker pay that at start-up instead of on a customer's message.

SMS shorthand that lingua has never seen ("xq", "tb", "thx") is a strong hint, so it is added
to lingua's confidence. Text with too few letters (digits, emoji, "ok") or with no clear winner
returns the caller's default: the location's language.
"""

from __future__ import annotations

import logging
import re
import threading
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lingua import LanguageDetector

logger = logging.getLogger(__name__)

# Four languages in high-accuracy mode: 143 MB of models. All seven of the first version
# (with ca, it, de) took 253 MB, most of the worker's 400 MB budget, for a handful of visitors.
# Smaller detectors measured on tests/data/score_corpus.tsv (both defaults), none at the 97%
# the tests ask: lingua's low-accuracy mode 93.5% (+11 MB), py3langid restricted to these four
# 96.6% (+80 MB); high accuracy for es and en alone still takes 102 MB. lingua 2.2's smaller
# models need Python 3.12.
LANGUAGES: tuple[str, ...] = ("es", "en", "pt", "fr")
MAIN = ("es", "en")  # the languages Pronto's venues serve; the others are visitors
MAIN_PRIOR = 3.0  # a message is taken to be three times likelier in a main language
MIN_LETTERS = 4  # below this lingua's guess is noise ("ok", "si"): only shorthand decides
MIN_CONFIDENCE = 0.3  # the winner's share of the (weighted) confidence, hints included
HINT_WEIGHT = 0.25  # added to a language's share for each of its shorthand words
MAX_CHARS = 1000  # the start of a long message tells its language as well as all of it


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_HINTS: dict[str, frozenset[str]] = {
    "es": _words(
        "xq pq porq q k tb tmb tbn muy gracias grax porfa xfa bn dnd tqm vale jaja jajaja "
        "jeje vaya oye un una uno cero dos tres cuatro cinco seis siete ocho nueve diez"
    ),
    "en": _words(
        "pls plz thx thnx ty tysm u ur gr8 lol omg btw idk tbh bc cuz wanna gonna thanks meh "
        "the one zero two three four five six seven eight nine ten"
    ),
}
_WORD_RE = re.compile(r"[^\W\d_]+")
_lock = threading.Lock()


@cache
def _detector() -> LanguageDetector:
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = [getattr(IsoCode639_1, code.upper()) for code in LANGUAGES]
    logger.info("building the language detector for %s", ", ".join(LANGUAGES))
    return (
        LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        .with_preloaded_language_models()
        .build()
    )


def _get_detector() -> LanguageDetector:
    # functools.cache does not stop two threads from building it at once; the lock does.
    with _lock:
        return _detector()


def warm_up() -> None:
    """Build the detector now (one to four seconds), so no message waits for it."""
    _get_detector()


def detect_language(text: str, default: str = "es") -> str:
    """The ISO 639-1 code of `text`'s language, or `default` when it cannot tell.

    >>> detect_language("el autobús llegó tarde otra vez", default="en")
    'es'
    >>> detect_language("9 😀", default="en")
    'en'
    >>> detect_language("thx!", default="es")
    'en'
    """
    if not isinstance(text, str):
        return default
    text = text[:MAX_CHARS]
    words = _WORD_RE.findall(text.lower())
    hints = {lang: sum(w in shorthand for w in words) for lang, shorthand in _HINTS.items()}
    if sum(len(w) for w in words) < MIN_LETTERS:
        hinted = [lang for lang, n in hints.items() if n]
        return hinted[0] if len(hinted) == 1 else default
    raw: dict[str, float] = {}
    for v in _get_detector().compute_language_confidence_values(text):
        lang = v.language.iso_code_639_1.name.lower()
        raw[lang] = v.value * (MAIN_PRIOR if lang in MAIN else 1.0)
    total = sum(raw.values()) or 1.0
    confidence = {lang: v / total + HINT_WEIGHT * hints.get(lang, 0) for lang, v in raw.items()}
    best = max(confidence, key=lambda lang: confidence[lang])
    return best if confidence[best] >= MIN_CONFIDENCE else default
