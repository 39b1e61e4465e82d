"""Score one feedback: sentiment (predicted, or learned from its own score), the counters it
increments, and drift. Pure: plain values in, plain values out; the agent does the I/O.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from pipeline.records import Feedback
from pipeline.scoring.drift import DriftEvent, DriftMonitor, normalise
from pipeline.scoring.sentiment import Prediction, SentimentModel, label_from_score
from pipeline.scoring.windows import WindowSpec, accept, bucket_keys, counter_deltas

logger = logging.getLogger(__name__)


@dataclass
class ScoreOutcome:
    prediction: Prediction
    labelled: bool  # the text was labelled by its own score and learned
    increments: dict[str, int] = field(default_factory=dict)  # table key -> delta
    late: bool = False  # too late for its window: not counted
    drift: DriftEvent | None = None
    model_seconds: float = 0.0


def _from_label(label: str) -> Prediction:
    p_neg = {"negative": 1.0, "neutral": 0.0, "positive": 0.0}[label]
    probs = {k: float(k == label) for k in ("negative", "neutral", "positive")}
    return Prediction(p_negative=p_neg, label=label, probs=probs)


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

        A score labels its own text (learned at once, with progressive validation); text
        without a score is predicted; a score without text takes its label from the score.
        """
        label = label_from_score(fb.score, fb.scale) if fb.score is not None and fb.scale else None
        text = fb.text.strip()
        t0 = time.perf_counter()
        if text and label:
            pred = self.model.learn_predict(text, label, fb.lang)
        elif text:
            pred = self.model.predict(text, fb.lang)
        else:
            pred = _from_label(label or "neutral")
        elapsed = time.perf_counter() - t0
        out = ScoreOutcome(prediction=pred, labelled=bool(text and label), model_seconds=elapsed)
        if fb.score is None or not fb.scale:
            return out
        event_time = min(fb.received_at, now)
        if not accept(event_time, now, self.lateness_s):
            out.late = True
            return out
        deltas = counter_deltas(fb.score, fb.scale)
        for k in bucket_keys(fb.location_id, event_time, self.windows, deltas.keys()):
            out.increments[k] = deltas[k.rsplit("|", 1)[1]]
        out.drift = self.drift.update(fb.location_id, normalise(fb.score, fb.scale))
        return out
