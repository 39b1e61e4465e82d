"""The benchmark's arithmetic: percentiles, rates, growth fits and target verdicts. Pure.

Nothing here measures anything: it takes the numbers the loads collected and turns them into
the figures `pronto bench` prints.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q`-th percentile (0-100) by linear interpolation between closest ranks; None if empty.

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    >>> percentile([5.0], 99), percentile([], 50)
    (5.0, None)
    >>> percentile(list(range(101)), 99)
    99.0
    """
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile: q must be within 0..100, got {q}")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


LATENCY_QS = (("p50", 50.0), ("p95", 95.0), ("p99", 99.0), ("max", 100.0))
PAGE_QS = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("max", 100.0))


def summarize_ms(seconds: Sequence[float],
                 qs: Sequence[tuple[str, float]] = LATENCY_QS) -> dict[str, float | int | None]:  # fmt: skip
    """Latencies in seconds -> n and the percentiles `qs` in milliseconds (1 decimal).

    >>> summarize_ms([0.010, 0.020, 0.030])
    {'n': 3, 'p50': 20.0, 'p95': 29.0, 'p99': 29.8, 'max': 30.0}
    >>> summarize_ms([])
    {'n': 0, 'p50': None, 'p95': None, 'p99': None, 'max': None}
    >>> summarize_ms([0.1, 0.2], PAGE_QS)["p90"]
    190.0
    """
    out: dict[str, float | int | None] = {"n": len(seconds)}
    for name, q in qs:
        v = percentile(seconds, q)
        out[name] = None if v is None else round(v * 1000.0, 1)
    return out


def complaints_summary(seconds: Sequence[float], sent: int,
                       within_s: float | None = None) -> dict[str, object]:  # fmt: skip
    """Webhook -> page figures for `sent` complaints, one page each expected: the latencies of
    those paged (ms), how many were paged, and with `within_s`, whether every one of them was
    paged within that many seconds.

    >>> d = complaints_summary([0.1, 0.2, 3.5], 4, within_s=3.0)
    >>> d["n"], d["p50"], d["max"], d["sent"], d["paged"], d["all_paged"], d["all_within_s"]
    (3, 200.0, 3500.0, 4, 3, False, False)
    >>> complaints_summary([0.1, 0.2], 2, within_s=3.0)["all_within_s"]
    True
    """
    out: dict[str, object] = dict(summarize_ms(seconds, PAGE_QS))
    out.update(sent=sent, paged=len(seconds), all_paged=sent > 0 and len(seconds) >= sent)
    if within_s is not None:
        out["within_s"] = within_s
        out["all_within_s"] = bool(out["all_paged"]) and max(seconds, default=0.0) <= within_s
    return out


def rate(count: float, seconds: float) -> float:
    """Events a second, 0 when no time passed.

    >>> rate(500, 2.0), rate(3, 0.0)
    (250.0, 0.0)
    """
    return float(count) / seconds if seconds > 0 else 0.0


def drain_rate(samples: Sequence[tuple[float, int]]) -> float:
    """Records a second over `samples` of (time, records done so far): from the last sample
    before the first record was done to the first sample that shows them all done. A quick
    run's whole backlog can be done between two samples (records go out in Kafka batches):
    a span starting at the first busy sample would then measure nothing, and one ending at
    the last sample would count the idle time after the drain. 0 when nothing was done.

    >>> drain_rate([(0.0, 0), (1.0, 0), (2.0, 300), (3.0, 600)])
    300.0
    >>> drain_rate([(0.0, 0), (0.5, 3000), (9.0, 3000)])  # all done between two samples
    6000.0
    >>> drain_rate([(0.0, 0), (5.0, 0)]), drain_rate([])
    (0.0, 0.0)
    """
    started = next((i for i, s in enumerate(samples) if s[1] > 0), None)
    if started is None:
        return 0.0
    total = samples[-1][1]
    first = samples[max(started - 1, 0)]
    last = next(s for s in samples if s[1] >= total)
    return rate(last[1] - first[1], last[0] - first[0])


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The least-squares slope of `ys` over `xs` (0 with fewer than two distinct xs).

    >>> slope([0, 1, 2, 3], [10, 12, 14, 16])
    2.0
    >>> slope([1, 1], [3, 4])
    0.0
    """
    n = len(xs)
    if n != len(ys):
        raise ValueError("slope: xs and ys differ in length")
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def slope_stderr(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The standard error of `slope(xs, ys)`: how far the fitted slope moves with the noise
    around the line (0 with fewer than three distinct points). A slope within about two of
    these of zero is flat as far as the samples can tell.

    >>> slope_stderr([0, 1, 2, 3], [10, 12, 14, 16])
    0.0
    >>> round(slope_stderr([0, 1, 2, 3], [10, 11, 10, 11]), 3)
    0.283
    """
    n = len(xs)
    if n < 3:
        return 0.0
    mx = sum(xs) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    b = slope(xs, ys)
    a = sum(ys) / n - b * mx
    residual = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys, strict=True))
    return float((residual / (n - 2) / sxx) ** 0.5)


def extrapolate(xs: Sequence[float], ys: Sequence[float], at: float) -> float:
    """The value of the fitted line through the last point at `x = at`.

    >>> extrapolate([0, 100], [200.0, 210.0], 1000)
    300.0
    """
    if not xs:
        raise ValueError("extrapolate: no points")
    return float(ys[-1] + slope(xs, ys) * (at - xs[-1]))


@dataclass(frozen=True)
class Target:
    """One target of the issue: met or not, and what limits it."""

    name: str
    goal: str
    value: float | None
    met: bool
    limit: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"goal": self.goal, "value": self.value, "met": self.met, "limit": self.limit}


def at_least(name: str, value: float | None, goal: float, unit: str, limit: str = "") -> Target:
    """A target met when `value >= goal` (a missing value is not met).

    >>> at_least("pipeline", 12000.0, 10000, "feedback/s").met
    True
    >>> at_least("pipeline", None, 10000, "feedback/s").met
    False
    """
    ok = value is not None and math.isfinite(value) and value >= goal
    return Target(name, f">= {goal:g} {unit}", value, ok, limit)


def at_most(name: str, value: float | None, goal: float, unit: str, limit: str = "") -> Target:
    """A target met when `value <= goal` (a missing value is not met).

    >>> at_most("rss", 310.0, 400, "MB").to_dict()["met"]
    True
    """
    ok = value is not None and math.isfinite(value) and value <= goal
    return Target(name, f"<= {goal:g} {unit}", value, ok, limit)


def finite_or_none(x: float | None, digits: int = 2) -> float | None:
    """`x` rounded, or None when it is missing or not finite (JSON has no NaN).

    >>> finite_or_none(1.23456), finite_or_none(float("nan")), finite_or_none(None)
    (1.23, None, None)
    """
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), digits)
