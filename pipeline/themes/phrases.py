"""Phrase patterns and the index that finds them in a message's tokens.

Pure. A pattern is a phrase of words, folded like the text (`text.tokens`):

- `word` matches the token itself and its plural (`word` + `s` / `es`);
- `word*` matches any token that starts with `word` (three letters at least): light stemming
  for Spanish and English inflections (`suci*`: sucio, sucia, suciedad);
- `?` matches any one token (`salt* ? parada`: "se saltó la parada", "salta mi parada");
- `!word` / `!word*` says the next token is NOT that word (or the text ends there); it
  consumes nothing (`llen* !de`: "iba lleno", not "lleno de chicles");
- a leading `~` makes the phrase weak: it counts only when no strong phrase of any theme
  matched the message ("el conductor" names `staff` in "el conductor se perdió", but not in
  "el conductor iba a toda pastilla y frenaba de golpe", which is about `safety`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from pipeline.themes.text import tokens
from pipeline.themes.typos import MIN_WORD, TypoIndex

logger = logging.getLogger(__name__)

MIN_PREFIX = 3
MAX_SPELLED = 20_000  # memo entries per index (a few MB at most), then it starts over

# Step kinds: what one pattern position asks of the token there.
EXACT, PREFIX, ANY, NOT_EXACT, NOT_PREFIX = "exact", "prefix", "any", "not_exact", "not_prefix"


@dataclass(frozen=True)
class Phrase:
    """One compiled pattern for one theme; `key` names it in learned state."""

    theme: str
    key: str
    steps: tuple[tuple[str, str], ...]
    weak: bool = False


def _step_matches(kind: str, value: str, tok: str) -> bool:
    if kind in (EXACT, NOT_EXACT):
        return tok == value or tok == value + "s" or tok == value + "es"
    if kind in (PREFIX, NOT_PREFIX):
        return tok.startswith(value)
    return True


def compile_phrase(theme: str, pattern: str) -> Phrase:
    """Compile `pattern` (syntax in the module docstring) for `theme`; ValueError if empty.

    >>> compile_phrase("crowding", "llen* !de").steps
    (('prefix', 'llen'), ('not_exact', 'de'))
    >>> compile_phrase("checkin", "Check-in").steps
    (('exact', 'check'), ('exact', 'in'))
    """
    text = pattern.strip()
    weak = text.startswith("~")
    steps: list[tuple[str, str]] = []
    for raw in text.lstrip("~").split():
        negated = raw.startswith("!")
        word = raw.lstrip("!")
        if word == "?":
            steps.append((ANY, ""))
            continue
        is_prefix = word.endswith("*")
        parts = tokens(word.rstrip("*"))
        if not parts:
            continue
        if negated and len(parts) > 1:
            raise ValueError(f"{pattern!r}: '!' takes one word")
        for n, part in enumerate(parts):
            prefix = is_prefix and n == len(parts) - 1
            if prefix and len(part) < MIN_PREFIX:
                raise ValueError(f"{pattern!r}: a prefix needs {MIN_PREFIX} letters at least")
            kind = PREFIX if prefix else EXACT
            if negated:
                kind = NOT_PREFIX if prefix else NOT_EXACT
            steps.append((kind, part))
    if not steps or steps[0][0] not in (EXACT, PREFIX):
        raise ValueError(f"{pattern!r}: a phrase starts with a word")
    return Phrase(theme, f"{theme}:{text}", tuple(steps), weak)


@dataclass
class PhraseIndex:
    """Phrases indexed by their first word, exact or prefix, for one pass over the tokens."""

    exact: dict[str, list[Phrase]] = field(default_factory=dict)
    prefix: dict[str, list[Phrase]] = field(default_factory=dict)
    prefix_lens: tuple[int, ...] = ()
    words: frozenset[str] = frozenset()  # every exact word of every step, plurals included
    stems: frozenset[str] = frozenset()  # every prefix of every step
    stem_lens: tuple[int, ...] = ()
    typos: TypoIndex = field(default_factory=TypoIndex)
    spelled: dict[str, str] = field(default_factory=dict)  # a memo: feedback repeats its words

    @classmethod
    def build(cls, phrases: Iterable[Phrase]) -> PhraseIndex:
        index = cls()
        phrases = tuple(phrases)
        words = {v for p in phrases for k, v in p.steps if k == EXACT}
        stems = {v for p in phrases for k, v in p.steps if k == PREFIX}
        index.words = frozenset(w + end for w in words for end in ("", "s", "es"))
        index.stems = frozenset(stems)
        index.stem_lens = tuple(sorted({len(v) for v in stems}))
        index.typos = TypoIndex.build(words, stems)
        for p in phrases:
            kind, value = p.steps[0]
            if kind == PREFIX:
                index.prefix.setdefault(value, []).append(p)
            else:
                for key in (value, value + "s", value + "es"):
                    index.exact.setdefault(key, []).append(p)
        index.prefix_lens = tuple(sorted({len(k) for k in index.prefix}))
        return index

    def match(self, toks: tuple[str, ...]) -> list[Phrase]:
        """The phrases found in `toks`, each once, in order of first appearance. A phrase found
        only inside a longer one is dropped: "front desk" is `staff`, not the `room`'s "desk".

        >>> idx = PhraseIndex.build([compile_phrase("wait", "tard*"),
        ...                          compile_phrase("food", "comida"), compile_phrase("x", "no")])
        >>> [p.theme for p in idx.match(tokens("Comidas frías y tardaron"))]
        ['food', 'wait']
        >>> idx = PhraseIndex.build([compile_phrase("room", "desk"),
        ...                          compile_phrase("staff", "front desk")])
        >>> [p.theme for p in idx.match(tokens("the front desk, and the desk"))]
        ['staff', 'room']
        >>> [p.theme for p in idx.match(tokens("the front desk"))]
        ['staff']
        """
        toks = tuple(self._spelled(t) for t in toks)
        spans: dict[str, list[tuple[int, int]]] = {}
        found: dict[str, Phrase] = {}
        n = len(toks)
        for i, tok in enumerate(toks):
            cands = self.exact.get(tok, [])
            for k in self.prefix_lens:
                if k > len(tok):
                    break
                more = self.prefix.get(tok[:k])
                if more:
                    cands = cands + more
            for p in cands:
                end = _match_end(p.steps, toks, i + 1, n)
                if end:
                    found.setdefault(p.key, p)
                    spans.setdefault(p.key, []).append((i, end))
        if len(found) < 2:
            return list(found.values())
        every = [span for key in found for span in spans[key]]
        return [p for key, p in found.items() if not all(_inside(s, every) for s in spans[key])]

    def _spelled(self, tok: str) -> str:
        """`tok`, or the lexicon word it is one slip from (`typos`) if the lexicon does not
        know it as it is.

        >>> idx = PhraseIndex.build([compile_phrase("wait", "retras*"),
        ...                          compile_phrase("cleanliness", "asqueros*")])
        >>> [p.theme for p in idx.match(tokens("un retrazo asquerso"))]
        ['wait', 'cleanliness']
        """
        if len(tok) < MIN_WORD or tok in self.words:
            return tok
        done = self.spelled.get(tok)
        if done is not None:
            return done
        known = any(tok[:k] in self.stems for k in self.stem_lens if k <= len(tok))
        fixed = tok if known else self.typos.fix(tok) or tok
        if len(self.spelled) >= MAX_SPELLED:
            self.spelled.clear()
        self.spelled[tok] = fixed
        return fixed


def _inside(span: tuple[int, int], others: list[tuple[int, int]]) -> bool:
    """True when a strictly longer span of `others` covers `span`."""
    a, b = span
    return any(c <= a and b <= d and d - c > b - a for c, d in others)


def _match_end(steps: tuple[tuple[str, str], ...], toks: tuple[str, ...], j: int, n: int) -> int:
    """Where the phrase whose first step matched at `j - 1` ends (exclusive), or 0."""
    for kind, value in steps[1:]:
        if kind in (NOT_EXACT, NOT_PREFIX):
            if j < n and _step_matches(kind, value, toks[j]):
                return 0
            continue
        if j >= n or not _step_matches(kind, value, toks[j]):
            return 0
        j += 1
    return j
