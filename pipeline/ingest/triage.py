"""Triage at the edge: is this feedback a complaint? Then it skips the queue.

Ingest applies the alert rules as soon as a feedback arrives, judging its text with a snapshot
of the current sentiment model. A complaint is published twice: to `feedback.raw`, to be
scored and counted like any other, and to `feedback.urgent`, which the alert stage reads
beside `feedback.scored`. It is paged from whichever copy comes first; the alert desk knows
the feedback by its id, so the second copy opens nothing and pages no one.

A feedback whose score and text disagree is classified first (`annotate`, see
`alerts/conflict.py`): a number on the wrong scale is read on five points, a hidden complaint
(a high score, clearly negative text) is a complaint, and a low score with clearly happy text
goes to the alert stage by the fast path too, but to ask the customer, not to page: the
customer's TwiML acknowledgement is then the plain one.

Pure: plain values in, a record or None out.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Protocol

from pipeline.alerts.conflict import META_KEY, Conflict, Kind, classify, judge
from pipeline.config import Location
from pipeline.records import Feedback, ScoredFeedback
from pipeline.scoring.extract import extract_score, says_more_than_score
from pipeline.sentiment_snapshot import Prediction, label_from_score

logger = logging.getLogger(__name__)


class Predictor(Protocol):
    @property
    def version(self) -> int: ...

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
    decision, _ = judge(loc, fb.score, fb.scale, fb.text, p_negative, Conflict.from_meta(fb.meta))
    if decision is None:
        return None
    return ScoredFeedback(
        feedback=fb.to_dict(), sentiment_negative=p_negative or 0.0,
        sentiment_label=label or "neutral", model_version=model.version if model else 0,
        scored_at=now, labelled=False, scores={},
    )  # fmt: skip


def annotate(loc: Location | None, fb: Feedback, model: Predictor | None) -> Feedback:
    """`fb` with the relation between its score and its text recorded in `meta["conflict"]`
    when they disagree; a score on the wrong scale is read as `conflict.classify` says (the
    original stays in the record). A feedback without a score, or that agrees, is unchanged.

    >>> bus = Location(id="bus-42", name="Línea 42", scale="nps10")
    >>> fb = Feedback("f1", 1.0, "sms", "bus-42", customer_ref="c", score=5, scale="nps10",
    ...               text="5")
    >>> annotate(bus, fb, None).meta["conflict"]["kind"]
    'unclear_scale'
    """
    if loc is None or fb.score is None or not fb.scale:
        return fb
    text = fb.text.strip()
    judged = model is not None and says_more_than_score(text)
    probs = model.predict(text, fb.lang).probs if model is not None and judged else None
    found = extract_score(text, loc.scale) if text else None
    bare = (
        found is not None
        and not found.explicit
        and (found.score, found.scale) == (fb.score, fb.scale)
    )
    conflict = classify(loc, fb.score, fb.scale, text, bare=bare, probs=probs)
    if conflict.kind == Kind.AGREE:
        return fb
    meta = {**fb.meta, META_KEY: conflict.to_meta()}
    if conflict.kind == Kind.WRONG_SCALE:
        return dataclasses.replace(
            fb, score=conflict.read_score, scale=conflict.read_scale, meta=meta
        )
    return dataclasses.replace(fb, meta=meta)


def asks_first(fb: Feedback) -> bool:
    """Whether the customer is asked which they meant before anyone is paged."""
    conflict = Conflict.from_meta(fb.meta)
    return conflict is not None and conflict.asks
