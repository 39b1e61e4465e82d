"""The retry policy: plain values in, plain values out."""

from __future__ import annotations

import pytest

from pipeline.alerts.retry import RetryPolicy, backoff_s, may_have_gone_out, retry_in, retryable


@pytest.mark.parametrize(
    ("status", "again"),
    [(0, True), (429, True), (500, True), (502, True), (503, True), (504, True),
     (400, False), (401, False), (403, False), (404, False), (422, False)],
)  # fmt: skip
def test_only_throttling_server_errors_and_silence_are_retried(status: int, again: bool) -> None:
    assert retryable(status) is again
    assert (retry_in(status, attempts=1, elapsed_s=0.0, rand=0.5) is not None) is again


@pytest.mark.parametrize("rand", [0.0, 0.25, 0.5, 0.999])
def test_backoff_doubles_with_jitter_up_to_the_cap(rand: float) -> None:
    policy = RetryPolicy(first_s=0.5, cap_s=10.0)
    waits = [backoff_s(n, rand, policy) for n in range(1, 12)]
    ceilings = [min(10.0, 0.5 * 2 ** (n - 1)) for n in range(1, 12)]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True))
    assert waits == sorted(waits) and max(waits) <= 10.0


def test_a_page_is_retried_for_the_whole_budget_and_no_longer() -> None:
    policy = RetryPolicy(budget_s=120.0)
    elapsed, attempts = 0.0, 0
    while (wait := retry_in(503, attempts + 1, elapsed, 0.999, policy)) is not None:
        attempts += 1
        elapsed += wait + 0.3  # each call takes 0.3 s
    assert 120.0 <= elapsed < 121.0  # the last call is made at the deadline
    assert 15 <= attempts <= 20  # ~10 s apart once capped, not a tight loop


def test_a_429_never_created_the_message_other_failures_may_have() -> None:
    assert not may_have_gone_out(429)
    assert may_have_gone_out(0) and may_have_gone_out(500)
