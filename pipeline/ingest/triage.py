"""Triage at the edge: is this feedback a complaint? Then it skips the queue.

Ingest applies the alert rules as soon as a feedback arrives, judging its text with a snapshot
of the current sentiment model. A complaint is published twice: to `feedback.raw`, to be
scored and counted like any other, and to `feedback.urgent`, which the alert stage reads
beside `feedback.scored`. It is paged from whichever copy comes first; the alert desk knows
the feedback by its id, so the second copy opens nothing and pages no one.

Pure: plain values in, a record or None out.
"""

from __future__ import annotations

import logging
from typing import Protocol

from pipeline.alerts.rules import evaluate_feedback
from pipeline.config import Location
from pipeline.records import Feedback, ScoredFeedback
from pipeline.scoring.sentiment import Prediction, label_from_score

logger = logging.getLogger(__name__)


class Predictor(Protocol):
    version: int

    def predict(self, text: str, lang: str = "") -> Prediction: ...


def urgent_copy(
    loc: Location | None, fb: Feedback, model: Predictor | None, now: float
) -> ScoredFeedback | None:
    """The fast-path record for `fb` if it is a complaint (low score, safety keyword, or text
    that `model` judges negative), else None. Without a model, text alone is not judged.

    >>> loc = Location(id="bus-42", name="Línea 42", scale="nps10")
    >>> fb = Feedback("f1", 1.0, "sms", "bus-42", customer_ref="c", score=2, scale="nps10")
    >>> urgent_copy(loc, fb, None, 2.0).sentiment_label
    'negative'
    >>> urgent_copy(loc, Feedback("f2", 1.0, "sms", "bus-42", customer_ref="c", score=10,
    ...                           scale="nps10"), None, 2.0) is None
    True
    """
    if loc is None or fb.customer_ref is None:
        return None
    label = label_from_score(fb.score, fb.scale) if fb.score is not None and fb.scale else None
    text = fb.text.strip()
    p_negative: float | None = None
    if label is not None:
        p_negative = 1.0 if label == "negative" else 0.0
    elif text and model is not None:
        pred = model.predict(text, fb.lang)
        p_negative, label = pred.p_negative, pred.label
    if evaluate_feedback(loc, fb.score, fb.scale, fb.text, p_negative) is None:
        return None
    return ScoredFeedback(
        feedback=fb.to_dict(), sentiment_negative=p_negative or 0.0,
        sentiment_label=label or "neutral", model_version=model.version if model else 0,
        scored_at=now, labelled=False, scores={},
    )  # fmt: skip
