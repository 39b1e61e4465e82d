"""CSAT: the share of satisfied answers (4 or 5) among 1-5 answers, with its Wilson interval."""

from __future__ import annotations

import logging

from pipeline.scoring.intervals import Score, wilson

logger = logging.getLogger(__name__)

__all__ = ["SATISFIED_MIN", "Score", "csat", "is_satisfied"]

SATISFIED_MIN = 4  # 4 and 5 count as satisfied on the 1-5 scale


def is_satisfied(score: int) -> bool:
    """Whether a 1-5 answer counts as satisfied; raise ValueError outside 1-5.

    >>> [is_satisfied(s) for s in (1, 3, 4, 5)]
    [False, False, True, True]
    """
    if not 1 <= score <= 5:
        raise ValueError(f"a CSAT answer is 1-5, got {score}")
    return score >= SATISFIED_MIN


def csat(satisfied: int, n: int) -> Score:
    """CSAT on [0, 1] from `satisfied` answers out of `n`, with a 95% Wilson interval.

    >>> s = csat(8, 10)
    >>> s.value, s.n, round(s.low, 4), round(s.high, 4)
    (0.8, 10, 0.4902, 0.9433)
    >>> csat(0, 0)
    Score(value=None, n=0, low=None, high=None)
    """
    if n == 0:
        if satisfied:
            raise ValueError(f"satisfied={satisfied} with n=0")
        return Score(None, 0, None, None)
    low, high = wilson(satisfied, n)
    return Score(satisfied / n, n, low, high)
