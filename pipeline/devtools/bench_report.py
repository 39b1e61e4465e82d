"""The benchmark's verdicts and its Markdown table. Pure: a result dict in, text out."""

from __future__ import annotations

import logging
from typing import Any

from pipeline.devtools.bench_stats import Target, at_least, at_most

logger = logging.getLogger(__name__)

PIPELINE_GOAL = 10_000.0
RATIO_GOAL = 0.30
PAGE_P99_GOAL_MS = 250.0
RSS_GOAL_MB = 400.0
RECOVERY_GOAL_S = 10.0


def targets(r: dict[str, Any]) -> dict[str, Target]:
    """Each of the issue's targets, met or not, with what limits it.

    >>> t = targets({"pipeline_rate": 500.0, "pipeline_over_raw": 0.01, "rss_mb": 300.0,
    ...              "recovery_s": 2.0, "latency": {}, "limits": {}})
    >>> [(k, v.met) for k, v in t.items()]
    [('pipeline_rate', False), ('pipeline_over_raw', False), ('page_p99_at_500', False), ('rss', True), ('recovery', True)]
    """
    lim = r.get("limits", {})
    p99 = (r.get("latency", {}).get("500", {}).get("page_ms") or {}).get("p99")
    return {
        "pipeline_rate": at_least(
            "pipeline_rate",
            r.get("pipeline_rate"),
            PIPELINE_GOAL,
            "feedback/s",
            lim.get("pipeline", ""),
        ),
        "pipeline_over_raw": at_least(
            "pipeline_over_raw",
            r.get("pipeline_over_raw"),
            RATIO_GOAL,
            "x raw",
            lim.get("pipeline", ""),
        ),
        "page_p99_at_500": at_most(
            "page_p99_at_500", p99, PAGE_P99_GOAL_MS, "ms", lim.get("latency", "")
        ),
        "rss": at_most("rss", r.get("rss_mb"), RSS_GOAL_MB, "MB", lim.get("rss", "")),
        "recovery": at_most(
            "recovery", r.get("recovery_s"), RECOVERY_GOAL_S, "s", lim.get("recovery", "")
        ),
    }


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.3g}"
    return str(v)


def markdown(r: dict[str, Any]) -> str:
    """The result as Markdown: the headline figures, latency per load, and the targets.

    >>> md = markdown({"raw_rate": 1e5, "pipeline_rate": 300.0, "latency": {"100": {
    ...     "page_ms": {"p50": 20.0, "p95": 30.0, "p99": 40.0, "max": 50.0, "n": 9},
    ...     "scored_ms": {"p50": 5.0, "p95": 6.0, "p99": 7.0, "max": 8.0, "n": 60}}},
    ...     "targets": {}})
    >>> "| 100 | 9 | 20.0 | 30.0 | 40.0 | 50.0 |" in md
    True
    """
    rows = [
        ("raw consumer (aiokafka), records/s", r.get("raw_rate")),
        ("raw consumer (kafka-python), records/s", r.get("raw_rate_kafka_python")),
        ("score stage alone, feedback/s", r.get("score_rate")),
        ("pipeline through the alert rules, feedback/s (one worker)", r.get("pipeline_rate")),
        ("pipeline / raw", r.get("pipeline_over_raw")),
        ("HTTP ingest, signed webhooks/s", r.get("ingest_rps")),
        ("worker RSS, MB (steady, 1,000 locations)", r.get("rss_mb")),
        ("RSS growth, MB per 100k messages", r.get("rss_growth_mb_per_100k")),
        ("RSS extrapolated to 1 M messages, MB", r.get("rss_at_1m_mb")),
        ("table recovery, s", r.get("recovery_s")),
    ]
    out = ["| measure | value |", "| --- | ---: |"]
    out += [f"| {name} | {_fmt(v)} |" for name, v in rows]
    out += ["", "| load /s | pages | p50 ms | p95 ms | p99 ms | max ms | "
            "scored p50 | scored p99 | ok/sent |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for load, d in r.get("latency", {}).items():
        p, s = d.get("page_ms", {}), d.get("scored_ms", {})
        out.append(f"| {load} | {_fmt(p.get('n'))} | {_fmt(p.get('p50'))} | {_fmt(p.get('p95'))} "
                   f"| {_fmt(p.get('p99'))} | {_fmt(p.get('max'))} | {_fmt(s.get('p50'))} "
                   f"| {_fmt(s.get('p99'))} | {d.get('ok', '')}/{d.get('sent', '')} |")  # fmt: skip
    out += [
        "",
        "| target | goal | value | met | what limits it |",
        "| --- | --- | ---: | --- | --- |",
    ]
    for name, t in r.get("targets", {}).items():
        out.append(f"| {name} | {t['goal']} | {_fmt(t['value'])} | "
                   f"{'yes' if t['met'] else 'no'} | {t['limit']} |")  # fmt: skip
    notes = r.get("notes", [])
    if notes:
        out += ["", *[f"- {n}" for n in notes]]
    return "\n".join(out)
