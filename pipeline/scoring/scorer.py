"""Score one feedback: sentiment (predicted, or taken from its own score), the counters it
increments, and drift. Pure: plain values in, plain values out; the agent does the I/O.

Learning is off the per-record path: an answer whose score labels its text is queued in a
`Learner`, which the stage drains in time slices between batches. Its sentiment is the label
itself (the alert rules judge a scored answer by its score, not its text).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field

from pipeline.records import Feedback
from pipeline.scoring.drift import DriftEvent, DriftMonitor, normalise
from pipeline.scoring.location_counts import Increment
from pipeline.scoring.sentiment import Prediction, SentimentModel, label_from_score
from pipeline.scoring.windows import WindowSpec, accept, bucket_start, counter_deltas

logger = logging.getLogger(__name__)

LEARN_QUEUE = 5_000  # labelled texts waiting; under a long backlog the oldest give way


@dataclass
class ScoreOutcome:
    prediction: Prediction
    labelled: bool  # the text was labelled by its own score (queued for learning)
    increments: list[Increment] = field(default_factory=list)  # (window, field, start, delta)
    late: bool = False  # too late for its window: not counted
    drift: DriftEvent | None = None
    model_seconds: float = 0.0
    learn: tuple[str, str, str] | None = None  # (text, label, lang) to learn


def _from_label(label: str) -> Prediction:
    p_neg = {"negative": 1.0, "neutral": 0.0, "positive": 0.0}[label]
    probs = {k: float(k == label) for k in ("negative", "neutral", "positive")}
    return Prediction(p_negative=p_neg, label=label, probs=probs)


class Learner:
    """Labelled texts waiting to be learned, learned a time slice at a time.

    >>> from pipeline.scoring.sentiment import SentimentModel
    >>> learner = Learner(SentimentModel(), maxlen=2)
    >>> for t in ("malo", "bueno", "fatal"):
    ...     learner.add(t, "negative", "es")
    >>> learner.dropped, learner.learn_for(1.0), learner.model.version
    (1, 2, 2)
    """

    def __init__(self, model: SentimentModel, maxlen: int = LEARN_QUEUE) -> None:
        self.model = model
        self.pending: deque[tuple[str, str, str]] = deque(maxlen=maxlen)
        self.dropped = 0  # never learned: the queue was full (a backlog outran the budget)

    def add(self, text: str, label: str, lang: str) -> None:
        if len(self.pending) == self.pending.maxlen:
            self.dropped += 1
        self.pending.append((text, label, lang))

    def learn_for(self, budget_s: float) -> int:
        """Learn queued texts, oldest first, for about `budget_s` seconds; how many."""
        n = 0
        deadline = time.perf_counter() + budget_s
        while self.pending and time.perf_counter() < deadline:
            text, label, lang = self.pending.popleft()
            self.model.learn_predict(text, label, lang)  # progressive validation, then learn
            n += 1
        return n


def label_trusted(fb: Feedback) -> bool:
    """Whether `fb`'s score may label its text for the model: not when ingest found that
    they disagree (`meta["conflict"]`, a low score with happy words and the like), which
    would teach "genial" as negative. A score read on its right scale (`wrong_scale`) is
    trusted.

    >>> label_trusted(Feedback("f", 0.0, "sms", "x", score=2, scale="nps10", text="genial"))
    True
    >>> label_trusted(Feedback("f", 0.0, "sms", "x", score=2, scale="nps10", text="genial",
    ...                        meta={"conflict": {"kind": "low_score_happy_text"}}))
    False
    """
    conflict = fb.meta.get("conflict")
    return not isinstance(conflict, dict) or conflict.get("kind") in ("agree", "wrong_scale")


class Scorer:
    """Holds the worker's model and drift monitor; one call per feedback."""

    def __init__(self, model: SentimentModel, drift: DriftMonitor,
                 windows: tuple[WindowSpec, ...], lateness_s: float) -> None:  # fmt: skip
        self.model = model
        self.drift = drift
        self.windows = windows
        self.lateness_s = lateness_s

    def score(self, fb: Feedback, now: float) -> ScoreOutcome:
        """Score `fb` at time `now` (epoch seconds).

        A score labels its own text (returned in `learn`, for the learner); text without a
        score is predicted; a score without text takes its label from the score.
        """
        label = label_from_score(fb.score, fb.scale) if fb.score is not None and fb.scale else None
        text = fb.text.strip()
        elapsed = 0.0
        if label:
            pred = _from_label(label)
        elif text:
            t0 = time.perf_counter()
            pred = self.model.predict(text, fb.lang)
            elapsed = time.perf_counter() - t0
        else:
            pred = _from_label("neutral")
        labelled = bool(text and label) and label_trusted(fb)
        out = ScoreOutcome(prediction=pred, labelled=labelled, model_seconds=elapsed)
        if labelled and label:
            out.learn = (text, label, fb.lang)
        if fb.score is None or not fb.scale:
            return out
        event_time = min(fb.received_at, now)
        if not accept(event_time, now, self.lateness_s):
            out.late = True
            return out
        deltas = counter_deltas(fb.score, fb.scale)
        for w in self.windows:
            start = bucket_start(event_time, w.bucket_s)
            out.increments.extend((w.name, f, start, d) for f, d in deltas.items())
        out.drift = self.drift.update(fb.location_id, normalise(fb.score, fb.scale))
        return out
