"""Text normalisation for short Spanish and English feedback (SMS, web form).

Pure: a string in, tokens out. The sentiment model reads these tokens, so SMS spelling
("xq", "thx"), stretched words ("buenooo"), emoji and negation all reach it in one form.
"""

from __future__ import annotations

import logging
import re
import unicodedata

logger = logging.getLogger(__name__)

EMO_POS = "emo_pos"
EMO_NEG = "emo_neg"
NEG_PREFIX = "neg_"
NUM = "num"
NEGATION_SCOPE = 3  # tokens after a negator that it flips; short messages rarely negate further

_POS_EMOJI = "😀😃😄😁😆😊🙂😉😍🥰😘😋😎🤩👍👌👏🙌💯💪❤💕💖💗💙💚💛💜🧡🤍⭐🌟✨🎉🥳😻🤗✅🔥🙏"
_NEG_EMOJI = "😠😡🤬😤😞😟😢😭😩😫😒🙄😖😣😔😕🙁☹🤢🤮👎💩😱😨😰🥵🥶🤦😑😐💔❌⛔🚫😬😪🤯"
# Emoticons are matched before any other step, while their punctuation is still there.
_EMOTICONS = {
    ":)": EMO_POS,
    ":-)": EMO_POS,
    ":D": EMO_POS,
    ":-D": EMO_POS,
    "xD": EMO_POS,
    "XD": EMO_POS,
    ";)": EMO_POS,
    "<3": EMO_POS,
    ":(": EMO_NEG,
    ":-(": EMO_NEG,
    ":'(": EMO_NEG,
    ":/": EMO_NEG,
    ":-/": EMO_NEG,
    ">:(": EMO_NEG,
}
_EMOTICON_RE = re.compile(
    r"(?<!\w)(" + "|".join(re.escape(e) for e in sorted(_EMOTICONS, key=len, reverse=True)) + r")"
)

# SMS spelling, after folding to lowercase ASCII. One-letter keys are kept to the ones that are
# almost never words in their own right in SMS ("q", "k", "u", "x", "d").
ABBREVIATIONS: dict[str, str] = {
    # Spanish
    "q": "que",
    "k": "que",
    "ke": "que",
    "qe": "que",
    "xq": "porque",
    "pq": "porque",
    "xk": "porque",
    "pk": "porque",
    "porq": "porque",
    "tb": "tambien",
    "tmb": "tambien",
    "tmbn": "tambien",
    "tbn": "tambien",
    "bn": "bien",
    "mb": "muy bien",
    "mxb": "muy bien",
    "x": "por",
    "d": "de",
    "dnd": "donde",
    "xfa": "por favor",
    "xfavor": "por favor",
    "porfa": "por favor",
    "pf": "por favor",
    "grax": "gracias",
    "grcs": "gracias",
    "grs": "gracias",
    "gcs": "gracias",
    "nd": "nada",
    "msj": "mensaje",
    "toy": "estoy",
    "tamos": "estamos",
    "aki": "aqui",
    "kiero": "quiero",
    "mxo": "mucho",
    "muxo": "mucho",
    "mcho": "mucho",
    "dmasiado": "demasiado",
    "ntp": "no te preocupes",
    "tqm": "te quiero mucho",
    "bss": "besos",
    "salu2": "saludos",
    "hrs": "horas",
    # English
    "u": "you",
    "ur": "your",
    "r": "are",
    "pls": "please",
    "plz": "please",
    "plse": "please",
    "thx": "thanks",
    "thnx": "thanks",
    "thks": "thanks",
    "tks": "thanks",
    "ty": "thank you",
    "bc": "because",
    "bcoz": "because",
    "cuz": "because",
    "coz": "because",
    "b4": "before",
    "gr8": "great",
    "l8": "late",
    "l8r": "later",
    "2day": "today",
    "2nite": "tonight",
    "w": "with",
    "wo": "without",
    "idk": "i dont know",
    "omg": "oh my god",
    "ppl": "people",
    "im": "i am",
    "ive": "i have",
    "wtf": "what the fuck",
    "smh": "shaking my head",
    "tho": "though",
    "rly": "really",
    "realy": "really",
    "v": "very",
    "vry": "very",
    "gud": "good",
    "gd": "good",
    "luv": "love",
    "nvr": "never",
    "srsly": "seriously",
    "ok": "ok",
    "okay": "ok",
}

NEGATORS = frozenset(
    [
        "no",
        "not",
        "never",
        "nothing",
        "nobody",
        "none",
        "neither",
        "nor",
        "cant",
        "cannot",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "wasnt",
        "arent",
        "werent",
        "wont",
        "wouldnt",
        "couldnt",
        "shouldnt",
        "aint",
        "havent",
        "hasnt",
        "hadnt",
        "without",
        "hardly",
        "nunca",
        "ni",
        "nada",
        "nadie",
        "jamas",
        "tampoco",
        "sin",
        "ningun",
        "ninguna",
        "ninguno",
    ]
)
# A contrast word starts a new clause: "no era caro pero malo" must not flip "malo".
_SCOPE_BREAKERS = frozenset(
    ["but", "pero", "sino", "aunque", "however", "although", "though", "yet"]
)
_PUNCT_BREAK = frozenset(".,;:!?")
_PUNCT_KEPT = frozenset("!?")  # they carry tone; the rest only end a negation scope

_TOKEN_RE = re.compile(r"[a-z0-9_]+|[.,;:!?]")
_APOSTROPHE_RE = re.compile(r"[’'`´]")
_RUN3_RE = re.compile(r"([a-z])\1{2,}")
_DIGIT_RE = re.compile(r"\d")


def fold(text: str) -> str:
    """Lowercase and strip accents, keeping ñ as n (SMS drops accents anyway).

    >>> fold("Atención PÉSIMA, señor")
    'atencion pesima, senor'
    """
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _emoji_to_tokens(text: str) -> str:
    text = _EMOTICON_RE.sub(lambda m: f" {_EMOTICONS[m.group(1)]} ", text)
    out: list[str] = []
    for ch in text:
        if ch in _POS_EMOJI:
            out.append(f" {EMO_POS} ")
        elif ch in _NEG_EMOJI:
            out.append(f" {EMO_NEG} ")
        else:
            out.append(ch)
    return "".join(out)


# English words whose doubled vowel a stretch would lose ("goooood" must not become "god").
DOUBLE_VOWEL_WORDS = frozenset(
    ["good", "food", "cool", "too", "soon", "sweet", "feel", "need", "free", "beer", "coffee",
     "room", "book", "look", "took", "mood", "poor", "door", "floor", "see", "seen", "meet",
     "week", "sleep", "cheese", "green", "three", "agree", "yummy", "yum", "boo"]
)  # fmt: skip


def squeeze(word: str) -> str:
    """Collapse a letter stretched three times or more: to one in vowels, else to two, unless
    the word is one of the English words with a double vowel.

    Doubled consonants are real words in both languages ("llegar", "coffee", "arroz").

    >>> squeeze("buenooo"), squeeze("goooood"), squeeze("siiii"), squeeze("mallll")
    ('bueno', 'good', 'si', 'mall')
    """
    if not _RUN3_RE.search(word):  # nearly every word: nothing to squeeze
        return word
    two = _RUN3_RE.sub(lambda m: m.group(1) * 2, word)
    if two in DOUBLE_VOWEL_WORDS:
        return two
    return _RUN3_RE.sub(lambda m: m.group(1) if m.group(1) in "aeiou" else m.group(1) * 2, word)


def _expand(token: str) -> list[str]:
    if token in ABBREVIATIONS:
        return ABBREVIATIONS[token].split()
    if _DIGIT_RE.search(token):
        return [NUM]
    return [token]


def tokens(text: str) -> list[str]:
    """Normalised tokens of `text`; the input is not modified.

    >>> tokens("El bus llegó tardeee 😡 xq el chofer no paró!!")
    ['el', 'bus', 'llego', 'tarde', 'emo_neg', 'porque', 'el', 'chofer', 'no', 'neg_paro', '!', '!']
    >>> tokens("Food wasn't good at all, but thx :)")
    ['food', 'wasnt', 'neg_good', 'neg_at', 'neg_all', 'but', 'thanks', 'emo_pos']
    >>> tokens("waited 45 min 4 the 8:15 bus")
    ['waited', 'num', 'min', 'num', 'the', 'num', 'num', 'bus']
    """
    text = _APOSTROPHE_RE.sub("", _emoji_to_tokens(text))
    raw = _TOKEN_RE.findall(fold(text))
    out: list[str] = []
    scope = 0
    for tok in raw:
        for word in _expand(squeeze(tok)):
            if word in _PUNCT_BREAK or word in _SCOPE_BREAKERS:
                scope = 0
                if word not in _PUNCT_BREAK or word in _PUNCT_KEPT:
                    out.append(word)
            elif word in NEGATORS:
                scope = NEGATION_SCOPE
                out.append(word)
            elif scope > 0 and not word.startswith("emo_"):
                scope -= 1
                out.append(NEG_PREFIX + word)
            else:
                out.append(word)
    return out


def normalize(text: str) -> str:
    """`tokens` joined by spaces: the form the sentiment model reads.

    >>> normalize("Pésimo servicio, NUNCA más 👎")
    'pesimo servicio nunca neg_mas emo_neg'
    >>> normalize("gr8 hotel, staff v friendly 😍😍")
    'great hotel staff very friendly emo_pos emo_pos'
    """
    return " ".join(tokens(text))
