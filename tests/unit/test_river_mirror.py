"""`river_mirror` learns and predicts as river's pipeline does, bit for bit.

Two models learn the same texts, one through river's `Pipeline.learn_one` (and
`predict_proba_one`), one through `SentimentModel` (the mirror); their predictions and their
whole state (document counts, weights, AdaGrad's sums and iteration counts) are compared with
`==` on floats, not `approx`.
"""

from __future__ import annotations

import random
from typing import Any

from pipeline.scoring.normalize import normalize
from pipeline.scoring.sentiment import TEXT, SentimentModel
from pipeline.seed_corpus import read_seed_corpus
from pipeline.sentiment_snapshot import prediction_from


def river_predict(model: SentimentModel, text: str) -> Any:
    return prediction_from(model._pipeline.predict_proba_one({TEXT: normalize(text)}))


def river_learn(model: SentimentModel, text: str, label: str) -> None:
    model._pipeline.learn_one({TEXT: normalize(text)}, label)


def state(model: SentimentModel) -> dict[str, Any]:
    words, chars, clf = model._parts()
    return {
        "dfs": (dict(words.dfs), words.n, dict(chars.dfs), chars.n),
        "weights": {label: dict(w) for label, w in clf.weights.items()},
        "g2": {label: dict(o.g2) for label, o in clf.optimizers.items()},
        "iterations": {label: o.n_iterations for label, o in clf.optimizers.items()},
    }


def test_learning_the_seed_corpus_gives_river_s_model_bit_for_bit() -> None:
    rows = read_seed_corpus()
    random.Random(7).shuffle(rows)
    rows = [*rows, ("", "neutral", "es"), ("¡¡¡ 😡", "negative", "es"), ("ok", "positive", "en")]
    ours, theirs = SentimentModel(), SentimentModel()
    for n, (text, label, lang) in enumerate(rows):
        if n % 7 == 0:  # predictions along the way, untrained first
            assert ours.predict(text) == river_predict(theirs, text), text
        ours.learn_predict(text, label, lang) if n % 2 else ours.learn(text, label, lang)
        river_learn(theirs, text, label)
    assert state(ours) == state(theirs)
    assert ours.n_terms == theirs.n_terms > 30_000
    for text, _, _ in rows[:500]:
        assert ours.predict(text) == river_predict(theirs, text), text


def test_a_model_learned_by_river_goes_on_learning_here_as_in_river() -> None:
    rows = read_seed_corpus()[:300]
    first = SentimentModel()
    for text, label, _ in rows[:200]:
        river_learn(first, text, label)
    ours = SentimentModel.from_bytes(first.to_bytes())
    theirs = SentimentModel.from_bytes(first.to_bytes())
    for text, label, _ in rows[200:]:
        ours.learn(text, label)
        river_learn(theirs, text, label)
    assert state(ours) == state(theirs)


def test_a_pipeline_laid_out_otherwise_learns_through_river_s_own_path(monkeypatch: Any) -> None:
    from pipeline.scoring import river_mirror

    monkeypatch.setattr(river_mirror, "supported", lambda parts: False)
    monkeypatch.setattr(river_mirror, "learn", None)  # would raise if called
    monkeypatch.setattr(river_mirror, "predict_proba", None)
    rows = read_seed_corpus()[:100]
    ours, theirs = SentimentModel(), SentimentModel()
    for text, label, _ in rows:
        ours.learn_predict(text, label)
        river_learn(theirs, text, label)
    assert state(ours) == state(theirs) and ours.version == 100
    assert ours.predict(rows[0][0]) == river_predict(theirs, rows[0][0])
