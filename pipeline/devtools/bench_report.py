"""The benchmark's verdicts and its Markdown table. Pure: a result dict in, text out."""

from __future__ import annotations

import logging
from typing import Any

from pipeline.devtools.bench_stats import Target, at_least, at_most

logger = logging.getLogger(__name__)

PIPELINE_GOAL = 10_000.0
RATIO_GOAL = 0.30
PAGE_P50_GOAL_MS = 50.0  # at 500 feedback/s
PAGE_P99_GOAL_MS = 250.0  # at 500 feedback/s
PAGE_P99_AT_1000_GOAL_MS = 1000.0
BACKLOG_P90_GOAL_MS = 1000.0
BACKLOG_MAX_GOAL_MS = 3000.0
BURST_GOAL_MS = 3000.0
RSS_GOAL_MB = 400.0
RECOVERY_GOAL_S = 10.0


def _complete(d: dict[str, Any], q: str) -> float | None:
    """Percentile `q` of a complaint phase, or None unless every complaint was paged (a
    missing page is later than any percentile of the others).

    >>> _complete({"p90": 80.0, "all_paged": True}, "p90"), _complete({"p90": 80.0}, "p90")
    (80.0, None)
    """
    return d.get(q) if d.get("all_paged") else None


def _missing(d: dict[str, Any]) -> str:
    if not d or d.get("all_paged"):
        return ""
    return f"{d.get('sent', 0) - d.get('paged', 0)} of {d.get('sent', 0)} complaints not paged; "


def targets(r: dict[str, Any]) -> dict[str, Target]:
    """Each of the issue's targets, met or not, with what limits it.

    >>> t = targets({"pipeline_rate": 500.0, "pipeline_over_raw": 0.01, "rss_mb": 300.0,
    ...              "recovery_s": 2.0, "latency": {}, "limits": {}})
    >>> [k for k, v in t.items() if v.met]
    ['rss', 'recovery']
    >>> t = targets({"page_latency": {"burst_20": {"max": 900.0, "all_paged": True},
    ...                               "backlog_30k": {"p90": 400.0, "max": 2000.0}}})
    >>> t["burst_all_within_3s"].met, t["backlog_page_p90"].met, t["backlog_page_max"].value
    (True, False, None)
    """
    lim = r.get("limits", {})
    late = lim.get("latency", "")
    p500 = r.get("latency", {}).get("500", {}).get("page_ms") or {}
    pages = r.get("page_latency", {})
    at1000 = pages.get("steady", {}).get("1000", {})
    behind, burst = pages.get("backlog_30k", {}), pages.get("burst_20", {})
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
        "page_p50_at_500": at_most(
            "page_p50_at_500", p500.get("p50"), PAGE_P50_GOAL_MS, "ms", late
        ),
        "page_p99_at_500": at_most(
            "page_p99_at_500", p500.get("p99"), PAGE_P99_GOAL_MS, "ms", late
        ),
        "page_p99_at_1000": at_most(
            "page_p99_at_1000", at1000.get("p99"), PAGE_P99_AT_1000_GOAL_MS, "ms", late
        ),
        "backlog_page_p90": at_most(
            "backlog_page_p90",
            _complete(behind, "p90"),
            BACKLOG_P90_GOAL_MS,
            "ms",
            _missing(behind) + late,
        ),
        "backlog_page_max": at_most(
            "backlog_page_max",
            _complete(behind, "max"),
            BACKLOG_MAX_GOAL_MS,
            "ms",
            _missing(behind) + late,
        ),
        "burst_all_within_3s": at_most(
            "burst_all_within_3s",
            _complete(burst, "max"),
            BURST_GOAL_MS,
            "ms (the latest page)",
            _missing(burst) + late,
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


def page_rows(r: dict[str, Any]) -> list[str]:
    """The webhook -> page call table: steady loads, the backlog and the burst, with goals.

    >>> rows = page_rows({"twilio_latency_ms": 300.0, "page_latency": {"steady": {"500": {
    ...     "n": 70, "pages": 70, "complaints_sent": 75, "p50": 12.0, "p90": 20.0, "p95": 25.0,
    ...     "p99": 40.0, "max": 60.0}}, "burst_20": {"n": 20, "sent": 20, "p50": 30.0,
    ...     "max": 90.0, "all_within_s": True}}})
    >>> rows[-2]
    '| steady 500/s | 75 | 70/70 | 12.0 | 20.0 | 25.0 | 40.0 | 60.0 | p50 < 50, p99 < 250 |'
    >>> rows[-1].startswith("| burst of 20 at once | 20 | 20/20 | 30.0 |"), "yes" in rows[-1]
    (True, True)
    """
    pages = r.get("page_latency")
    if not pages:
        return []
    out = ["", f"Webhook -> page call, ms (a Twilio API of {_fmt(r.get('twilio_latency_ms'))} "
           "ms a call):", "",
           "| phase | complaints | pages called/written | p50 | p90 | p95 | p99 | max | goal |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]  # fmt: skip
    goals = {"500": "p50 < 50, p99 < 250", "1000": "p99 <= 1000"}
    rows: list[tuple[str, str, dict[str, Any], str, str]] = [
        (f"steady {k}/s", str(d.get("complaints_sent", "")), d, str(d.get("pages", "")),
         goals.get(k, "")) for k, d in pages.get("steady", {}).items()
    ]  # fmt: skip
    behind = pages.get("backlog_30k")
    if behind:
        name = (f"behind {int(behind.get('records') or 0):,} records (drained at "
                f"{_fmt(behind.get('drain_rate'))}/s)")  # fmt: skip
        rows.append((name, str(behind.get("sent", "")), behind, str(behind.get("sent", "")),
                     "p90 <= 1000, max <= 3000"))  # fmt: skip
    burst = pages.get("burst_20")
    if burst:
        met = "yes" if burst.get("all_within_s") else "no"
        rows.append((f"burst of {burst.get('sent')} at once", str(burst.get("sent", "")), burst,
                     str(burst.get("sent", "")), f"all <= 3000: {met}"))  # fmt: skip
    for name, complaints, d, wrote, goal in rows:
        qs = " | ".join(_fmt(d.get(q)) for q in ("p50", "p90", "p95", "p99", "max"))
        out.append(f"| {name} | {complaints} | {d.get('n', 0)}/{wrote} | {qs} | {goal} |")
    return out


def _themes(cost: dict[str, Any] | None) -> str | None:
    return f"{cost['median_us']} / {cost['p99_us']}" if cost and cost.get("messages") else None


def markdown(r: dict[str, Any]) -> str:
    """The result as Markdown: the headline figures, latency per load, and the targets.

    >>> md = markdown({"raw_rate": 1e5, "pipeline_rate": 300.0, "latency": {"100": {
    ...     "page_ms": {"p50": 20.0, "p95": 30.0, "p99": 40.0, "max": 50.0, "n": 9},
    ...     "scored_ms": {"p50": 5.0, "p95": 6.0, "p99": 7.0, "max": 8.0, "n": 60}}},
    ...     "targets": {}})
    >>> "| 100 | 9 | 20.0 | 30.0 | 40.0 | 50.0 | n/a |" in md
    True
    """
    rows = [
        ("raw consumer (aiokafka), records/s", r.get("raw_rate")),
        ("raw consumer (kafka-python), records/s", r.get("raw_rate_kafka_python")),
        ("score stage alone, feedback/s", r.get("score_rate")),
        ("score process CPU per feedback, ms", r.get("score_cpu_ms_per_record")),
        ("pipeline through the alert rules, feedback/s (one worker)", r.get("pipeline_rate")),
        ("pipeline / raw", r.get("pipeline_over_raw")),
        ("HTTP ingest, signed webhooks/s", r.get("ingest_rps")),
        ("worker RSS, all its processes, MB (1,000 locations)", r.get("rss_mb")),
        (
            "RSS by process, MB",
            ", ".join(f"{k} {v:.0f}" for k, v in (r.get("rss_by_process_mb") or {}).items())
            or None,
        ),
        ("worker PSS (shared pages counted once), MB", r.get("pss_mb")),
        ("RSS growth, MB per 100k messages", r.get("rss_growth_mb_per_100k")),
        ("  its standard error, MB per 100k", r.get("rss_growth_stderr_mb_per_100k")),
        (
            "  by process, MB per 100k",
            ", ".join(
                f"{k} {v:+.0f}"
                for k, v in (r.get("rss_growth_by_process_mb_per_100k") or {}).items()
            )
            or None,
        ),
        ("RSS warm-up before the fit, MB", r.get("rss_warmup_mb")),
        ("RSS extrapolated to 1 M messages, MB", r.get("rss_at_1m_mb")),
        ("themes: tag() per message, µs (median / p99)", _themes(r.get("themes"))),
        ("table recovery, s", r.get("recovery_s")),
        ("restart to ready, s", r.get("restart_to_ready_s")),
        (
            "restart to ready by process, s",
            ", ".join(f"{k} {v}" for k, v in (r.get("restart_ready_by_process_s") or {}).items())
            or None,
        ),
    ]
    out = ["| measure | value |", "| --- | ---: |"]
    out += [f"| {name} | {_fmt(v)} |" for name, v in rows]
    out += ["", "| load /s | pages | p50 ms | p95 ms | p99 ms | max ms | from the send, p99 ms "
            "| scored p50 | scored p99 | ok/sent | offered /s |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for load, d in r.get("latency", {}).items():
        p, s = d.get("page_ms", {}), d.get("scored_ms", {})
        sent = d.get("sent_page_ms", {})
        out.append(f"| {load} | {_fmt(p.get('n'))} | {_fmt(p.get('p50'))} | {_fmt(p.get('p95'))} "
                   f"| {_fmt(p.get('p99'))} | {_fmt(p.get('max'))} | {_fmt(sent.get('p99'))} "
                   f"| {_fmt(s.get('p50'))} | {_fmt(s.get('p99'))} "
                   f"| {d.get('ok', '')}/{d.get('sent', '')} | {_fmt(d.get('offered_rate'))} |")  # fmt: skip
    out += page_rows(r)
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
