"""Online three-class sentiment (negative, neutral, positive) for Spanish and English feedback.

Pure: a thin wrapper around one river pipeline. Text goes through `normalize.normalize`, then
TF-IDF over word 1-2 grams and character trigrams inside each word (they survive SMS spelling
and typos), plus three polarity-lexicon features (`lexicon.py`), then a softmax regression
trained by AdaGrad (0.3). A fresh install learns the packaged seed corpus first (5,913 lines of
our own, Spanish and English, restaurants, hotels and transit).

Why this pipeline (progressive validation from the seed corpus, `pronto eval-sentiment`). The
first table was measured with the first seed corpus (636 lines):

=================================  =================  ===============  ============
pipeline (text normalised first)   SemEval16 (en+es)  Yelp (en)        µs/predict
                                   macro-F1 / cold    macro-F1 / cold
=================================  =================  ===============  ============
BoW | MultinomialNB, raw, no seed  0.506 / 0.668      0.751 / 0.658    ~120-240
BoW | MultinomialNB, no seed       0.528 / 0.673      0.776 / 0.693    ~120-240
words 1-2 | MultinomialNB          0.546 / 0.760      0.793 / 0.740    ~120
words+chars | MultinomialNB        0.548 / 0.775      0.807 / 0.760    ~500-700
words+chars | ComplementNB         0.555 / 0.745      (too slow)       ~177,000
TF-IDF words | Softmax SGD 0.5     0.508 / 0.740      0.790 / 0.735    ~50
TF-IDF words+chars | OvR LR SGD    0.509 / 0.770      0.812 / 0.740    ~320-420
TF-IDF words+chars | Softmax SGD   0.560 / 0.800      0.824 / 0.735    ~300-500
TF-IDF w+c | Softmax AdaGrad 0.5   0.616 / 0.790      0.824 / 0.760    ~300-500
TF-IDF w+c | Softmax AdaGrad 0.3   0.616 / 0.800      0.829 / 0.770    ~300-650
  (the choice)
=================================  =================  ===============  ============

Then, with the choice above fixed, the seed and the lexicon (English rows only; VADER 0.482 on
SemEval and 0.722 on Yelp in the same runs; the spread over three shuffles of the seed is about
0.01):

=========================================  ===============  ===============
seed corpus, features                      SemEval16 (en)   Yelp (en)
=========================================  ===============  ===============
636 lines                                  0.613            0.829
+ 2,600 review-style lines                 0.630            0.848
+ VADER's scores as features               0.650            0.893
+ our lexicon instead of VADER             0.652            0.893
+ "but"/intensifier rules, 5,913 lines     0.626 - 0.660    0.884 - 0.901
  (no VADER dependency, works in Spanish too)
+ character trigrams only (not 2-4)        0.638            0.899
  (the choice: also 22 MB in memory instead of 33 MB)
=========================================  ===============  ===============

(macro-F1 over the classes present in the file; cold = accuracy on the first 200 messages.)
River's ComplementNB scans every feature seen so far on each prediction, hence its cost.
"""

from __future__ import annotations

import logging
import pickle
import random
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from river import compose, feature_extraction, linear_model, metrics, optim

from pipeline.scoring.lexicon import lexicon_features
from pipeline.scoring.normalize import NEG_PREFIX, normalize

logger = logging.getLogger(__name__)

LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
SEED_CORPUS = "seed_corpus.tsv"
CHAR_NGRAMS = (3,)  # 2-4 grams took 33 MB, not better than trigrams alone (22 MB)
TEXT = "text"  # the one field of the dict that the river pipeline reads


@dataclass(frozen=True)
class Prediction:
    p_negative: float
    label: str
    probs: dict[str, float] = field(default_factory=dict)


def label_from_score(score: int, scale: str) -> str | None:
    """The sentiment label that a numeric answer implies, or None when out of range.

    >>> label_from_score(2, "csat5"), label_from_score(3, "csat5"), label_from_score(5, "csat5")
    ('negative', 'neutral', 'positive')
    >>> label_from_score(6, "nps10"), label_from_score(8, "nps10"), label_from_score(9, "nps10")
    ('negative', 'neutral', 'positive')
    >>> label_from_score(11, "nps10") is None
    True
    """
    if scale == "csat5":
        if not 1 <= score <= 5:
            return None
        return "negative" if score <= 2 else "neutral" if score == 3 else "positive"
    if scale == "nps10":
        if not 0 <= score <= 10:
            return None
        return "negative" if score <= 6 else "neutral" if score <= 8 else "positive"
    raise ValueError(f"unknown scale {scale!r}: expected csat5 or nps10")


def word_tokens(text: str) -> list[str]:
    """Tokens of an already normalised text."""
    return text.split()


def char_tokens(text: str) -> list[str]:
    """Character trigrams inside each word of a normalised text (padded with a space at each
    end), prefixed '#' to keep them apart from the words.

    >>> char_tokens("neg_mal !")
    ['# ma', '#mal', '#al ']
    """
    out: list[str] = []
    for tok in text.split():
        tok = tok.removeprefix(NEG_PREFIX)
        if tok.startswith("emo_") or not tok.isalnum():
            continue
        padded = f" {tok} "
        for n in CHAR_NGRAMS:
            out.extend("#" + padded[i : i + n] for i in range(len(padded) - n + 1))
    return out


def build_pipeline() -> compose.Pipeline:
    """The river pipeline that the model wraps; it reads {"text": normalised text}."""
    words = feature_extraction.TFIDF(
        on=TEXT, tokenizer=word_tokens, ngram_range=(1, 2), lowercase=False, strip_accents=False
    )
    chars = feature_extraction.TFIDF(
        on=TEXT, tokenizer=char_tokens, lowercase=False, strip_accents=False
    )
    lexicon = compose.FuncTransformer(text_lexicon_features)
    classifier = linear_model.SoftmaxRegression(optimizer=optim.AdaGrad(0.3))
    return compose.Pipeline(compose.TransformerUnion(words, chars, lexicon), classifier)


def text_lexicon_features(x: dict[str, str]) -> dict[str, float]:
    """The lexicon features of the pipeline's input (module level, so the model pickles)."""
    return lexicon_features(x[TEXT])


def read_seed_corpus() -> list[tuple[str, str, str]]:
    """The packaged seed corpus as (text, label, lang) rows."""
    raw = resources.files("pipeline.scoring").joinpath(SEED_CORPUS).read_text(encoding="utf-8")
    rows: list[tuple[str, str, str]] = []
    for line in raw.splitlines()[1:]:
        if line.strip():
            text, label, lang = line.split("\t")
            rows.append((text, label, lang))
    return rows


class SentimentModel:
    """An online sentiment classifier: predict, learn one message at a time, pickle."""

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed
        self.version = 0
        self._n_learned = 0
        self._pipeline = build_pipeline()
        self._accuracy = metrics.Accuracy()
        self._macro_f1 = metrics.MacroF1()

    @classmethod
    def with_seed_corpus(cls, seed: int = 42) -> SentimentModel:
        """A model that has learned the packaged seed corpus, in an order fixed by `seed`."""
        model = cls(seed)
        rows = read_seed_corpus()
        # SGD depends on order; the corpus file is grouped by hand, so shuffle it reproducibly.
        random.Random(seed).shuffle(rows)
        for text, label, lang in rows:
            model.learn(text, label, lang)
        return model

    def predict(self, text: str, lang: str = "") -> Prediction:
        """Class probabilities for `text`; an untrained model answers uniform and neutral."""
        proba = self._pipeline.predict_proba_one({TEXT: normalize(text)})
        probs = {label: float(proba.get(label, 0.0)) for label in LABELS}
        total = sum(probs.values())
        if total <= 0:
            probs = {label: 1.0 / len(LABELS) for label in LABELS}
            return Prediction(probs["negative"], "neutral", probs)
        probs = {label: p / total for label, p in probs.items()}
        label = max(LABELS, key=lambda c: probs[c])
        return Prediction(probs["negative"], label, probs)

    def learn(self, text: str, label: str, lang: str = "") -> None:
        """Learn one labelled message; the version moves on."""
        if label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, got {label!r}")
        self._pipeline.learn_one({TEXT: normalize(text)}, label)
        self._n_learned += 1
        self.version += 1

    def learn_predict(self, text: str, label: str, lang: str = "") -> Prediction:
        """Progressive validation: predict, score that prediction against `label`, then learn."""
        pred = self.predict(text, lang)
        if self._n_learned:
            self._accuracy.update(label, pred.label)
            self._macro_f1.update(label, pred.label)
        self.learn(text, label, lang)
        return pred

    @property
    def accuracy(self) -> float:
        return float(self._accuracy.get())

    @property
    def macro_f1(self) -> float:
        return float(self._macro_f1.get())

    @property
    def n_learned(self) -> int:
        return self._n_learned

    def to_bytes(self) -> bytes:
        """Pickle the whole model, metrics and version included."""
        return pickle.dumps(self.__dict__, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, b: bytes) -> SentimentModel:
        """Load a model saved by `to_bytes` (trusted input only: it is a pickle)."""
        state: dict[str, Any] = pickle.loads(b)
        model = cls.__new__(cls)
        model.__dict__.update(state)
        return model
