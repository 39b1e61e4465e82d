"""The per-client rate limiter: forgetting refilled clients changes no answer."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.ingest.ratelimit import RateLimiter


class Remembering(RateLimiter):
    """The limiter as it was: it never forgets a client (below `max_keys`)."""

    def _forget_refilled(self, now: float) -> None:
        return None


@given(st.lists(st.tuples(st.sampled_from("abcde"), st.floats(0, 5)), max_size=200),
       st.integers(1, 5), st.floats(1, 120))  # fmt: skip
def test_forgetting_a_refilled_client_changes_no_answer(
    steps: list[tuple[str, float]], burst: int, per_min: float
) -> None:
    lean, full = RateLimiter(per_min, burst), Remembering(per_min, burst)
    now = 0.0
    for key, dt in steps:
        now += dt
        assert lean.allow(key, now) == full.allow(key, now), (key, now)
    assert len(lean) <= len(full)


def test_the_table_holds_only_recent_clients() -> None:
    rl = RateLimiter(rate_per_min=30)  # a full bucket of 30 refills in 60 s
    for i in range(10_000):  # one new number every 10 ms, as in a surge of distinct senders
        assert rl.allow(f"c_{i}", now=i * 0.01)
    assert len(rl) <= 60 / 0.01 + 1  # the last minute's clients, not all 10,000
