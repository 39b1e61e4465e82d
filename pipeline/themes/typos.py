"""Typo tolerance for the lexicon: one slip (edit distance 1) in a word of six letters or more.

Pure. SMS feedback is typed fast: "horible", "asquerso", "rertaso". A symmetric-deletes index
(each long lexicon word, and the six-letter head of each long prefix stem, under itself and
every one-letter deletion) is built once per lexicon, so a token costs a few dozen dict
lookups, and a candidate is then checked to be exactly one slip away.

No guess is made when a token is one slip from two lexicon words, or when the slip is at the
word's last letter: that is where Spanish and English inflect ("esperó" is no slip of
"espera"). A token the lexicon knows as it is never changed. Real words one slip from a
lexicon word ("parking" from "barking") are listed in `NOT_TYPOS`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

MIN_WORD = 6  # shorter words are too close to each other: "calor" / "color", "tarde" / "tarte"
HEAD = 6  # a prefix stem is matched with a slip in its first six letters ("caris*" is too short)

# Words customers write that are one slip from a lexicon word but mean something else.
NOT_TYPOS = frozenset(
    """parking seating beating eating wanting cooking looking hooking booked cooked looked
    sitting setting bitter butter dinner winner pedimos servir sirvio cantar contar listos
    entrado llegaba llegado salido saludo cambia camion camino water watered cocina""".split()  # noqa: SIM905
)


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def slip_at(a: str, b: str) -> int:
    """Where `a` is one slip from `b` (a letter dropped, added, changed, or two swapped), as an
    index into `b`; -1 when it is not exactly one slip away.

    >>> slip_at("horible", "horrible"), slip_at("rertaso", "retraso"), slip_at("espero", "espera")
    (3, 2, 5)
    >>> slip_at("retraso", "retraso"), slip_at("tarde", "torta")
    (-1, -1)
    """
    if a == b or abs(len(a) - len(b)) > 1:
        return -1
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        if a[i + 1 :] == b[i + 1 :]:
            return i
        swapped = i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i]
        return i if swapped and a[i + 2 :] == b[i + 2 :] else -1
    if len(a) < len(b):
        return i if a[i:] == b[i + 1 :] else -1
    return i if a[i + 1 :] == b[i:] else -1


@dataclass
class TypoIndex:
    """Long lexicon words and stem heads, under themselves and their one-letter deletions."""

    words: dict[str, set[str]] = field(default_factory=dict)
    stems: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, exact: Iterable[str], prefixes: Iterable[str]) -> TypoIndex:
        """From the lexicon's exact words and prefix stems (short ones are left out)."""
        index = cls()
        for w in set(exact):
            if len(w) >= MIN_WORD:
                for key in (w, *_deletes(w)):
                    index.words.setdefault(key, set()).add(w)
        for p in set(prefixes):
            if len(p) >= HEAD:
                for key in (p[:HEAD], *_deletes(p[:HEAD])):
                    index.stems.setdefault(key, set()).add(p)
        return index

    def fix(self, tok: str) -> str | None:
        """The lexicon form of a mistyped `tok` (a word, or a stem and the token's ending), or
        None. The caller asks only for tokens the lexicon does not know as they are.

        >>> idx = TypoIndex.build(["horrible", "barking", "espera"], ["retras"])
        >>> idx.fix("horible"), idx.fix("rertaso"), idx.fix("parking"), idx.fix("espero")
        ('horrible', 'retraso', None, None)
        >>> idx.fix("retrazo"), idx.fix("retarso"), idx.fix("retaso")
        ('retraso', 'retraso', None)
        """
        if len(tok) < MIN_WORD or tok in NOT_TYPOS or not tok.isalpha():
            return None
        found: set[str] = set()
        for key in (tok, *_deletes(tok)):
            for w in self.words.get(key, ()):
                if 0 <= slip_at(tok, w) < len(w) - 1:
                    found.add(w)
        if found:
            return found.pop() if len(found) == 1 else None
        fixed: list[tuple[int, str]] = []
        # Keys are six-letter heads and their five-letter deletions: a five-letter piece can
        # only be a key itself, a seven-letter one only through its deletions.
        six = tok[:HEAD]
        for key in (tok[: HEAD - 1], six, *_deletes(six), *_deletes(tok[: HEAD + 1])):
            if len(key) < HEAD - 1:
                continue
            for p in self.stems.get(key, ()):
                end = _stem_end(tok, p)
                if end:
                    fixed.append((len(p), p + tok[end:]))
        return max(fixed)[1] if fixed else None  # the longest stem is the most specific


def _stem_end(tok: str, stem: str) -> int:
    """Where `stem`, with one slip, ends in `tok`; 0 if it does not start `tok`. A slip may
    change the stem's last letter ("retraz" for "retras") but not drop it, and a six-letter
    stem may not lose a letter at all ("cocina" is not "cochin*").

    >>> _stem_end("asquerso", "asqueros"), _stem_end("retrazo", "retras"), _stem_end("cocina", "cochin")
    (8, 6, 0)
    """
    n = len(stem)
    for end in (n, n + 1, n - 1):
        at = slip_at(tok[:end], stem)
        if at < 0 or (end < n and (n <= HEAD or at >= n - 1)):
            continue
        return end
    return 0
