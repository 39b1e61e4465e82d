"""CSAT and NPS on counts, and their 95% intervals, against independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from pipeline.scoring.csat import csat, is_satisfied
from pipeline.scoring.intervals import Z95, adjusted_wald_net, wilson
from pipeline.scoring.nps import category, nps


@st.composite
def trinomials(draw: st.DrawFn, max_n: int = 2000) -> tuple[int, int, int]:
    n = draw(st.integers(1, max_n))
    pro = draw(st.integers(0, n))
    det = draw(st.integers(0, n - pro))
    return pro, det, n


@st.composite
def binomials(draw: st.DrawFn, max_n: int = 5000) -> tuple[int, int]:
    n = draw(st.integers(1, max_n))
    return draw(st.integers(0, n)), n


def reference_nps_interval(pro: int, det: int, n: int) -> tuple[float, float]:
    """The same adjusted-Wald interval, derived as c' Cov c for the trinomial with numpy."""
    counts = np.array([det, n - pro - det, pro], dtype=float) + np.array([0.75, 1.5, 0.75])
    p = counts / counts.sum()
    cov = (np.diag(p) - np.outer(p, p)) / counts.sum()
    contrast = np.array([-1.0, 0.0, 1.0])
    centre = float(contrast @ p)
    half = 1.959963984540054 * math.sqrt(float(contrast @ cov @ contrast))
    return max(-1.0, centre - half), min(1.0, centre + half)


# --- point values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("satisfied", "n", "expected"),
    [(8, 10, 0.8), (0, 5, 0.0), (5, 5, 1.0), (1, 3, 1 / 3), (37, 50, 0.74)],
)
def test_csat_value_is_share_of_satisfied(satisfied: int, n: int, expected: float) -> None:
    s = csat(satisfied, n)
    assert s.value == pytest.approx(expected)
    assert s.n == n


@pytest.mark.parametrize(
    ("pro", "det", "n", "expected"),
    [
        (60, 20, 100, 40.0),
        (0, 10, 10, -100.0),
        (10, 0, 10, 100.0),
        (0, 0, 7, 0.0),
        (3, 5, 8, -25.0),
    ],
)
def test_nps_value_is_promoters_minus_detractors_percent(
    pro: int, det: int, n: int, expected: float
) -> None:
    s = nps(pro, det, n)
    assert s.value == pytest.approx(expected)
    assert s.n == n


def test_empty_sample_has_no_value() -> None:
    for s in (csat(0, 0), nps(0, 0, 0)):
        assert (s.value, s.n, s.low, s.high) == (None, 0, None, None)


@pytest.mark.parametrize("args", [(3, 2), (-1, 4), (1, -1)])
def test_csat_rejects_impossible_counts(args: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        csat(*args)


@pytest.mark.parametrize("args", [(3, 3, 5), (-1, 0, 4), (1, 0, 0)])
def test_nps_rejects_impossible_counts(args: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError):
        nps(*args)


def test_answer_categories_follow_the_definitions() -> None:
    assert [is_satisfied(s) for s in range(1, 6)] == [False, False, False, True, True]
    assert [category(s) for s in range(11)] == ["detractor"] * 7 + ["passive"] * 2 + [
        "promoter"
    ] * 2
    for bad in (0, 6):
        with pytest.raises(ValueError):
            is_satisfied(bad)
    for bad in (-1, 11):
        with pytest.raises(ValueError):
            category(bad)


# --- Wilson ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "n"), [(0, 1), (1, 1), (8, 10), (0, 25), (25, 25), (13, 40), (731, 1000)]
)
def test_wilson_matches_statsmodels_on_known_inputs(successes: int, n: int) -> None:
    ref = proportion_confint(successes, n, alpha=0.05, method="wilson")
    assert wilson(successes, n) == pytest.approx(ref, abs=1e-12)
    s = csat(successes, n)
    assert (s.low, s.high) == pytest.approx(ref, abs=1e-12)


@given(binomials())
def test_wilson_matches_statsmodels(sn: tuple[int, int]) -> None:
    successes, n = sn
    ref = proportion_confint(successes, n, alpha=0.05, method="wilson")
    assert wilson(successes, n) == pytest.approx(ref, abs=1e-12)


@given(binomials())
def test_csat_interval_contains_value_and_stays_in_range(sn: tuple[int, int]) -> None:
    s = csat(*sn)
    assert s.value is not None and s.low is not None and s.high is not None
    assert 0.0 <= s.low <= s.value <= s.high <= 1.0


@given(binomials(max_n=500), st.integers(2, 20))
def test_csat_interval_narrows_as_n_grows(sn: tuple[int, int], k: int) -> None:
    successes, n = sn
    small, large = csat(successes, n), csat(successes * k, n * k)
    assert small.low is not None and small.high is not None
    assert large.low is not None and large.high is not None
    assert large.high - large.low < small.high - small.low


# --- NPS adjusted Wald ----------------------------------------------------------------------


def test_nps_interval_on_a_known_input_matches_the_hand_formula() -> None:
    # 60 promoters, 20 detractors, 20 passives; pseudo-counts 3/4, 3/4 and n + 3.
    p_pro, p_det = 60.75 / 103, 20.75 / 103
    half = Z95 * math.sqrt((p_pro + p_det - (p_pro - p_det) ** 2) / 103)
    s = nps(60, 20, 100)
    assert s.low == pytest.approx(100 * (p_pro - p_det - half), abs=1e-9)
    assert s.high == pytest.approx(100 * (p_pro - p_det + half), abs=1e-9)


@given(trinomials())
def test_nps_interval_matches_the_matrix_reference(c: tuple[int, int, int]) -> None:
    pro, det, n = c
    ref_low, ref_high = reference_nps_interval(pro, det, n)
    raw = (pro - det) / n
    low, high = adjusted_wald_net(pro, det, n)
    # Ours is the reference widened only to contain the raw estimate.
    assert low == pytest.approx(min(ref_low, raw), abs=1e-9)
    assert high == pytest.approx(max(ref_high, raw), abs=1e-9)


@pytest.mark.parametrize(("pro", "det", "n"), [(200, 100, 400), (60, 20, 100), (500, 300, 1000)])
def test_nps_interval_agrees_with_a_parametric_bootstrap(pro: int, det: int, n: int) -> None:
    rng = np.random.default_rng(20160127)
    draws = rng.multinomial(n, [pro / n, det / n, 1 - (pro + det) / n], size=20_000)
    boot = 100.0 * (draws[:, 0] - draws[:, 1]) / n
    boot_low, boot_high = np.quantile(boot, [0.025, 0.975])
    s = nps(pro, det, n)
    assert s.low == pytest.approx(boot_low, abs=1.5)
    assert s.high == pytest.approx(boot_high, abs=1.5)


@pytest.mark.parametrize("n", [20, 50, 200])
@pytest.mark.parametrize("probs", [(0.6, 0.2), (0.3, 0.3), (0.8, 0.05), (0.1, 0.7)])
def test_nps_interval_covers_the_true_score_about_95_percent(
    n: int, probs: tuple[float, float]
) -> None:
    rng = np.random.default_rng(n * 1000 + int(probs[0] * 100))
    true = 100.0 * (probs[0] - probs[1])
    draws = rng.multinomial(n, [probs[0], probs[1], 1 - sum(probs)], size=4000)
    hits = 0
    for pro, det, _ in draws:
        s = nps(int(pro), int(det), n)
        assert s.low is not None and s.high is not None
        hits += s.low <= true <= s.high
    assert 0.93 <= hits / len(draws) <= 0.975


@given(trinomials())
def test_nps_interval_contains_value_and_stays_in_range(c: tuple[int, int, int]) -> None:
    s = nps(*c)
    assert s.value is not None and s.low is not None and s.high is not None
    assert -100.0 <= s.low <= s.value <= s.high <= 100.0


@given(trinomials(max_n=300), st.integers(2, 20))
def test_nps_interval_narrows_as_n_grows(c: tuple[int, int, int], k: int) -> None:
    pro, det, n = c
    small, large = nps(pro, det, n), nps(pro * k, det * k, n * k)
    assert small.low is not None and small.high is not None
    assert large.low is not None and large.high is not None
    assert large.high - large.low < small.high - small.low
