"""95% intervals for a proportion (Wilson) and for a net score (adjusted Wald), and `Score`.

Pure math on counts: no I/O, no state.
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

logger = logging.getLogger(__name__)

Z95 = 1.959963984540054  # the 0.975 quantile of the standard normal
NPS_PSEUDO = 0.75  # pseudo-count added to promoters and to detractors (Rocks 2016)
NPS_PSEUDO_N = 3.0  # pseudo-count added to n: 3/4 + 3/4 + 3/2 passives


class Score(NamedTuple):
    """A point estimate, its sample count and its 95% interval; all None when `n` is 0.
    (A tuple: every scored record builds six of them, and a frozen dataclass took 1 µs each.)"""

    value: float | None
    n: int
    low: float | None
    high: float | None


def _check_counts(n: int, a: int, b: int = 0) -> None:
    """Raise ValueError unless the parts `a` and `b` are non-negative and add up to at most n.

    >>> _check_counts(3, 2, 1)
    >>> _check_counts(3, 2, 2)
    Traceback (most recent call last):
    ValueError: counts must be non-negative and add up to at most n=3: (2, 2)
    """
    if n < 0 or a < 0 or b < 0 or a + b > n:
        raise ValueError(f"counts must be non-negative and add up to at most n={n}: {(a, b)}")


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for the proportion `successes / n`.

    Chosen over the plain Wald interval because it stays inside [0, 1] and keeps close to
    its nominal coverage for the small counts a 5-minute window holds (Wilson 1927; Brown, Cai
    and DasGupta 2001, "Interval estimation for a binomial proportion").

    >>> lo, hi = wilson(8, 10)
    >>> round(lo, 6), round(hi, 6)
    (0.490162, 0.943318)
    >>> wilson(0, 0)
    (0.0, 1.0)
    """
    _check_counts(n, successes)
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # Wilson always contains p; min/max only undo float rounding at p = 0 or 1.
    return max(0.0, min(centre - half, p)), min(1.0, max(centre + half, p))


def adjusted_wald_net(
    promoters: int, detractors: int, n: int, z: float = Z95
) -> tuple[float, float]:
    """The adjusted-Wald interval for the net score p+ - p- on [-1, 1].

    The answers are a trinomial (detractor, passive, promoter). Following Rocks (2016),
    "Interval Estimation for the 'Net Promoter Score'", The American Statistician 70(4),
    365-372 (arXiv:1601.07235), which found adjusted-Wald intervals to have the best
    coverage, we add pseudo-counts (3/4 to promoters, 3/4 to detractors, 3 to n, as in
    Lewis & Sauro's evaluation of that paper on real NPS data) and use the variance of a
    difference of two multinomial proportions:

        Var(p+ - p-) = (p+ + p- - (p+ - p-)^2) / n

    The interval is centred on the adjusted estimate, clipped to [-1, 1], and widened, where
    needed, to contain the raw estimate (which the pseudo-counts can pull away from when n is
    tiny), so a published interval always contains its published score.

    >>> lo, hi = adjusted_wald_net(60, 20, 100)
    >>> round(lo, 6), round(hi, 6)
    (0.233799, 0.5429)
    >>> adjusted_wald_net(0, 0, 0)
    (-1.0, 1.0)
    """
    _check_counts(n, promoters, detractors)
    if n == 0:
        return -1.0, 1.0
    n_adj = n + NPS_PSEUDO_N
    p_pro = (promoters + NPS_PSEUDO) / n_adj
    p_det = (detractors + NPS_PSEUDO) / n_adj
    centre = p_pro - p_det
    half = z * math.sqrt((p_pro + p_det - centre * centre) / n_adj)
    raw = (promoters - detractors) / n
    low = max(-1.0, min(centre - half, raw))
    high = min(1.0, max(centre + half, raw))
    return low, high
