"""When a failed send is tried again: a pure policy on plain values (no faust, no twilio).

Twilio answers 429 when we send too fast and 5xx when it is in trouble; both pass, so they are
retried with exponential backoff and jitter for up to a budget (`PRONTO_SEND_RETRY_S`). Any other
4xx is our request's fault and would fail the same way again: it is final at once.
"""

from __future__ import annotations

from dataclasses import dataclass

NO_ANSWER = 0  # the status of a call that got no HTTP answer (refused, reset, timed out)
TOO_MANY_REQUESTS = 429


@dataclass(frozen=True)
class RetryPolicy:
    """How long, and how often, a retryable failure is tried again."""

    budget_s: float = 120.0  # from the first call; then the page goes down the failure path
    first_s: float = 0.5  # the first wait; each one after doubles ...
    cap_s: float = 10.0  # ... up to this


DEFAULT_POLICY = RetryPolicy()


def retryable(status: int) -> bool:
    """Whether a failed call with this HTTP status may succeed if made again.

    >>> [s for s in (0, 400, 401, 404, 422, 429, 500, 502, 503) if retryable(s)]
    [0, 429, 500, 502, 503]
    """
    return status in (NO_ANSWER, TOO_MANY_REQUESTS) or status >= 500


def may_have_gone_out(status: int) -> bool:
    """Whether a failed call may still have created the message (no answer, or a server
    error midway), so the provider's log should be asked before it is made again. A 429 was
    turned away at the door.

    >>> may_have_gone_out(0), may_have_gone_out(503), may_have_gone_out(429)
    (True, True, False)
    """
    return status != TOO_MANY_REQUESTS


def backoff_s(attempts: int, rand: float, policy: RetryPolicy = DEFAULT_POLICY) -> float:
    """The wait after the `attempts`-th failed call: doubling from `first_s` up to `cap_s`, of
    which a random half (`rand` in [0, 1)) is jitter, so a burst of failures does not come back
    as one burst.

    >>> [backoff_s(n, 0.0) for n in (1, 2, 3, 4, 5, 6, 7)]
    [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    >>> [backoff_s(n, 0.999999) for n in (1, 2, 6)]
    [0.5, 1.0, 10.0]
    """
    ceiling = min(policy.cap_s, policy.first_s * 2.0 ** max(attempts - 1, 0))
    return round(ceiling / 2 + ceiling / 2 * rand, 3)


def retry_in(
    status: int, attempts: int, elapsed_s: float, rand: float, policy: RetryPolicy = DEFAULT_POLICY
) -> float | None:
    """Seconds to wait before calling again after a failed call, or None: the failure is final
    (not retryable, or the budget is spent). The last wait is cut to end at the budget, so
    the final call is made at the deadline rather than skipped.

    >>> retry_in(503, attempts=1, elapsed_s=0.3, rand=0.0)
    0.25
    >>> retry_in(400, attempts=1, elapsed_s=0.3, rand=0.0) is None  # our fault: final
    True
    >>> retry_in(429, attempts=9, elapsed_s=117.0, rand=0.0)  # 5 s would overrun the budget
    3.0
    >>> retry_in(429, attempts=10, elapsed_s=120.1, rand=0.0) is None
    True
    """
    if not retryable(status):
        return None
    left = policy.budget_s - elapsed_s
    if left <= 0:
        return None
    return min(backoff_s(attempts, rand, policy), round(left, 3))
