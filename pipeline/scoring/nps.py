"""NPS: % promoters (9-10) minus % detractors (0-6) on 0-10 answers, on -100..100."""

from __future__ import annotations

import logging

from pipeline.scoring.intervals import Score, adjusted_wald_net

logger = logging.getLogger(__name__)

__all__ = ["DETRACTOR_MAX", "PROMOTER_MIN", "Score", "category", "nps"]

PROMOTER_MIN = 9
DETRACTOR_MAX = 6


def category(score: int) -> str:
    """`promoter`, `passive` or `detractor` for a 0-10 answer; raise ValueError outside 0-10.

    >>> [category(s) for s in (0, 6, 7, 8, 9, 10)]
    ['detractor', 'detractor', 'passive', 'passive', 'promoter', 'promoter']
    """
    if not 0 <= score <= 10:
        raise ValueError(f"an NPS answer is 0-10, got {score}")
    if score >= PROMOTER_MIN:
        return "promoter"
    return "detractor" if score <= DETRACTOR_MAX else "passive"


def nps(promoters: int, detractors: int, n: int) -> Score:
    """NPS on -100..100 with a 95% adjusted-Wald interval (see `adjusted_wald_net`).

    >>> s = nps(60, 20, 100)
    >>> s.value, s.n, round(s.low, 4), round(s.high, 4)
    (40.0, 100, 23.3799, 54.29)
    >>> s = nps(1, 0, 1)  # the interval is widened to hold the score itself
    >>> s.value, round(s.low, 4), s.high
    (100.0, -48.4986, 100.0)
    >>> nps(0, 0, 0)
    Score(value=None, n=0, low=None, high=None)
    """
    if n == 0:
        if promoters or detractors:
            raise ValueError(f"promoters={promoters}, detractors={detractors} with n=0")
        return Score(None, 0, None, None)
    low, high = adjusted_wald_net(promoters, detractors, n)
    return Score(100.0 * (promoters - detractors) / n, n, 100.0 * low, 100.0 * high)
