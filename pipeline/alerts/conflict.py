"""When a customer's score and their words disagree: which one do we believe before paging?

Pure: plain values in, a `Conflict` and a paging verdict out. A false page costs the
supervisor's trust in every page after it; a missed complaint costs the customer. The kinds:

- AGREE: nothing to resolve; the alert rules decide as before.
- WRONG_SCALE: a bare 1-5 at an nps10 venue with clearly happy text ("5, muy rápidos"). The
  customer answered on a five-point scale: the score is read as n/5 (recorded, never silent).
  It is not read so when the five-point reading would still be low ("2, genial" is asked).
  Explicit forms ("5/5", "5 de 5", "5 estrellas") already carry their scale (`extract`).
- UNCLEAR_SCALE: a bare 4 or 5 and nothing else at an nps10 venue: 4/10 or 5/5? Asked.
- LOW_SCORE_HAPPY_TEXT: a dissatisfied score with clearly happy text. Asked once; an
  unanswered question does not page (in our labelled set most of these are slips).
- HIGH_SCORE_ANGRY_TEXT: a satisfied score with clearly negative text ("10!! nunca más"): a
  hidden complaint, sarcasm or a slip. The text wins and it pages at once: asking would delay
  a true complaint, and in our labelled set nearly all of them are complaints.

A safety keyword always pages at once, whatever the score or the text (`rules`).

"Clearly" is the sentiment model's probabilities on the whole message (`HAPPY_*`, `ANGRY_*`),
tuned on the `tune` split of `tests/data/complaints.tsv` (see `complaints_eval`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pipeline.alerts.rules import (
    Decision,
    Reason,
    evaluate_feedback,
    is_dissatisfied,
    safety_keyword,
)
from pipeline.config import Location
from pipeline.scoring.extract import says_more_than_score

logger = logging.getLogger(__name__)

HAPPY_MIN_POSITIVE = 0.6  # P(positive) at or above this, and
HAPPY_MAX_NEGATIVE = 0.15  # P(negative) at or below this: the text is clearly happy
ANGRY_MIN_NEGATIVE = 0.7  # P(negative) at or above this: the text is clearly negative
META_KEY = "conflict"  # where ingest records the conflict in `Feedback.meta`
_WORD = re.compile(r"[^\W\d_]{2,}")


class Kind(StrEnum):
    AGREE = "agree"
    WRONG_SCALE = "wrong_scale"
    UNCLEAR_SCALE = "unclear_scale"
    LOW_SCORE_HAPPY_TEXT = "low_score_happy_text"
    HIGH_SCORE_ANGRY_TEXT = "high_score_angry_text"


ASKING = frozenset({Kind.UNCLEAR_SCALE, Kind.LOW_SCORE_HAPPY_TEXT})


@dataclass(frozen=True)
class Conflict:
    kind: Kind
    score: int | None = None  # as the customer gave it
    scale: str | None = None
    read_score: int | None = None  # WRONG_SCALE: how it is read instead
    read_scale: str | None = None
    evidence: str = ""

    @property
    def asks(self) -> bool:
        """Whether the customer is asked which they meant before anyone is paged."""
        return self.kind in ASKING

    def to_meta(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "score": self.score, "scale": self.scale,
                "read_score": self.read_score, "read_scale": self.read_scale,
                "evidence": self.evidence}  # fmt: skip

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> Conflict | None:
        """The conflict ingest recorded in a feedback's `meta`, or None (older records)."""
        d = meta.get(META_KEY)
        if not isinstance(d, dict) or d.get("kind") not in set(Kind):
            return None
        return cls(Kind(d["kind"]), d.get("score"), d.get("scale"), d.get("read_score"),
                   d.get("read_scale"), str(d.get("evidence", "")))  # fmt: skip


def has_words(text: str) -> bool:
    """Whether `text` says anything besides numbers, punctuation and emoji.

    >>> has_words("5!!"), has_words("10 😍"), has_words("5, muy rápidos")
    (False, False, True)
    """
    return bool(_WORD.search(text))


def _top(scale: str) -> int:
    return 10 if scale == "nps10" else 5


def classify(
    loc: Location,
    score: int | None,
    scale: str | None,
    text: str,
    *,
    bare: bool,
    probs: Mapping[str, float] | None,
) -> Conflict:
    """How `score` and `text` relate. `bare`: the score is a plain number read from the text
    on the location's scale (not "4/5", stars or a form's button); `probs`: the sentiment
    model's class probabilities for `text` (None: no text, or no model).

    >>> bus = Location(id="bus-42", name="Línea 42", scale="nps10")
    >>> happy = {"negative": 0.03, "neutral": 0.08, "positive": 0.89}
    >>> c = classify(bus, 5, "nps10", "5, muy rápidos", bare=True, probs=happy)
    >>> c.kind, c.read_score, c.read_scale
    (<Kind.WRONG_SCALE: 'wrong_scale'>, 5, 'csat5')
    >>> classify(bus, 2, "nps10", "2, genial", bare=True, probs=happy).kind
    <Kind.LOW_SCORE_HAPPY_TEXT: 'low_score_happy_text'>
    >>> classify(bus, 5, "nps10", "5", bare=True, probs=None).kind
    <Kind.UNCLEAR_SCALE: 'unclear_scale'>
    >>> classify(bus, 2, "nps10", "le doy un 2", bare=True, probs=happy).kind
    <Kind.AGREE: 'agree'>
    >>> angry = {"negative": 0.76, "neutral": 0.02, "positive": 0.22}
    >>> classify(bus, 10, "nps10", "10!! nunca más", bare=True, probs=angry).kind
    <Kind.HIGH_SCORE_ANGRY_TEXT: 'high_score_angry_text'>
    """
    if score is None or not scale or safety_keyword(text):
        return Conflict(Kind.AGREE, score, scale)
    p_neg = probs.get("negative", 0.0) if probs else 0.0
    p_pos = probs.get("positive", 0.0) if probs else 0.0
    words = has_words(text)
    # The model judges what the customer said besides the score: "I'd give it a 2" has no
    # happy words, whatever a model taught by many happy "I'd give it a ..." thinks of it.
    judged = words and probs is not None and says_more_than_score(text)
    happy = judged and p_pos >= HAPPY_MIN_POSITIVE and p_neg <= HAPPY_MAX_NEGATIVE
    angry = judged and p_neg >= ANGRY_MIN_NEGATIVE
    said = f"{score}/{_top(scale)}"
    if bare and scale == "nps10" and 1 <= score <= 5:
        if happy and not is_dissatisfied(loc, score, "csat5"):
            return Conflict(Kind.WRONG_SCALE, score, scale, score, "csat5",
                            f"bare {score} at an nps10 venue, happy text P(positive)={p_pos:.2f}: "
                            f"read as {score}/5")  # fmt: skip
        if not words and score >= 4:
            return Conflict(Kind.UNCLEAR_SCALE, score, scale,
                            evidence=f"bare {score} alone at an nps10 venue: {score}/10 or {score}/5?")  # fmt: skip
    dissatisfied = is_dissatisfied(loc, score, scale)
    if dissatisfied and happy:
        return Conflict(Kind.LOW_SCORE_HAPPY_TEXT, score, scale,
                        evidence=f"score {said}, text P(positive)={p_pos:.2f}")  # fmt: skip
    if not dissatisfied and angry:
        return Conflict(Kind.HIGH_SCORE_ANGRY_TEXT, score, scale,
                        evidence=f"score {said}, text P(negative)={p_neg:.2f}")  # fmt: skip
    return Conflict(Kind.AGREE, score, scale)


def judge(
    loc: Location,
    score: int | None,
    scale: str | None,
    text: str,
    p_negative: float | None,
    conflict: Conflict | None,
) -> tuple[Decision | None, bool]:
    """(the alert decision, whether to ask the customer first) for a feedback whose score has
    already been read as `conflict` says (ingest rewrites a WRONG_SCALE score).

    Safety pages at once; a hidden complaint pages at once; a low score with happy text is
    asked; anything else is the alert rules' call.

    >>> bus = Location(id="bus-42", name="Línea 42", scale="nps10")
    >>> ask = Conflict(Kind.LOW_SCORE_HAPPY_TEXT, 2, "nps10", evidence="happy")
    >>> d, asks = judge(bus, 2, "nps10", "2, genial", 0.05, ask)
    >>> d.reason, asks
    (<Reason.LOW_SCORE: 'low_score'>, True)
    >>> judge(bus, 2, "nps10", "2, genial, pero hay humo", 0.05, ask)[0].reason
    <Reason.SAFETY: 'safety'>
    >>> hidden = Conflict(Kind.HIGH_SCORE_ANGRY_TEXT, 10, "nps10", evidence="P(negative)=0.76")
    >>> judge(bus, 10, "nps10", "10!! nunca más", 0.76, hidden)
    (Decision(reason=<Reason.NEGATIVE_TEXT: 'negative_text'>, urgent=False, detail='score 10/10 but the text reads negative: P(negative)=0.76'), False)
    """
    decision = evaluate_feedback(loc, score, scale, text, p_negative)
    if decision is not None and decision.reason == Reason.SAFETY:
        return decision, False
    if conflict is None:
        return decision, False
    if conflict.kind == Kind.HIGH_SCORE_ANGRY_TEXT:
        said = f"{conflict.score}/{_top(conflict.scale or loc.scale)}"
        detail = f"score {said} but the text reads negative: {conflict.evidence.split(', ')[-1]}"
        return Decision(Reason.NEGATIVE_TEXT, False, detail), False
    if conflict.asks:
        if decision is None:  # an unclear 4 or 5 on its own: low only if meant out of 10
            top = _top(conflict.scale or loc.scale)
            decision = Decision(Reason.LOW_SCORE, False, f"score {conflict.score}/{top}")
        return decision, True
    return decision, False
