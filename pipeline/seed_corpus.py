"""The packaged seed corpus (`pipeline/scoring/seed_corpus.tsv`): our own Spanish and English
feedback lines, each with its sentiment and its language.

Shared: the score stage's model learns it first, and ingest's language detector takes its
vocabulary as evidence. Reading it imports no stage.
"""

from __future__ import annotations

from importlib import resources

SEED_CORPUS = "seed_corpus.tsv"
PACKAGE = "pipeline.scoring"  # where the file ships


def read_seed_corpus() -> list[tuple[str, str, str]]:
    """The seed corpus as (text, label, lang) rows.

    >>> text, label, lang = read_seed_corpus()[0]
    >>> label in ("negative", "neutral", "positive"), lang in ("es", "en")
    (True, True)
    """
    raw = resources.files(PACKAGE).joinpath(SEED_CORPUS).read_text(encoding="utf-8")
    rows: list[tuple[str, str, str]] = []
    for line in raw.splitlines()[1:]:
        if line.strip():
            text, label, lang = line.split("\t")
            rows.append((text, label, lang))
    return rows
