"""Online three-class sentiment (negative, neutral, positive) for Spanish and English feedback.

Pure: a thin wrapper around one river pipeline. Text goes through `normalize.normalize`, then
TF-IDF over word 1-2 grams and character trigrams inside each word (they survive SMS spelling
and typos), plus three polarity-lexicon features (`lexicon.py`), then a softmax regression
trained by AdaGrad (0.3). A fresh install learns the packaged seed corpus first (5,913 lines of
our own, Spanish and English, restaurants, hotels and transit). Learning and predicting run
river's arithmetic on the pipeline's own state through `river_mirror.py`, which reads a text
once instead of five times: the same model bit for bit, about a third cheaper to learn.

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
from typing import Any

from pipeline.scoring import river_mirror
from pipeline.scoring.lexicon import lexicon_features
from pipeline.scoring.normalize import normalize
from pipeline.scoring.river_lean import compose, feature_extraction, linear_model, metrics, optim
from pipeline.scoring.vocabulary import prune
from pipeline.seed_corpus import read_seed_corpus
from pipeline.sentiment_snapshot import (
    LABELS,
    Prediction,
    SentimentSnapshot,
    char_tokens,
    idf,
    idf_table,
    label_from_score,
    prediction_from,
    word_tokens,
)

logger = logging.getLogger(__name__)

TEXT = "text"  # the one field of the dict that the river pipeline reads

__all__ = ["LABELS", "Prediction", "SentimentModel", "char_tokens", "label_from_score",
           "word_tokens"]  # fmt: skip


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


def tokens_of(text: str) -> river_mirror.Tokens:
    """What the pipeline reads from a raw text: normalised, then tokenized once."""
    return river_mirror.tokens(normalize(text))


def text_lexicon_features(x: dict[str, str]) -> dict[str, float]:
    """The lexicon features of the pipeline's input (module level, so the model pickles)."""
    return lexicon_features(x[TEXT])


MAX_TERMS = 50_000  # the vocabulary's bound (`vocabulary.py`); the seed corpus brings 37,202


class SentimentModel:
    """An online sentiment classifier: predict, learn one message at a time, pickle."""

    max_terms = MAX_TERMS  # (a class default: models pickled before the bound load with it)
    terms_pruned = 0

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
        parts = self._mirrored()
        if parts is None:
            return prediction_from(self._pipeline.predict_proba_one({TEXT: normalize(text)}))
        return prediction_from(river_mirror.predict_proba(parts, tokens_of(text)))

    def learn(self, text: str, label: str, lang: str = "") -> None:
        """Learn one labelled message; the version moves on."""
        parts = self._mirrored()
        if parts is None:
            self._check(label)
            self._pipeline.learn_one({TEXT: normalize(text)}, label)
            self._learned()
        else:
            self._learn(parts, tokens_of(text), label)

    def _learn(self, parts: river_mirror.Parts, t: river_mirror.Tokens, label: str) -> None:
        self._check(label)
        river_mirror.learn(parts, t, label)
        self._learned()

    @staticmethod
    def _check(label: str) -> None:
        if label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, got {label!r}")

    def _learned(self) -> None:
        self._n_learned += 1
        self.version += 1
        words, chars, classifier = self._parts()
        if len(words.dfs) + len(chars.dfs) > self.max_terms:
            self.terms_pruned += prune([words.dfs, chars.dfs], classifier, self.max_terms)

    def learn_predict(self, text: str, label: str, lang: str = "") -> Prediction:
        """Progressive validation: predict, score that prediction against `label`, then learn."""
        parts = self._mirrored()
        if parts is None:  # river's own path
            pred = self.predict(text, lang)
            self._validate(label, pred)
            self.learn(text, label, lang)
            return pred
        t = tokens_of(text)  # read once for both
        pred = prediction_from(river_mirror.predict_proba(parts, t))
        self._validate(label, pred)
        self._learn(parts, t, label)
        return pred

    def _validate(self, label: str, pred: Prediction) -> None:
        if self._n_learned:
            self._accuracy.update(label, pred.label)
            self._macro_f1.update(label, pred.label)

    @property
    def accuracy(self) -> float:
        return float(self._accuracy.get())

    @property
    def macro_f1(self) -> float:
        return float(self._macro_f1.get())

    @property
    def n_learned(self) -> int:
        return self._n_learned

    @property
    def n_terms(self) -> int:
        """Terms in the vocabulary (words, word pairs, character trigrams)."""
        words, chars, _ = self._parts()
        return len(words.dfs) + len(chars.dfs)

    def _mirrored(self) -> river_mirror.Parts | None:
        """The pipeline's parts for `river_mirror`, or None: river's own path then."""
        parts = river_mirror.Parts(*self._parts())
        return parts if river_mirror.supported(parts) else None

    def _parts(self) -> tuple[Any, Any, Any]:
        """The word and character TF-IDF extractors, and the classifier."""
        union, classifier = self._pipeline.steps.values()
        words, chars, _lexicon = union.transformers.values()
        return words, chars, classifier

    def snapshot(self) -> SentimentSnapshot:
        """What predicting reads, as plain data: see `pipeline/sentiment_snapshot.py`."""
        words, chars, classifier = self._parts()
        return SentimentSnapshot(
            version=self.version,
            weights={label: dict(w) for label, w in classifier.weights.items()},
            word_idf=idf_table(words.dfs, words.n),
            word_unseen_idf=idf(0, words.n),
            char_idf=idf_table(chars.dfs, chars.n),
            char_unseen_idf=idf(0, chars.n),
        )

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
