"""The language of a customer's message, as an ISO 639-1 code.

lingua (offline: its models ship in the wheel) decides among the few languages our customers
write in, in its low-accuracy mode: trigram models only, about 15 MB for seven languages
instead of 143 MB for four in high-accuracy mode. Short domain text is where that mode is weak
("Regular.", "fatal", "great food :)"), and there our own words decide: the vocabulary of the
packaged seed corpus (`pipeline/seed_corpus.py`, 5,913 lines in Spanish and English), each word
seen in at least two lines of one language and never in the other, counts as evidence for that
language, beside SMS shorthand that lingua has never seen ("xq", "tb", "thx").

The detector is built once, on first use, with its models preloaded (about a second); every
later call takes about 0.1 ms. A message whose own words already decide (`decided_by_words`:
about four in five) is not given to lingua at all, with the same answer. `warm_up()` lets a
worker pay that at start-up instead of on a customer's message. Text with too few letters
(digits, emoji, "ok") or with no clear winner returns the caller's default: the location's
language.

Measured (both defaults; `tests/unit/test_lang.py` holds the first at 97% or more):

=====================================  ==============  ============  ==========  ======
detector                               score corpus    SemEval16     Yelp        RSS
                                       (415 lines)     (es+en 3041)  (en 1000)
=====================================  ==============  ============  ==========  ======
high accuracy, es en pt fr (before)    97.8%           99.97-100%    99.9%       143 MB
low accuracy, seven, with our words    98.8-99.0%      99.5%         99.8%       15 MB
  (the choice)
low accuracy, es en pt fr (no words)   93.5%
=====================================  ==============  ============  ==========  ======
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from functools import cache
from typing import TYPE_CHECKING

from pipeline.seed_corpus import read_seed_corpus

if TYPE_CHECKING:
    from lingua import LanguageDetector

logger = logging.getLogger(__name__)

LANGUAGES: tuple[str, ...] = ("es", "en", "pt", "fr", "de", "it", "ca")
MAIN = ("es", "en")  # the languages Pronto's venues serve; the others are visitors
MAIN_PRIOR = 3.0  # a message is taken to be three times likelier in a main language
MIN_LETTERS = 4  # below this lingua's guess is noise ("ok", "si"): only our words decide
MIN_CONFIDENCE = 0.3  # the winner's share of the (weighted) confidence, hints included
HINT_WEIGHT = 0.5  # added to a language's share for each of its words (97.6-97.8% at 0.25)
CORPUS_MIN_LINES = 2  # a seed word counts once seen in this many lines of one language
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


def corpus_words(rows: list[tuple[str, str, str]], min_lines: int = CORPUS_MIN_LINES,
                 ) -> dict[str, frozenset[str]]:  # fmt: skip
    """The words of each main language's seed lines that the other main language never uses.

    >>> rows = [("muy bien", "", "es"), ("muy mal", "", "es"), ("very bad", "", "en"),
    ...         ("very good", "", "en"), ("mal", "", "en")]
    >>> {lang: sorted(words) for lang, words in corpus_words(rows).items()}
    {'es': ['muy'], 'en': ['very']}
    """
    lines: dict[str, Counter[str]] = {lang: Counter() for lang in MAIN}
    for text, _, lang in rows:
        if lang in lines:
            lines[lang].update({w for w in _WORD_RE.findall(text.lower()) if len(w) > 1})
    return {
        lang: frozenset(w for w, n in seen.items() if n >= min_lines and not any(
            w in lines[other] for other in MAIN if other != lang))
        for lang, seen in lines.items()
    }  # fmt: skip


@cache
def _hints() -> dict[str, frozenset[str]]:
    words = corpus_words(read_seed_corpus())
    return {lang: _HINTS[lang] | words.get(lang, frozenset()) for lang in _HINTS}


@cache
def _detector() -> LanguageDetector:
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = [getattr(IsoCode639_1, code.upper()) for code in LANGUAGES]
    logger.info("building the language detector for %s", ", ".join(LANGUAGES))
    return (
        LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        .with_preloaded_language_models()
        .with_low_accuracy_mode()
        .build()
    )


def _get_detector() -> LanguageDetector:
    # functools.cache does not stop two threads from building it at once; the lock does.
    with _lock:
        _hints()
        return _detector()


def warm_up() -> None:
    """Build the detector now (about a second), so no message waits for it."""
    _get_detector()


def decided_by_words(hints: dict[str, int]) -> str | None:
    """The language that our words alone make the winner, whatever lingua says, or None.

    Below, each language's confidence is its share of lingua's (a number from 0 to 1, the
    shares summing to 1) plus `HINT_WEIGHT` for each of its words. A language ahead of every
    other by more than 1 / `HINT_WEIGHT` words (three, at 0.5) wins by more than any share
    can make up, and is over `MIN_CONFIDENCE`: asking lingua would not change the answer.
    About four messages in five of the corpora in `tests/data` and `../shared/data` are
    decided so, and detection on the bench's messages takes 11 instead of 41 µs.

    >>> decided_by_words({"es": 3, "en": 0}), decided_by_words({"es": 3, "en": 1})
    ('es', None)
    """
    ranked = sorted(hints.items(), key=lambda kv: kv[1], reverse=True)
    lead = ranked[0][1] - (ranked[1][1] if len(ranked) > 1 else 0)
    return ranked[0][0] if lead * HINT_WEIGHT > 1.0 else None


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
    hints = {lang: sum(w in known for w in words) for lang, known in _hints().items()}
    if sum(len(w) for w in words) < MIN_LETTERS:
        hinted = [lang for lang, n in hints.items() if n]
        return hinted[0] if len(hinted) == 1 else default
    if (decided := decided_by_words(hints)) is not None:
        return decided
    raw: dict[str, float] = {}
    for v in _get_detector().compute_language_confidence_values(text):
        lang = v.language.iso_code_639_1.name.lower()
        raw[lang] = v.value * (MAIN_PRIOR if lang in MAIN else 1.0)
    total = sum(raw.values()) or 1.0
    confidence = {lang: v / total + HINT_WEIGHT * hints.get(lang, 0) for lang, v in raw.items()}
    best = max(confidence, key=lambda lang: confidence[lang])
    return best if confidence[best] >= MIN_CONFIDENCE else default
