"""What one location's supervisors taught: learned phrase → theme counts, bounded.

Pure. A supervisor's correction says "these are the themes of this text". Three things are
learned from it:

- the exact text (normalised, kept as a digest) and its themes, so the same message is
  tagged as corrected at once;
- for each feature of the text (a stemmed content word, two adjacent words, or a negated
  verb), how many corrected messages had it and how many of those had each theme. A feature
  names a theme once it was seen with it in `MIN_SUPPORT` messages or more and its precision
  `count / (n + 1)` (one message of doubt) reaches `MIN_PRECISION`: "no para en Cibeles",
  corrected to `punctuality` twice, tags the next "la 42 tampoco paró en cibeles". Below
  `CONFIDENT` it only tags messages where the lexicon found no theme;
- a lone word (or a word beside an article: "en cibeles") needs negative evidence to be
  scarce as well: corrections that confirm other themes count against it, and it names a
  theme only if seen without it less than once per `SINGLE_ODDS` times with it. A place name
  is in every complaint of its venue and in its other corrections too ("en Cibeles subió
  mucha gente", `crowding`), so "bajé en Cibeles, ok" is not tagged; "no para" is a phrase;
- for each lexicon phrase that fired, how often its theme was kept. A phrase that
  supervisors removed `SUPPRESS_MIN` times or more, and kept less than half of the time, is
  switched off at this location only.

State is plain counts, so it is deterministic, picklable and JSON-able (`to_doc`), and it is
bounded: at most `MAX_FEATURES` features (the least used go first) and `MAX_EXACT` texts.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

DOC_VERSION = 1
MAX_FEATURES = 2000
MAX_EXACT = 200
MIN_SUPPORT = 2
MIN_PRECISION = 0.6
CONFIDENT = 0.9  # below it, a learned theme only fills in where the lexicon found nothing
SUPPRESS_MIN = 2
# A lone word (a place name, a line number) turns up in corrections of every theme at its
# venue: it names a theme only when corrections show it without that theme at most once in
# this many times with it ("Cibeles" in 40 `punctuality` and 10 other corrections does not).
SINGLE_ODDS = 9
STEM = 6  # a word's first six letters: plurals and most inflections of es + en fall together

# Words that say nothing about a theme on their own (Spanish and English).
STOPWORDS = frozenset(
    """a al algo ante con contra de del desde donde e el ella en entre era es esa ese eso esta
    este esto fue ha hay la las le les lo los me mi mis muy nada ni no nos o os otra otro para
    pero poco por porque que se ser si sin sobre su sus tan te toda todo todos tu un una uno
    unos y ya yo hoy ayer siempre vez veces mas menos bien mal mucho mucha
    an and are as at be been but by did didnt do dont for from had has have he her his i im in
    is it its me my no not of on or our so that the their them there they this to too very
    was wasnt we were what when with you your just again always really today""".split()  # noqa: SIM905
)
# Function words: a pair of them is no feature ("de la"), but "no para" is.
FUNCTION = frozenset(
    "a al de del el en la las lo los y o e un una the a an of in on at to and or".split()  # noqa: SIM905
)


# A negated verb is one feature whatever the negator, the clitics or auxiliaries between, and
# the inflection: "ni para", "tampoco paró", "no ha parado", "sin parar" are all "!par".
NEGATORS = frozenset(
    "no ni tampoco nunca jamas sin not never didnt doesnt dont wont isnt wasnt without".split()  # noqa: SIM905
)
BETWEEN = frozenset(
    "se me te le lo la nos les os ha han he has hemos habia habian even it has have had".split()  # noqa: SIM905
)
_SUFFIXES = ("iendo", "ieron", "ando", "aron", "ado", "ada", "ido", "ida", "aba", "ing", "ar",
             "er", "ir", "an", "en", "ed", "a", "o", "e", "s")  # fmt: skip


def stem(word: str) -> str:
    """A light es + en stem: the longest known ending off, three letters kept at least.

    >>> [stem(w) for w in ("para", "paro", "parado", "parar", "stopped", "wait")]
    ['par', 'par', 'par', 'par', 'stopp', 'wait']
    """
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def features(toks: Iterable[str]) -> tuple[str, ...]:
    """The learning features of a token sequence: stemmed content words, word pairs, and
    negated verbs (`!` and the stem).

    >>> features(("la", "42", "no", "para", "en", "cibeles"))
    ('cibele', 'no para', 'para en', 'en cibeles', '!par')
    >>> features(("tampoco", "ha", "parado"))[-1]
    '!par'
    """
    seq = tuple(toks)
    out: dict[str, None] = {}
    for t in seq:
        if len(t) > 2 and t not in STOPWORDS and not t.isdigit():
            out[t[:STEM]] = None
    for a, b in itertools.pairwise(seq):
        if not (a in FUNCTION and b in FUNCTION) and not (a.isdigit() or b.isdigit()):
            out[f"{a} {b}"] = None
    for i, t in enumerate(seq):
        if t in NEGATORS:
            j = i + 1
            while j < len(seq) and j <= i + 2 and seq[j] in BETWEEN:
                j += 1
            if j < len(seq) and seq[j] not in NEGATORS and not seq[j].isdigit():
                out["!" + stem(seq[j])] = None
    return tuple(out)


def lone_word(feature: str) -> str | None:
    """The one word a feature rests on, as a feature (its stem), or None for a real phrase. A
    word beside an article or preposition says no more than the word: "en cibeles" is
    "cibeles"; "para en" rests on "para", which is no feature of its own (a stopword).

    >>> lone_word("no para"), lone_word("en cibeles"), lone_word("cibele"), lone_word("para en")
    (None, 'cibele', 'cibele', 'para')
    >>> lone_word("!par") is None
    True
    """
    if feature.startswith("!"):
        return None
    a, _, b = feature.partition(" ")
    if not b:
        return a
    if a in FUNCTION:
        return b[:STEM]
    if b in FUNCTION:
        return a[:STEM]
    return None


def _names(rec: list[Any], theme: str, *, single: bool) -> float:
    """The precision with which a feature's record names `theme`, or 0.0 when it does not."""
    n, c = rec[0], rec[2].get(theme, 0)
    precision = c / (n + 1)
    if c < MIN_SUPPORT or precision < MIN_PRECISION:
        return 0.0
    if single and (n - c) * SINGLE_ODDS >= c:  # seen without the theme too often
        return 0.0
    return precision


def text_key(toks: tuple[str, ...]) -> str:
    """A short digest of a normalised text: the learned state keeps no customer's words whole.

    >>> text_key(("no", "para")) == text_key(("no", "para")) != text_key(("no", "paro"))
    True
    """
    return hashlib.blake2b(" ".join(toks).encode(), digest_size=8).hexdigest()


@dataclass
class LocationModel:
    """The learned theme state of one location (see the module docstring)."""

    feats: dict[str, list[Any]] = field(default_factory=dict)  # f -> [n, last_seen, {theme: c}]
    phrases: dict[str, list[int]] = field(default_factory=dict)  # phrase key -> [fired, kept]
    exact: dict[str, list[str]] = field(default_factory=dict)  # text_key -> themes
    clock: int = 0

    def learn(self, toks: tuple[str, ...], themes: tuple[str, ...], fired: dict[str, str]) -> None:
        """Learn that `toks` has exactly `themes`; `fired` maps the lexicon phrases that
        tagged it (key) to their theme."""
        self.clock += 1
        wanted = set(themes)
        key = text_key(toks)
        self.exact.pop(key, None)
        self.exact[key] = sorted(wanted)
        while len(self.exact) > MAX_EXACT:
            del self.exact[next(iter(self.exact))]
        for f in features(toks):
            rec = self.feats.setdefault(f, [0, 0, {}])
            rec[0] += 1
            rec[1] = self.clock
            for t in wanted:
                rec[2][t] = rec[2].get(t, 0) + 1
        for pkey, theme in fired.items():
            stats = self.phrases.setdefault(pkey, [0, 0])
            stats[0] += 1
            stats[1] += theme in wanted
        if len(self.feats) > MAX_FEATURES:
            self._evict()

    def _evict(self) -> None:
        # Keep the most used, then the most recent; ties by name so replicas agree.
        ranked = sorted(self.feats.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
        self.feats = dict(ranked[: MAX_FEATURES * 9 // 10])

    def remembered(self, toks: tuple[str, ...]) -> list[str] | None:
        """The themes a supervisor gave this exact text, if any."""
        return self.exact.get(text_key(toks))

    def predict(self, toks: tuple[str, ...]) -> dict[str, float]:
        """Themes that learned features name in `toks`, with the best feature's precision."""
        out: dict[str, float] = {}
        for f in features(toks):
            rec = self.feats.get(f)
            if rec is None:
                continue
            word = lone_word(f)
            base = self.feats.get(word) if word and word != f else None
            for theme in rec[2]:
                precision = _names(rec, theme, single=word is not None)
                if precision and (base is None or _names(base, theme, single=True)):
                    out[theme] = max(precision, out.get(theme, 0.0))
        return out

    def suppressed(self, phrase_key: str) -> bool:
        """True when supervisors here keep removing what this lexicon phrase tags."""
        stats = self.phrases.get(phrase_key)
        if stats is None:
            return False
        fired, kept = stats
        return fired - kept >= SUPPRESS_MIN and 2 * kept < fired

    def to_doc(self) -> dict[str, Any]:
        """A JSON-able copy of the state (for a Faust table keyed by location)."""
        return {
            "version": DOC_VERSION,
            "clock": self.clock,
            "features": {
                f: [r[0], r[1], dict(sorted(r[2].items()))] for f, r in self.feats.items()
            },
            "phrases": {k: list(v) for k, v in self.phrases.items()},
            "exact": [[k, list(v)] for k, v in self.exact.items()],
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> LocationModel:
        """The state `to_doc` saved; ValueError for a document of another version."""
        if doc.get("version") != DOC_VERSION:
            raise ValueError(
                f"theme vocabulary version {doc.get('version')!r} is not {DOC_VERSION}"
            )
        feats = {
            str(f): [int(r[0]), int(r[1]), {str(t): int(c) for t, c in r[2].items()}]
            for f, r in doc.get("features", {}).items()
        }
        phrases = {str(k): [int(v[0]), int(v[1])] for k, v in doc.get("phrases", {}).items()}
        exact = {str(k): [str(t) for t in v] for k, v in doc.get("exact", [])}
        return cls(feats, phrases, exact, int(doc.get("clock", 0)))
