"""The lexicon: `lexicon.tsv`, loaded into compiled phrases per venue kind.

Pure. The file is ours (Spanish and English side by side); a row names a theme, the kinds it
applies to, and its phrases. Each language's phrases apply to every message: language
detection is unreliable on a four-word SMS, and the two vocabularies rarely collide.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from importlib import resources

from pipeline.themes.phrases import Phrase, compile_phrase
from pipeline.themes.taxonomy import TAXONOMY

logger = logging.getLogger(__name__)


def parse_lexicon(text: str) -> dict[str, tuple[Phrase, ...]]:
    """Phrases per venue kind, from the TSV text of a lexicon.

    >>> lex = parse_lexicon("food\\trestaurant\\tcomida; plato*\\nstaff\\t*\\tamable")
    >>> [p.key for p in lex["restaurant"]]
    ['food:comida', 'food:plato*', 'staff:amable']
    >>> [p.key for p in lex["bus"]]
    ['staff:amable']
    """
    out: dict[str, list[Phrase]] = {kind: [] for kind in TAXONOMY}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        theme, kinds, phrases = line.split("\t")
        targets = [k for k, ids in TAXONOMY.items() if theme in ids]
        if kinds != "*":
            targets = [k for k in kinds.split(",") if k in targets]
        if not targets:
            raise ValueError(f"lexicon line {n}: no kind has theme {theme!r} in {kinds!r}")
        compiled = [compile_phrase(theme, p) for p in phrases.split(";") if p.strip()]
        for kind in targets:
            out[kind].extend(compiled)
    return {kind: tuple(phrases) for kind, phrases in out.items()}


@lru_cache(maxsize=1)
def default_lexicon() -> dict[str, tuple[Phrase, ...]]:
    """The packaged lexicon, parsed once per process."""
    text = resources.files("pipeline.themes").joinpath("lexicon.tsv").read_text("utf-8")
    return parse_lexicon(text)
