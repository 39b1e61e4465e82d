"""A read-only snapshot of the sentiment model, for the stages that only predict.

Ingest judges each feedback's text with the current model (triage, `ingest/triage.py`), but it
never learns. Loading the river model there cost the web process river, numpy and scipy (about
90 MB resident, and a second of imports) for one dot product per message. The score stage,
which learns, saves beside each model a snapshot of what prediction reads: each class's
weights and each term's inverse document frequency. Predicting from it gives the very same
probabilities as the river pipeline (`tests/unit/test_sentiment_snapshot.py` compares them
bit for bit), about 20% faster, without river.

The arithmetic mirrors river 0.26's, step by step and in the same order (so that the floats
are equal, not just close):
- `feature_extraction.TFIDF.transform_one`: term count / terms in the text, times
  idf = log((1 + n) / (1 + df)) + 1, then divided by the L2 norm;
- `compose.TransformerUnion.transform_one`: the lexicon's features, then the character
  trigrams', then the words' (word 1-2 grams), a later one overriding an earlier equal key;
- `linear_model.SoftmaxRegression.predict_proba_one`: `utils.math.dot` per class (over the
  smaller of the two dicts), then softmax.

The snapshot is a pickle of plain dicts and tuples, read back by an unpickler that refuses
every class and function: the web process loads nothing executable from Kafka.

Pure, apart from `to_bytes` and `from_bytes`.
"""

from __future__ import annotations

import io
import math
import pickle
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, NamedTuple

from pipeline.scoring.lexicon import lexicon_features
from pipeline.scoring.normalize import NEG_PREFIX, normalize

LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
CHAR_NGRAMS = (3,)  # 2-4 grams took 33 MB, not better than trigrams alone (22 MB)
FORMAT = 1

Feature = str | tuple[str, ...]


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


def word_ngrams(tokens: list[str]) -> list[Feature]:
    """Words, then word pairs, as river's `find_all_ngrams` gives them for ngram_range (1, 2).

    >>> word_ngrams(["muy", "lento", "hoy"])
    ['muy', 'lento', 'hoy', ('muy', 'lento'), ('lento', 'hoy')]
    """
    return [*tokens, *pairwise(tokens)]


def idf(df: int, n: int) -> float:
    """A term's inverse document frequency, as river's TFIDF computes it (df 0: unseen)."""
    return math.log((1 + n) / (1 + df)) + 1


def idf_table(dfs: dict[Any, int], n: int) -> dict[Any, float]:
    """Each term's inverse document frequency."""
    return {term: idf(df, n) for term, df in dfs.items()}


def tfidf(terms: list[Any], idf_of: Callable[[Any], float]) -> dict[Any, float]:
    """river's `TFIDF.transform_one` (normalize=True), from precomputed idfs (`idf_of(term)`)."""
    counts = Counter(terms)
    n_terms = sum(counts.values())
    out = {term: count / n_terms * idf_of(term) for term, count in counts.items()}
    norm = math.sqrt(sum(v**2 for v in out.values()))
    return {term: v / norm for term, v in out.items()}


class Tokens(NamedTuple):
    """One normalised text, read once: its lexicon features and the terms of each TF-IDF."""

    lexicon: dict[str, float]
    chars: list[str]
    words: list[Feature]


def tokens(normalised: str) -> Tokens:
    """What the river pipeline reads from a normalised text (`normalize.normalize`)."""
    return Tokens(lexicon_features(normalised), char_tokens(normalised),
                  word_ngrams(word_tokens(normalised)))  # fmt: skip


def features(text: str, char_idf_of: Callable[[Any], float],
             word_idf_of: Callable[[Any], float]) -> dict[Any, float]:  # fmt: skip
    """The river pipeline's input to its classifier, for `text`."""
    return union(tokens(normalize(text)), char_idf_of, word_idf_of)


def union(t: Tokens, char_idf_of: Callable[[Any], float],
          word_idf_of: Callable[[Any], float]) -> dict[Any, float]:  # fmt: skip
    """The union's output for a text read: the lexicon's features, then the characters' and
    the words' tf-idf, in the order it merges them (a later one overriding an earlier equal
    key)."""
    x: dict[Any, float] = {}
    x.update(t.lexicon)
    x.update(tfidf(t.chars, char_idf_of))
    x.update(tfidf(t.words, word_idf_of))
    return x


def dot(x: dict[Any, float], y: dict[Any, float]) -> float:
    """river's `utils.math.dot`, summed in the same order."""
    if len(x) < len(y):
        return sum(xi * y[i] for i, xi in x.items() if i in y)
    return sum(x[i] * yi for i, yi in y.items() if i in x)


def softmax(scores: dict[str, float]) -> dict[str, float]:
    """river's `utils.math.softmax`, on a copy."""
    if not scores:
        return {}
    top = max(scores.values())
    out = {c: math.exp(p - top) for c, p in scores.items()}
    total = 0.0
    for p in out.values():
        total += p
    return {c: p / total for c, p in out.items()}


@dataclass(frozen=True)
class SentimentSnapshot:
    """What predicting reads from a `SentimentModel`, as plain data."""

    version: int
    weights: dict[str, dict[Any, float]]  # class -> feature -> weight, in river's class order
    word_idf: dict[Any, float]
    word_unseen_idf: float  # idf(0, n): a term no document has had
    char_idf: dict[Any, float]
    char_unseen_idf: float

    def features(self, text: str) -> dict[Any, float]:
        """The river pipeline's input to its classifier, for `text`."""
        chars, words = self.char_idf, self.word_idf
        return features(text, lambda t: chars.get(t, self.char_unseen_idf),
                        lambda t: words.get(t, self.word_unseen_idf))  # fmt: skip

    def predict(self, text: str, lang: str = "") -> Prediction:
        """Class probabilities for `text`, as `SentimentModel.predict` gives them."""
        x = self.features(text)
        proba = softmax({label: dot(w, x) for label, w in self.weights.items()})
        return prediction_from(proba)

    def compact(self) -> CompactSnapshot:
        """The same predictions from arrays over one index of the features: a third of the
        memory (`CompactSnapshot`)."""
        return CompactSnapshot.of(self)

    def to_bytes(self) -> bytes:
        return pickle.dumps(
            (FORMAT, self.version, self.weights, self.word_idf, self.word_unseen_idf,
             self.char_idf, self.char_unseen_idf),
            protocol=pickle.HIGHEST_PROTOCOL,
        )  # fmt: skip

    @classmethod
    def from_bytes(cls, b: bytes) -> SentimentSnapshot:
        """A snapshot from `to_bytes`; anything but plain data is refused."""
        fmt, *fields = _PlainUnpickler(io.BytesIO(b)).load()
        if fmt != FORMAT:
            raise ValueError(f"sentiment snapshot format {fmt!r}, expected {FORMAT}")
        return cls(*fields)


ABSENT = math.nan  # a feature a class (or an idf table) does not hold
COMPACT_FORMAT = 1


class CompactSnapshot:
    """A `SentimentSnapshot` as the web process keeps it: each feature once, in one index,
    and each class's weights and each idf table as an array over it.

    The plain snapshot holds five dicts of up to 37,000 features each, a float object per
    value and the word pairs' tuples twice: 16 MB for the seeded model (tracemalloc), and a
    refresh every minute churns all of it. This form holds the same numbers in 6 MB
    (`tests/unit/test_sentiment_snapshot.py`). Predictions are the plain snapshot's, bit for
    bit: each feature reads the same float, and river's dot product is summed in the same
    order, over the features of the text, or over the class's own features (kept in their
    order) when the class holds fewer.
    """

    __slots__ = ("char_idf", "char_unseen_idf", "index", "keys", "labels", "orders", "sizes",
                 "version", "weights", "word_idf", "word_unseen_idf")  # fmt: skip

    def __init__(self, version: int, index: dict[Feature, int], labels: tuple[str, ...],
                 weights: tuple[array[float], ...], orders: tuple[array[int], ...],
                 word_idf: array[float], word_unseen_idf: float, char_idf: array[float],
                 char_unseen_idf: float) -> None:  # fmt: skip
        self.version = version
        self.index = index
        self.keys: list[Feature] = list(index)
        self.labels = labels
        self.weights = weights
        self.orders = orders
        self.sizes = tuple(len(o) for o in orders)
        self.word_idf, self.word_unseen_idf = word_idf, word_unseen_idf
        self.char_idf, self.char_unseen_idf = char_idf, char_unseen_idf

    @classmethod
    def of(cls, s: SentimentSnapshot) -> CompactSnapshot:
        words: dict[str, str] = {}  # one copy of each word, inside the pairs too
        index: dict[Feature, int] = {}

        def position(key: Feature) -> int:
            pos = index.get(key)
            if pos is None:
                if isinstance(key, tuple):
                    key = tuple(words.setdefault(w, w) if isinstance(w, str) else w for w in key)
                elif isinstance(key, str):
                    key = words.setdefault(key, key)
                pos = index[key] = len(index)
            return pos

        orders = tuple(array("I", (position(k) for k in w)) for w in s.weights.values())
        for table in (s.word_idf, s.char_idf):
            for k in table:
                position(k)

        def column(values: dict[Any, float]) -> array[float]:
            out = array("d", [ABSENT]) * len(index)
            for k, v in values.items():
                out[index[k]] = v
            return out

        return cls(s.version, index, tuple(s.weights), tuple(column(w) for w in s.weights.values()),
                   orders, column(s.word_idf), s.word_unseen_idf, column(s.char_idf),
                   s.char_unseen_idf)  # fmt: skip

    def to_bytes(self) -> bytes:
        """The arrays as their bytes and the features once, for the web process to load in a
        fraction of the time the plain snapshot and `of` take (`pronto.snapshot`)."""
        return pickle.dumps(
            (COMPACT_FORMAT, self.version, self.keys, self.labels,
             [w.tobytes() for w in self.weights], [o.tobytes() for o in self.orders],
             self.word_idf.tobytes(), self.word_unseen_idf, self.char_idf.tobytes(),
             self.char_unseen_idf),
            protocol=pickle.HIGHEST_PROTOCOL,
        )  # fmt: skip

    @classmethod
    def from_bytes(cls, b: bytes) -> CompactSnapshot:
        """A snapshot from `to_bytes`; anything but plain data is refused."""
        fmt, version, keys, labels, weights, orders, word_idf, word_unseen, char_idf, \
            char_unseen = _PlainUnpickler(io.BytesIO(b)).load()  # fmt: skip
        if fmt != COMPACT_FORMAT:
            raise ValueError(
                f"compact sentiment snapshot format {fmt!r}, expected {COMPACT_FORMAT}"
            )

        def doubles(raw: bytes) -> array[float]:
            out = array("d")
            out.frombytes(raw)
            if len(out) != len(keys):
                raise ValueError("a compact snapshot's column does not match its features")
            return out

        def positions(raw: bytes) -> array[int]:
            out = array("I")
            out.frombytes(raw)
            return out

        index = {key: i for i, key in enumerate(keys)}
        return cls(version, index, tuple(labels), tuple(doubles(w) for w in weights),
                   tuple(positions(o) for o in orders), doubles(word_idf), word_unseen,
                   doubles(char_idf), char_unseen)  # fmt: skip

    def _idf_of(self, idf: array[float], unseen: float) -> Callable[[Any], float]:
        """A term's idf, read from the array (`unseen` for a term it does not hold)."""
        index = self.index

        def idf_of(term: Any) -> float:
            pos = index.get(term)
            value = unseen if pos is None else idf[pos]
            return unseen if value != value else value  # NaN: absent

        return idf_of

    def features(self, text: str) -> dict[Any, float]:
        """`SentimentSnapshot.features`."""
        return features(text, self._idf_of(self.char_idf, self.char_unseen_idf),
                        self._idf_of(self.word_idf, self.word_unseen_idf))  # fmt: skip

    def _dot(self, c: int, x: dict[Any, float]) -> float:
        """`dot(weights of class c, x)`, summed in river's order."""
        w, index = self.weights[c], self.index
        if self.sizes[c] < len(x):  # over the class's features, in their own order
            keys = self.keys
            return sum(w[p] * x[keys[p]] for p in self.orders[c] if keys[p] in x)
        return sum(
            wi * xi
            for i, xi in x.items()
            if (p := index.get(i)) is not None and (wi := w[p]) == wi  # NaN: absent
        )

    def predict(self, text: str, lang: str = "") -> Prediction:
        """`SentimentSnapshot.predict`, bit for bit."""
        x = self.features(text)
        proba = softmax({label: self._dot(c, x) for c, label in enumerate(self.labels)})
        return prediction_from(proba)


def prediction_from(proba: dict[str, float]) -> Prediction:
    """A `Prediction` from river's class probabilities (uniform and neutral when untrained)."""
    probs = {label: float(proba.get(label, 0.0)) for label in LABELS}
    total = sum(probs.values())
    if total <= 0:
        probs = {label: 1.0 / len(LABELS) for label in LABELS}
        return Prediction(probs["negative"], "neutral", probs)
    probs = {label: p / total for label, p in probs.items()}
    label = max(LABELS, key=lambda c: probs[c])
    return Prediction(probs["negative"], label, probs)


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"a sentiment snapshot holds plain data, not {module}.{name}")
