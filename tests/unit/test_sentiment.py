"""The sentiment model: the learner contract (river checks/common.py style) and behaviour."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.scoring.sentiment import (
    LABELS,
    Prediction,
    SentimentModel,
    label_from_score,
    read_seed_corpus,
)

TEXTS = ["el bus llegó tardísimo 😡", "great food, thx!", "a q hora cierran?", ""]


@pytest.fixture(scope="module")
def seeded() -> SentimentModel:
    return SentimentModel.with_seed_corpus()


def _fresh_trained() -> SentimentModel:
    model = SentimentModel(seed=1)
    for text, label in [("muy malo", "negative"), ("muy bueno", "positive"), ("normal", "neutral")]:
        model.learn(text, label)
    return model


LEARNERS: dict[str, Callable[[], SentimentModel]] = {
    "untrained": SentimentModel,
    "few-shot": _fresh_trained,
    "seeded": SentimentModel.with_seed_corpus,
}


@pytest.fixture(params=sorted(LEARNERS))
def learner(request: pytest.FixtureRequest) -> SentimentModel:
    return LEARNERS[request.param]()


def test_predict_does_not_change_the_model_or_its_input(learner: SentimentModel) -> None:
    learner.predict("warm-up")  # river's Pipeline caches its execution plan on first use
    state = learner.to_bytes()
    texts = copy.deepcopy(TEXTS)
    first = [learner.predict(t) for t in texts]
    second = [learner.predict(t) for t in texts]
    assert texts == TEXTS
    assert first == second
    assert learner.to_bytes() == state


def test_learn_does_not_change_its_input(learner: SentimentModel) -> None:
    text, label, lang = "servicio pésimo", "negative", "es"
    learner.learn(text, label, lang)
    assert (text, label, lang) == ("servicio pésimo", "negative", "es")


def test_pickle_round_trip_gives_identical_predictions(learner: SentimentModel) -> None:
    clone = SentimentModel.from_bytes(learner.to_bytes())
    assert [clone.predict(t) for t in TEXTS] == [learner.predict(t) for t in TEXTS]
    assert (clone.version, clone.n_learned) == (learner.version, learner.n_learned)
    clone.learn("horrible", "negative")
    learner.learn("horrible", "negative")
    assert [clone.predict(t) for t in TEXTS] == [learner.predict(t) for t in TEXTS]


def test_same_seed_gives_the_same_result() -> None:
    a, b = SentimentModel.with_seed_corpus(seed=7), SentimentModel.with_seed_corpus(seed=7)
    for text in TEXTS:
        assert a.predict(text) == b.predict(text)


def test_predictions_are_distributions(learner: SentimentModel) -> None:
    for text in TEXTS:
        pred = learner.predict(text)
        assert isinstance(pred, Prediction)
        assert set(pred.probs) == set(LABELS)
        assert sum(pred.probs.values()) == pytest.approx(1.0)
        assert pred.p_negative == pred.probs["negative"]
        assert pred.probs[pred.label] == max(pred.probs.values())


def test_untrained_model_is_uniform_and_neutral() -> None:
    pred = SentimentModel().predict("anything")
    assert pred.label == "neutral"
    assert pred.p_negative == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("score", "scale", "label"),
    [
        (1, "csat5", "negative"),
        (2, "csat5", "negative"),
        (3, "csat5", "neutral"),
        (4, "csat5", "positive"),
        (5, "csat5", "positive"),
        (0, "nps10", "negative"),
        (6, "nps10", "negative"),
        (7, "nps10", "neutral"),
        (8, "nps10", "neutral"),
        (9, "nps10", "positive"),
        (10, "nps10", "positive"),
        (0, "csat5", None),
        (6, "csat5", None),
        (11, "nps10", None),
        (-1, "nps10", None),
    ],
)
def test_label_from_score(score: int, scale: str, label: str | None) -> None:
    assert label_from_score(score, scale) == label


def test_label_from_score_rejects_unknown_scale() -> None:
    with pytest.raises(ValueError, match="scale"):
        label_from_score(3, "stars7")


def test_learn_rejects_unknown_label() -> None:
    with pytest.raises(ValueError, match="label"):
        SentimentModel().learn("hola", "angry")


def test_a_correction_shifts_the_prediction_at_once() -> None:
    model = SentimentModel.with_seed_corpus()
    text = "el conductor no esperó, pero bueno, da igual"
    before = model.predict(text, "es")
    model.learn(text, "positive", "es")
    after = model.predict(text, "es")
    assert after.probs["positive"] > before.probs["positive"]
    assert after.p_negative < before.p_negative


def test_version_and_progressive_metrics_move_with_learning() -> None:
    model = _fresh_trained()
    version = model.version
    model.learn_predict("muy malo", "negative")
    model.learn_predict("muy bueno", "positive")
    assert model.version == version + 2
    assert model.n_learned == 5
    assert model.accuracy == 1.0
    assert model.macro_f1 == 1.0


def test_seeded_model_learned_the_whole_corpus(seeded: SentimentModel) -> None:
    assert seeded.n_learned == seeded.version == len(read_seed_corpus()) >= 600


@pytest.mark.parametrize(
    ("text", "lang", "label"),
    [
        ("El bus llegó una hora tarde y el conductor fue un maleducado 😡", "es", "negative"),
        ("la comida fria y el camarero muy borde, no volvemos", "es", "negative"),
        ("habitacion sucia y sin agua caliente, fatal", "es", "negative"),
        ("The driver was rude and the bus was filthy", "en", "negative"),
        ("waited an hour for cold food, terrible service 👎", "en", "negative"),
        ("Todo perfecto, el personal encantador, gracias!", "es", "positive"),
        ("la comida buenisima y el servicio excelente 😍", "es", "positive"),
        ("Great food and super friendly staff, thx!", "en", "positive"),
        ("lovely clean room and a delicious breakfast", "en", "positive"),
    ],
)
def test_seeded_model_gets_the_obvious_ones(
    seeded: SentimentModel, text: str, lang: str, label: str
) -> None:
    assert seeded.predict(text, lang).label == label


def test_the_lexicon_is_written_in_the_form_normalize_produces() -> None:
    from pipeline.scoring.lexicon import load_lexicon
    from pipeline.scoring.normalize import normalize

    lexicon = load_lexicon()
    assert len(lexicon) > 3000
    assert all(v in (-3, -2, -1, 1, 2, 3) for v in lexicon.values())
    unreachable = [w for w in lexicon if normalize(w) != w]
    assert unreachable == [], unreachable[:10]


def test_lexicon_features_reach_words_the_seed_never_labelled() -> None:
    from pipeline.scoring.lexicon import lexicon_features
    from pipeline.scoring.normalize import normalize

    bad = lexicon_features(normalize("Absolutamente repugnante, una estafa"))
    good = lexicon_features(normalize("Simply exquisite, flawless service"))
    flipped = lexicon_features(normalize("not delicious at all"))
    assert bad["lex_balance"] < -0.5 < 0.5 < good["lex_balance"]
    assert flipped["lex_neg"] > flipped["lex_pos"]


def test_the_seeded_model_is_learned_once_and_then_read_from_the_cache(
    tmp_path: Any, monkeypatch: Any
) -> None:
    from pipeline.scoring import seed_cache

    monkeypatch.setenv("PRONTO_SEED_CACHE", str(tmp_path))
    first = seed_cache.seeded_model()
    cached = list(tmp_path.glob("seed-model-*.pickle"))
    assert len(cached) == 1
    learned = []
    monkeypatch.setattr(SentimentModel, "with_seed_corpus",
                        classmethod(lambda cls, seed=42: learned.append(seed)))  # fmt: skip
    second = seed_cache.seeded_model()
    assert learned == []  # not learned again
    text = "la comida fría y el camarero borde"
    assert second.predict(text).probs == first.predict(text).probs
    cached[0].write_bytes(b"torn")  # a broken cache is relearned, not fatal
    monkeypatch.undo()
    monkeypatch.setenv("PRONTO_SEED_CACHE", str(tmp_path))
    assert seed_cache.seeded_model().predict(text).label == first.predict(text).label
