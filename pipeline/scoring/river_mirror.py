"""river's predict and learn for the sentiment pipeline, run on the pipeline's own state.

river's `Pipeline.learn_one` reads a text five times: each TF-IDF tokenizes it to learn its
document counts and again to transform it, and the classifier's step predicts it before its
gradient; `learn_predict` (progressive validation) normalised and tokenized it once more to
predict it first. Each step also goes through river's generic plan, and the optimizer's step
reads its learning rate once per feature. Here a text is normalised and tokenized once
(`tokens`), and the same arithmetic runs in the same order on the same objects: the TF-IDFs'
`dfs` and `n`, the softmax regression's `weights`, its AdaGrad optimizers' `g2` and
`n_iterations` (river 0.26: `feature_extraction.TFIDF`, `compose.TransformerUnion`,
`linear_model.SoftmaxRegression.learn_one`, `optim.AdaGrad._step_with_dict`). The model
after learning is the same bit for bit, predictions are the same floats
(`tests/unit/test_river_mirror.py`, the whole seed corpus), and a saved model is the same
river pipeline as before, read by either path.

A text's terms are also one set of objects, shared by the document counts and each class's
weights (river's path made a key object for each of its tokenizations): the seeded model's
snapshot pickles to 2.38 MB instead of 2.68 MB, and loads into 12.5 MB instead of 16.0 MB.

The arithmetic of one feature vector is the snapshot's (`sentiment_snapshot.py`, which
mirrors river's transform and predict for ingest), with the live counts in place of its
precomputed idfs. Pure: the pipeline's objects in, the same objects updated.

Measured (the seeded model, 2,000 shuffled seed lines, one process, the same run): a
`learn_predict` 0.305 ms here against 0.392 through river, a `learn` 0.228-0.235 against
0.284; a prediction costs the same either way (0.12-0.13 ms). In the score stage, whose
learning takes a bounded share of its loop, that is about a third more texts learned in the
same time (`score_drain --stages worker`: 434-455 texts/s against 326-333 at a 0.25 share).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from pipeline.scoring.river_lean import optim
from pipeline.sentiment_snapshot import Tokens, dot, idf, softmax, tokens, union

__all__ = ["Parts", "Tokens", "features", "learn", "predict_proba", "supported", "tokens"]

Feature = Any


class Parts(NamedTuple):
    """The pipeline's learning parts: the two TF-IDFs (word 1-2 grams, character trigrams)
    and the softmax regression."""

    words: Any
    chars: Any
    classifier: Any


def supported(parts: Parts) -> bool:
    """Whether the pipeline's parts hold what this module reads, as river 0.26 lays them out
    (a later river could move them: its own path is then taken, never a crash)."""
    words, chars, clf = parts
    return (all(hasattr(step, "dfs") and hasattr(step, "n") for step in (words, chars))
            and all(hasattr(clf, a) for a in ("weights", "optimizers", "loss", "l2"))
            and type(clf.loss).__name__ == "CrossEntropy")  # fmt: skip


def _idf_of(tfidf_step: Any) -> Callable[[Feature], float]:
    """A TF-IDF's idf of a term now, as its `transform_one` computes it."""
    dfs, n = tfidf_step.dfs, tfidf_step.n
    get = dfs.get
    return lambda term: idf(get(term, 0), n)


def features(parts: Parts, t: Tokens) -> dict[Feature, float]:
    """The union's output for a text read, from the TF-IDFs' counts now."""
    return union(t, _idf_of(parts.chars), _idf_of(parts.words))


def predict_proba(parts: Parts, t: Tokens) -> dict[str, float]:
    """`Pipeline.predict_proba_one`: each class's probability (empty when untrained)."""
    return proba_of(parts.classifier, features(parts, t))


def proba_of(classifier: Any, x: dict[Feature, float]) -> dict[str, float]:
    """`SoftmaxRegression.predict_proba_one` on a feature vector."""
    return softmax({label: dot(w, x) for label, w in classifier.weights.items()})


def learn(parts: Parts, t: Tokens, label: str) -> None:
    """`Pipeline.learn_one({"text": normalised}, label)`: the TF-IDFs count the document, then
    the classifier takes one AdaGrad step on the features it now gives."""
    for step, terms in ((parts.words, t.words), (parts.chars, t.chars)):  # the union's order
        step.dfs.update(set(terms))
        step.n += 1
    x = features(parts, t)
    clf = parts.classifier
    for lbl, weights in clf.weights.items():
        clf.optimizers[lbl].look_ahead(w=weights)
    y_pred = proba_of(clf, x)
    l2 = clf.l2
    for lbl, loss in clf.loss.gradient(y_true=label, y_pred=y_pred).items():
        weights = clf.weights[lbl]
        gradient = {i: xi * loss + l2 * weights.get(i, 0) for i, xi in x.items()}
        optimizer = clf.optimizers[lbl]
        if type(optimizer) is optim.AdaGrad:
            _adagrad_step(optimizer, weights, gradient)
        else:
            clf.weights[lbl] = optimizer.step(w=weights, g=gradient)


def _adagrad_step(optimizer: Any, w: dict[Feature, float], g: dict[Feature, float]) -> None:
    """`AdaGrad.step` on dicts (`_step_with_dict`), its learning rate read once: it depends
    only on `n_iterations`, which moves after the loop."""
    lr = optimizer.learning_rate
    g2, eps = optimizer.g2, optimizer.eps
    for i, gi in g.items():
        g2[i] += gi**2
        w[i] -= lr / (g2[i] + eps) ** 0.5 * gi
    optimizer.n_iterations += 1
