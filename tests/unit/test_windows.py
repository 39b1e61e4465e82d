"""Rolling-window bucket keys, lateness, expiry and window totals over a dict 'table'."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.scoring.windows import (
    DEFAULT_WINDOWS,
    FIELDS,
    WindowSpec,
    accept,
    bucket_keys,
    bucket_start,
    counter_deltas,
    expired_keys,
    parse_windows,
    summarize,
    window_totals,
)

T0 = 1_718_006_400.0  # a multiple of 3600, so buckets of every default window start here
W5M, W1H, W24H = DEFAULT_WINDOWS


class Table:
    """Stands in for the Faust table: scalar counters, only ever incremented."""

    def __init__(self, windows: tuple[WindowSpec, ...] = DEFAULT_WINDOWS, lateness_s: float = 60):
        self.data: Counter[str] = Counter()
        self.windows = windows
        self.lateness_s = lateness_s
        self.late = 0

    def record(self, location: str, score: int, scale: str, event_time: float, now: float) -> bool:
        if not accept(event_time, now, self.lateness_s):
            self.late += 1
            return False
        deltas = counter_deltas(score, scale)
        for k in bucket_keys(location, min(event_time, now), self.windows, deltas):
            self.data[k] += deltas[k.rsplit("|", 1)[1]]
        return True

    def get(self, k: str) -> int:
        return self.data.get(k, 0)

    def totals(self, location: str, window: WindowSpec, now: float) -> dict[str, int]:
        return window_totals(self.get, location, window, now)

    def sweep(self, now: float) -> list[str]:
        gone = expired_keys(list(self.data), now, self.windows, self.lateness_s)
        for k in gone:
            del self.data[k]
        return gone


# --- window specs -------------------------------------------------------------------------


def test_default_windows_are_5m_1h_24h_with_10_to_24_buckets() -> None:
    assert (
        WindowSpec("5m", 300, 30),
        WindowSpec("1h", 3600, 300),
        WindowSpec("24h", 86400, 3600),
    ) == DEFAULT_WINDOWS
    assert [w.n_buckets for w in DEFAULT_WINDOWS] == [10, 12, 24]


@pytest.mark.parametrize("spec", ["15m", "2h", "6h", "7d", "90s", "45m"])
def test_parsed_windows_have_about_10_to_30_buckets(spec: str) -> None:
    (w,) = parse_windows(spec)
    assert w.size_s % w.bucket_s == 0
    assert 10 <= w.n_buckets <= 30


def test_explicit_bucket_and_spaces() -> None:
    assert parse_windows(" 1h/10m , 5M ") == (
        WindowSpec("1h", 3600, 600),
        WindowSpec("5m", 300, 30),
    )


@pytest.mark.parametrize("spec", ["", "5x", "0m", "5m,5m", "5s", "1h/7m", "-5m"])
def test_invalid_window_specs_are_rejected(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_windows(spec)


# --- counters -------------------------------------------------------------------------------


def test_counter_deltas_for_every_answer() -> None:
    csat = {s: counter_deltas(s, "csat5") for s in range(1, 6)}
    assert csat == {
        1: {"csat_n": 1},
        2: {"csat_n": 1},
        3: {"csat_n": 1},
        4: {"csat_n": 1, "csat_sat": 1},
        5: {"csat_n": 1, "csat_sat": 1},
    }
    det, pas, pro = {"nps_n": 1, "nps_det": 1}, {"nps_n": 1}, {"nps_n": 1, "nps_pro": 1}
    assert [counter_deltas(s, "nps10") for s in range(11)] == [det] * 7 + [pas] * 2 + [pro] * 2
    assert {f for d in [*csat.values(), det, pas, pro] for f in d} == set(FIELDS)


@pytest.mark.parametrize(("score", "scale"), [(0, "csat5"), (6, "csat5"), (11, "nps10"), (3, "x")])
def test_counter_deltas_reject_off_scale_answers(score: int, scale: str) -> None:
    with pytest.raises(ValueError):
        counter_deltas(score, scale)


def test_keys_name_location_window_bucket_and_field() -> None:
    keys = bucket_keys("bus-42", T0 + 45.2, DEFAULT_WINDOWS, ["csat_n"])
    t = int(T0)
    assert keys == [f"bus-42|5m|{t + 30}|csat_n", f"bus-42|1h|{t}|csat_n", f"bus-42|24h|{t}|csat_n"]
    with pytest.raises(ValueError):
        bucket_keys("a|b", T0)


# --- totals, lateness, expiry -----------------------------------------------------------------


def test_window_totals_and_summary() -> None:
    table = Table()
    for i, s in enumerate([5, 4, 4, 2, 1]):
        table.record("r1", s, "csat5", T0 + i, T0 + i)
    for i, s in enumerate([10, 9, 8, 3]):
        table.record("r1", s, "nps10", T0 + i, T0 + i)
    totals = table.totals("r1", W5M, T0 + 10)
    assert totals == {"csat_n": 5, "csat_sat": 3, "nps_n": 4, "nps_pro": 2, "nps_det": 1}
    sm = summarize(totals)
    assert (sm["csat"], sm["csat_n"], sm["nps"], sm["nps_n"], sm["n"]) == (0.6, 5, 25.0, 4, 9)
    assert sm["csat_low"] < 0.6 < sm["csat_high"] and sm["nps_low"] < 25.0 < sm["nps_high"]
    assert table.totals("other", W5M, T0 + 10) == dict.fromkeys(FIELDS, 0)


def test_summary_clamps_counters_left_inconsistent_by_a_crash() -> None:
    # A crash between the increments of one answer can leave a part ahead of its total.
    sm = summarize({"csat_n": 3, "csat_sat": 4, "nps_n": 2, "nps_pro": 2, "nps_det": 1})
    assert (sm["csat"], sm["csat_n"], sm["nps"], sm["nps_n"]) == (1.0, 3, 100.0, 2)


def test_summary_of_an_empty_window_has_no_scores() -> None:
    s = summarize(dict.fromkeys(FIELDS, 0))
    assert s["csat"] is None and s["nps"] is None and s["n"] == 0


def test_totals_after_time_moves_on() -> None:
    table = Table()
    table.record("bus", 5, "csat5", T0 + 1, T0 + 1)
    table.record("bus", 1, "csat5", T0 + 200, T0 + 200)
    assert table.totals("bus", W5M, T0 + 250)["csat_n"] == 2
    # The first answer's bucket [T0, T0+30) leaves the 5m window once now - 300 >= T0.
    assert table.totals("bus", W5M, T0 + 300) == {**dict.fromkeys(FIELDS, 0), "csat_n": 1}
    assert table.totals("bus", W5M, T0 + 600)["csat_n"] == 0
    assert table.totals("bus", W1H, T0 + 600) == {
        **dict.fromkeys(FIELDS, 0),
        "csat_n": 2,
        "csat_sat": 1,
    }
    assert table.totals("bus", W24H, T0 + 86_399)["csat_n"] == 2
    assert table.totals("bus", W24H, T0 + 86_400)["csat_n"] == 0


def test_late_event_within_lateness_counts_in_its_own_bucket() -> None:
    table = Table(lateness_s=60)
    now = T0 + 100
    assert table.record("bus", 5, "csat5", T0 + 45, now)  # 55 s late: accepted
    assert table.data[f"bus|5m|{int(T0) + 30}|csat_sat"] == 1  # its own bucket, not now's
    assert table.get(f"bus|5m|{int(T0) + 90}|csat_sat") == 0
    assert table.totals("bus", W5M, now)["csat_sat"] == 1
    # Its own bucket leaves the window on time, not a minute later with now's bucket.
    assert table.totals("bus", W5M, T0 + 329)["csat_n"] == 1
    assert table.totals("bus", W5M, T0 + 330)["csat_n"] == 0


def test_too_late_event_is_rejected_and_counted() -> None:
    table = Table(lateness_s=60)
    assert not table.record("bus", 5, "csat5", T0, T0 + 60.5)
    assert table.late == 1
    assert not table.data
    assert accept(T0, T0 + 60, 60)


def test_window_read_looks_up_only_its_buckets() -> None:
    calls: list[str] = []

    def get(k: str) -> int:
        calls.append(k)
        return 0

    for w in DEFAULT_WINDOWS:
        calls.clear()
        window_totals(get, "bus", w, T0 + 12_345)
        assert len(calls) == w.n_buckets * len(FIELDS)


def test_expiry_removes_old_buckets_and_keeps_live_ones() -> None:
    table = Table(lateness_s=60)
    table.record("bus", 4, "csat5", T0 + 1, T0 + 1)
    table.record("bus", 4, "csat5", T0 + 250, T0 + 250)
    gone = table.sweep(T0 + 400)
    t = int(T0)
    assert sorted(gone) == [f"bus|5m|{t}|csat_n", f"bus|5m|{t}|csat_sat"]
    assert table.totals("bus", W5M, T0 + 400)["csat_n"] == 1
    assert table.totals("bus", W1H, T0 + 400)["csat_n"] == 2
    table.sweep(T0 + 86_400 + 3600 + 60)
    assert not table.data


def test_stale_window_keys_expire_and_foreign_keys_are_kept() -> None:
    keys = [f"bus|2h|{int(T0)}|csat_n", "not-a-counter", f"bus|5m|{int(T0)}|csat_n"]
    assert expired_keys(keys, T0 + 1, DEFAULT_WINDOWS, 60) == [keys[0]]


events = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.integers(0, 10),
        st.floats(0, 2 * 86_400, allow_nan=False),
        st.floats(0, 120, allow_nan=False),
    ),
    max_size=40,
)


@given(events, st.floats(0, 3 * 86_400, allow_nan=False), st.floats(0, 600, allow_nan=False))
def test_expiry_never_changes_a_total_nor_drops_a_writable_bucket(
    evs: list[tuple[str, int, float, float]], sweep_at: float, lateness: float
) -> None:
    table = Table(lateness_s=lateness)
    for loc, score, t, delay in sorted(evs, key=lambda e: e[2]):
        table.record(loc, score, "nps10", T0 + t, T0 + t + delay)
    now = T0 + sweep_at
    before = {(loc, w): table.totals(loc, w, now) for loc in "ab" for w in DEFAULT_WINDOWS}
    gone = table.sweep(now)
    after = {(loc, w): table.totals(loc, w, now) for loc in "ab" for w in DEFAULT_WINDOWS}
    assert before == after
    # Nothing accepted at `now` or later can write to a deleted bucket.
    oldest = now - lateness
    writable = set(bucket_keys("a", oldest, DEFAULT_WINDOWS)) | set(bucket_keys("b", oldest))
    assert not writable & set(gone)


def test_keys_per_active_location_are_bounded() -> None:
    """A location with an answer every 10 s for two days, swept every 30 s."""
    table = Table(lateness_s=60)
    peak = {"csat5": 0, "nps10": 0}
    for step in range(2 * 86_400 // 10):
        now = T0 + step * 10
        table.record("c", 4 if step % 3 else 2, "csat5", now - 5, now)
        table.record("n", step % 11, "nps10", now - 5, now)
        if step % 3 == 0:
            table.sweep(now)
        for loc, scale in (("c", "csat5"), ("n", "nps10")):
            count = sum(1 for k in table.data if k.startswith(f"{loc}|"))
            peak[scale] = max(peak[scale], count)
    # Per field: 10 + 12 + 24 window buckets, plus at most one not yet swept or still
    # writable by a late event in each window.
    per_field = sum(w.n_buckets + 2 for w in DEFAULT_WINDOWS)
    assert peak["csat5"] <= 2 * per_field
    assert peak["nps10"] <= 3 * per_field
    assert peak["csat5"] >= 2 * sum(w.n_buckets for w in DEFAULT_WINDOWS)


def test_location_counts_match_a_full_recount_whatever_the_order() -> None:
    """The per-location value (one table key) sums as the old key-per-counter table did,
    through late events, replays and pruning."""
    import random

    from pipeline.scoring.location_counts import LocationCounts

    rng = random.Random(7)
    windows = parse_windows("5m,1h")
    counts = LocationCounts()
    table: dict[str, int] = {}
    now = 1_000_000.0
    for offset in range(2000):
        now += rng.uniform(0, 3)
        event = now - rng.uniform(0, 100)  # late events too
        incs = [(w.name, "csat_n", bucket_start(event, w.bucket_s), 1) for w in windows]
        assert counts.add_once(incs, 0, offset)
        assert not counts.add_once(incs, 0, offset)  # a replay is not counted again
        for k in bucket_keys("loc", event, windows, ["csat_n"]):
            table[k] = table.get(k, 0) + 1
        if offset % 100 == 0:
            counts.prune(now, windows, 100.0)
            counts = LocationCounts.from_value(counts.to_value())  # through the table
        for w in windows:
            fresh = window_totals(lambda k: table.get(k, 0), "loc", w, now, ("csat_n",))
            assert counts.totals(w, now, ("csat_n",)) == fresh
