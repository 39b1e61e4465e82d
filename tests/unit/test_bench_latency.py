"""The benchmark's matching of pages to Twilio calls, and its latency arithmetic. Pure."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.devtools import bench_latency as lat
from pipeline.devtools import bench_load as load
from pipeline.devtools.bench_complaints import ComplaintRun, figures, posts
from pipeline.devtools.bench_report import markdown, targets
from pipeline.devtools.bench_stats import (
    PAGE_QS,
    complaints_summary,
    drain_rate,
    percentile,
    summarize_ms,
)

API = "/2010-04-01/Accounts/AC1/Messages.json"


def page(pid: str, loc: str, at: float, *, kind: str = "page", level: int = 0) -> dict[str, Any]:
    return {"page_id": pid, "kind": kind, "level": level, "location_id": loc, "received_at": at}


def call(pid: str, wall: float, method: str = "POST", path: str = API) -> dict[str, Any]:
    cb = f"https://pronto.test/sms/status?page={pid}"
    return {"method": method, "path": path, "wall": wall, "form": {"StatusCallback": cb}}


def test_each_first_page_is_matched_to_its_first_call() -> None:
    outbox = [page("P1-p0", "a", 10.0), page("P2-p0", "b", 11.0), page("P3-p0", "c", 12.0)]
    calls = [call("P2-p0", 11.3), call("P1-p0", 10.2), call("P1-p0", 15.0)]  # P1 sent twice
    got = {c.page_id: round(c.latency_s, 3) for c in lat.page_calls(outbox, calls)}
    assert got == {"P1-p0": 0.2, "P2-p0": 0.3}  # P3 was never called: not a latency


def test_only_an_alerts_own_first_page_counts() -> None:
    outbox = [
        page("P1-p0", "a", 10.0),
        page("P1-g0", "a", 10.0),  # the burst's grouped page, 30 s later by design
        page("P1-p1", "a", 10.0, level=1),  # an escalation
        page("P1-m8", "a", 10.0, kind="manager", level=8),
        page("P4-p0", "a", 10.0, kind="customer"),
    ]
    calls = [call("P1-p0", 10.1), call("P1-g0", 40.1), call("P1-p1", 70.0), call("P1-m8", 9e3),
             call("P4-p0", 10.1)]  # fmt: skip
    assert [c.page_id for c in lat.page_calls(outbox, calls)] == ["P1-p0"]
    assert lat.pages_in(outbox, 0, 100) == 1


def test_list_calls_and_calls_without_a_page_are_not_pages() -> None:
    outbox = [page("P1-p0", "a", 10.0)]
    calls = [call("P1-p0", 10.1, method="GET"), {"method": "POST", "path": API, "wall": 10.2},
             call("P1-p0", 10.3, path="/2010-04-01/Accounts/AC1/Calls.json")]  # fmt: skip
    assert lat.page_calls(outbox, calls) == []
    assert len(posts([*calls, call("P1-p0", 10.4)])) == 2  # not the GET, not Calls.json


def test_steady_latencies_are_windowed_on_the_webhooks_clock() -> None:
    outbox = [page("P1-p0", "a", 10.0), page("P2-p0", "b", 20.0)]
    calls = [call("P1-p0", 10.5), call("P2-p0", 20.05)]
    assert [round(x, 3) for x in lat.page_latencies(outbox, calls, 15.0, 25.0)] == [0.05]


def test_complaints_match_by_venue_and_missing_ones_are_named() -> None:
    outbox = [page("P1-p0", "v1", 100.2), page("P2-p0", "v2", 100.3),
              page("P9-p0", "v1", 50.0), page("P8-p0", "other", 100.4)]  # fmt: skip
    calls = [call("P1-p0", 100.5), call("P2-p0", 101.3), call("P9-p0", 50.1), call("P8-p0", 101)]
    run = load.HttpRun(0.0, sent=3, ok=3, started=100.0, ended=100.1, complaints=3)
    f = figures(ComplaintRun(("v1", "v2", "v3"), run), lat.page_calls(outbox, calls), 3.0)
    assert (f["sent"], f["paged"], f["n"], f["missing"]) == (3, 2, 2, ["v3"])
    assert (f["p50"], f["max"]) == (650.0, 1000.0)
    assert f["all_paged"] is False and f["all_within_s"] is False


def test_a_burst_paged_in_time_meets_its_target_and_a_late_one_does_not() -> None:
    ok = complaints_summary([0.2, 0.4, 2.9], 3, within_s=3.0)
    late = complaints_summary([0.2, 0.4, 3.1], 3, within_s=3.0)
    assert ok["all_within_s"] is True and late["all_within_s"] is False
    assert complaints_summary([], 0, within_s=3.0)["all_paged"] is False  # nothing measured


@pytest.mark.parametrize("xs", [[0.5], [3.0, 1.0, 2.0], [float(i) for i in range(1000)]])
def test_percentiles_are_ordered_and_bounded(xs: list[float]) -> None:
    s = summarize_ms(xs, PAGE_QS)
    qs = [s[name] for name, _ in PAGE_QS]
    assert qs == sorted(qs)  # type: ignore[type-var]
    assert qs[-1] == round(max(xs) * 1000, 1)
    assert percentile(xs, 0) == min(xs)


def test_targets_and_the_table_carry_the_page_figures() -> None:
    steady = {"n": 9, "pages": 9, "complaints_sent": 10, "p50": 30.0, "p90": 80.0, "p95": 90.0,
              "p99": 200.0, "max": 210.0}  # fmt: skip
    r = {
        "twilio_latency_ms": 300.0,
        "latency": {"500": {"page_ms": {"n": 9, "p50": 30.0, "p99": 200.0, "max": 210.0}}},
        "page_latency": {
            "steady": {"500": steady, "1000": {**steady, "p99": 1200.0}},
            "backlog_30k": complaints_summary([0.3] * 18 + [0.9, 2.0], 20)
            | {"records": 30000, "drain_rate": 900.0},
            "burst_20": complaints_summary([0.1] * 19, 20, within_s=3.0),
        },
    }
    t = targets(r)
    met = {k: v.met for k, v in t.items() if "page" in k or "burst" in k}
    assert met == {"page_p50_at_500": True, "page_p99_at_500": True, "page_p99_at_1000": False,
                   "backlog_page_p90": True, "backlog_page_max": True,
                   "burst_all_within_3s": False}  # fmt: skip
    assert "1 of 20 complaints not paged" in t["burst_all_within_3s"].limit
    r["targets"] = {k: v.to_dict() for k, v in t.items()}
    md = markdown(r)
    assert "| steady 1000/s | 10 | 9/9 |" in md
    assert "| behind 30,000 records (drained at 900.0/s) | 20 | 20/20 |" in md
    assert "| burst of 20 at once | 20 | 19/20 |" in md


def test_the_drain_rate_spans_from_the_first_record_to_the_last() -> None:
    # A quick run's backlog scored before the worker was ready: the early samples hold it.
    before_ready = [(0.0, 0), (0.25, 0), (0.5, 1_000), (0.75, 3_000)]
    after_ready = [(1.0, 3_000), (6.0, 3_000)]
    assert drain_rate(before_ready + after_ready) == pytest.approx(3_000 / 0.5)
    assert drain_rate(after_ready) == 0.0  # nothing seen moving: no rate, rather than a guess
    assert drain_rate([(0.0, 0), (2.0, 0)]) == 0.0
