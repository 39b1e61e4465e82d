"""`pronto bench --quick --json`: the output's shape, not its speed (CI runs this smoke only)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
HEADLINE = ("raw_rate", "pipeline_rate", "pipeline_over_raw", "ingest_rps", "rss_mb", "recovery_s")
TARGETS = ("pipeline_rate", "pipeline_over_raw", "page_p50_at_500", "page_p99_at_500",
           "page_p99_at_1000", "backlog_page_p90", "backlog_page_max", "burst_all_within_3s",
           "rss", "recovery")  # fmt: skip
QS = ("p50", "p90", "p95", "p99", "max")


def finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def test_quick_bench_prints_every_figure_and_a_verdict_per_target(kafka) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRONTO_")}
    env["PRONTO_BROKER"] = f"kafka://{kafka.bootstrap}"  # the session's broker: no second JVM
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "bench", "--quick", "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    for key in HEADLINE:
        assert finite(result[key]) and result[key] >= 0, (key, result[key])
    assert result["raw_rate"] > 0 and result["score_rate"] > 0  # something was measured
    # The alert rules' rate comes from their reader's commits, sampled every 0.5 s (the lag
    # gauge beside it moves every 5 s: a quick run can end before it moves at all).
    assert result["pipeline_rate_source"] == "commits" and result["pipeline_rate"] > 0, result
    assert finite(result["pipeline_rate_lag"])
    assert set(result["latency"]) == {"100", "500", "1000"}
    for load in result["latency"].values():  # signed as Twilio signs: every webhook taken
        assert load["ok"] == load["sent"] > 0 and load["errors"] == {}, load
        assert finite(load["offered_rate"]) and load["offered_rate"] > 0, load
        # Each page is found again from the send, which comes before the worker's clock starts.
        page, sent = load["page_ms"], load["sent_page_ms"]
        assert sent["n"] == page["n"], (sent, page)
        assert page["n"] == 0 or (sent["p50"] >= page["p50"] and sent["max"] >= page["max"])
    # Pages were matched to their webhooks at some load (an overloaded host may not drain all).
    assert sum(d["page_ms"]["n"] for d in result["latency"].values()) > 0, result["latency"]
    for d in [result["latency_page_ms"], *(x["page_ms"] for x in result["latency"].values())]:
        qs = [d[q] for q in ("p50", "p95", "p99", "max")]
        assert all(q is None for q in qs) if d["n"] == 0 else qs == sorted(qs), d
        assert all(q is None or finite(q) for q in qs)
    for target in TARGETS:
        verdict = result["targets"][target]
        assert isinstance(verdict["met"], bool) and verdict["goal"], (target, verdict)
    assert result["recovery_checked"] is True  # the restarted worker knew the old ids
    ready = result["restart_ready_by_process_s"]  # the worker's answer and each process's own
    assert set(ready) == {"web", "score", "alert,notify"}, ready
    assert all(finite(v) and v > 0 for v in ready.values()), ready
    themes = result["themes"]  # the score stage's tag() on the bench's own mix
    assert themes["messages"] > 0 and 0 < themes["tagged_share"] <= 1, themes
    assert result["themes_us_per_msg"] == themes["median_us"] > 0
    assert {"supervisor", "score"} <= set(result["rss_by_process_mb"]), result["rss_by_process_mb"]
    # PSS counts the shared libraries once: at most the RSS, and more than nothing.
    rss = sum(result["rss_by_process_mb"].values())  # taken just before the PSS
    assert 0 < result["pss_mb"] <= rss + 1, (result["pss_mb"], result["rss_by_process_mb"])
    assert set(result["pss_by_process_mb"]) == set(result["rss_by_process_mb"])
    assert_pages(result)


def assert_pages(result: dict) -> None:
    """The page figures are there, through the Twilio stand-in, and every complaint of the
    burst and of the backlog phase was paged (how fast is the full bench's business)."""
    assert result["twilio_latency_ms"] == 300
    assert result["twilio_calls"]["messages"] > 0
    pages = result["page_latency"]
    assert set(pages) == {"steady", "backlog_30k", "burst_20"}
    assert set(pages["steady"]) == {"100", "500", "1000"}
    assert sum(d["n"] for d in pages["steady"].values()) > 0, pages["steady"]
    for d in [*pages["steady"].values(), pages["backlog_30k"], pages["burst_20"]]:
        qs = [d[q] for q in QS]
        assert all(q is None for q in qs) if d["n"] == 0 else qs == sorted(qs), d
        assert all(q is None or (finite(q) and q >= 0) for q in qs), d
    for name in ("backlog_30k", "burst_20"):
        d = pages[name]
        assert d["sent"] > 0 and d["ok"] == d["sent"], (name, d)
        assert d["paged"] == d["n"] == d["sent"] and d["missing"] == [], (name, d)
        assert d["all_paged"] is True, (name, d)
    assert isinstance(pages["burst_20"]["all_within_s"], bool)
    backlog = pages["backlog_30k"]
    assert backlog["records"] > 0 and finite(backlog["drain_rate"]) and backlog["drain_rate"] > 0
