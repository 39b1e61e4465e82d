"""A bounded vocabulary for the online sentiment model. Pure.

River's TF-IDF keeps a document frequency for every term it has seen (words, word pairs,
character trigrams), and the softmax regression keeps, for every term and each of the three
classes, a weight and AdaGrad's sum of squared gradients: about 750 bytes of memory a term
(tracemalloc). Real feedback brings new terms for ever: names, places, typos. Learning the
4,041 labelled reviews of SemEval 2016 and Yelp after the seed corpus took the vocabulary from
37,202 terms (24 MB) to 65,201 (45 MB), and the saved model from 4.0 to 7.0 MB. Unbounded, the
score process would grow with every week of traffic, the web process with it (its snapshot
holds a weight per term), and the `pronto.model` record would one day outgrow its topic.

`prune` keeps at most `max_terms`: past that, it drops the rarest terms (lowest document
frequency; among equals, the ones first seen longest ago) down to `KEEP` of the bound, so that
it runs once for thousands of new terms, not once for each. A dropped term that comes back
starts again, as a term never seen.

Progressive validation as `pronto eval-sentiment` runs it, with the bound forced well below
what the files bring (`python -m pipeline.devtools.vocab_probe --eval`), macro-F1 without the
bound → with it: SemEval 0.6423 → 0.6439 at 40,000 terms (24,022
dropped) and 0.6405 at 50,000; Yelp 0.899 → 0.900 at 40,000. Dropping the newest first
instead, keeping the seed corpus's terms, or ranking equals by their weights did no better.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

KEEP = 0.9  # a prune leaves this share of the bound, so that it runs once for many new terms


def prune(dfs: Iterable[MutableMapping[Any, int]], classifier: Any, max_terms: int) -> int:
    """Drop terms of `dfs` (one document-frequency map per extractor) and their weights and
    optimizer state in `classifier` (river's SoftmaxRegression) until at most
    `max_terms * KEEP` remain, when more than `max_terms` do. Returns how many were dropped.

    >>> from collections import Counter
    >>> from types import SimpleNamespace
    >>> words = Counter({"old": 1, "common": 5, "new": 1, "mid": 2})
    >>> chars = Counter({"#ab": 9})
    >>> w = {"neg": {t: 0.3 for t in [*words, *chars]}}
    >>> clf = SimpleNamespace(weights=w, optimizers={"neg": SimpleNamespace(g2=dict(w["neg"]))})
    >>> prune([words, chars], clf, max_terms=4)
    2
    >>> sorted(words), sorted(clf.weights["neg"]), sorted(clf.optimizers["neg"].g2)
    (['common', 'mid'], ['#ab', 'common', 'mid'], ['#ab', 'common', 'mid'])
    >>> prune([words, chars], clf, max_terms=4)
    0
    """
    maps = list(dfs)
    total = sum(len(m) for m in maps)
    if total <= max_terms:
        return 0
    # Rarest first; `sorted` is stable, so among equals the first seen (dict order) go first.
    ranked = sorted(((df, t, m) for m in maps for t, df in m.items()), key=lambda r: r[0])
    victims = ranked[: total - int(max_terms * KEEP)]
    weights = list(classifier.weights.values())
    sums = [opt.g2 for opt in classifier.optimizers.values()]
    for _, term, m in victims:
        del m[term]
        for table in (*weights, *sums):
            table.pop(term, None)
    return len(victims)
