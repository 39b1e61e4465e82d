"""Polarity-lexicon features: what a word means before the model has seen it in a label.

Pure. The lexicon (`lexicon.tsv`, 3,306 Spanish and English words, valence -3..3) is the
project's own, written for restaurant, hotel and transit feedback, in the accent-free lowercase
form that `normalize` produces. A word that `normalize` marked as negated ("neg_bueno") counts
against its valence, damped; words after the last "but"/"pero" weigh more than those before it
(the verdict usually comes last); an intensifier ("muy", "so") strengthens the next word.

The features feed the online model beside TF-IDF, so a message full of words it has not learned
yet is still scored sensibly; the model learns how much to trust them.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib import resources

from pipeline.scoring.normalize import EMO_NEG, EMO_POS, NEG_PREFIX

logger = logging.getLogger(__name__)

LEXICON_FILE = "lexicon.tsv"
NEGATED = -0.75  # a negated word keeps some of its weight, flipped: "not great" is mildly bad
CONTRAST = frozenset({"but", "however", "though", "although", "pero", "aunque", "sino"})
INTENSIFIERS = frozenset(
    {"very", "so", "super", "really", "too", "extremely", "absolutely", "totally", "incredibly",
     "muy", "tan", "demasiado", "bastante", "totalmente", "mega", "re"}
)  # fmt: skip
BEFORE_CONTRAST, AFTER_CONTRAST, INTENSIFIED = 0.5, 1.5, 1.3
SCALE = 2.0
EMOJI = {EMO_POS: 2, EMO_NEG: -2}


@cache
def load_lexicon() -> dict[str, int]:
    """The packaged lexicon: {word: valence}."""
    raw = resources.files("pipeline.scoring").joinpath(LEXICON_FILE).read_text(encoding="utf-8")
    out: dict[str, int] = {}
    for line in raw.splitlines()[1:]:
        if line.strip():
            word, valence = line.split("\t")
            out[word] = int(valence)
    return out


def polarity(tokens: list[str], lexicon: dict[str, int]) -> tuple[float, float]:
    """(positive, negative) weight of normalised tokens; both are >= 0.

    >>> lex = {"bueno": 2, "lento": -1, "great": 3}
    >>> polarity("muy bueno".split(), lex)
    (2.6, 0.0)
    >>> polarity("no neg_bueno".split(), lex)
    (0.0, 1.5)
    >>> polarity("great food but lento".split(), lex)  # the verdict after "but" weighs more
    (1.5, 1.5)
    """
    contrast = max((i for i, t in enumerate(tokens) if t in CONTRAST), default=-1)
    pos = neg = 0.0
    for i, token in enumerate(tokens):
        negated = token.startswith(NEG_PREFIX)
        word = token[len(NEG_PREFIX) :] if negated else token
        valence = EMOJI.get(word, lexicon.get(word))
        if valence is None:
            continue
        v = float(valence) * (NEGATED if negated else 1.0)
        if contrast >= 0:
            v *= BEFORE_CONTRAST if i < contrast else AFTER_CONTRAST
        if i and tokens[i - 1].removeprefix(NEG_PREFIX) in INTENSIFIERS:
            v *= INTENSIFIED
        if v > 0:
            pos += v
        else:
            neg -= v
    return round(pos, 6), round(neg, 6)


def lexicon_features(normalized: str) -> dict[str, float]:
    """The model's lexicon features for a normalised text.

    >>> f = lexicon_features("la comida buenisima emo_pos")
    >>> f["lex_pos"] > 0 and f["lex_neg"] == 0 and f["lex_balance"] > 0.5
    True
    """
    pos, neg = polarity(normalized.split(), load_lexicon())
    return {
        "lex_pos": pos / SCALE,
        "lex_neg": neg / SCALE,
        "lex_balance": (pos - neg) / (pos + neg + 1.0),
    }
