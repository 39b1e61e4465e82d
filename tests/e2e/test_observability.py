"""The operator side: Prometheus config and rules, the Grafana dashboard and docker-compose.yml.

The real-Prometheus tests scrape a small exporter that serves `pipeline.metrics.Metrics` while a
thread replays an incident: one location's CSAT falls, one location's feedback is received but
never scored, the lag on `feedback.raw` grows and a fifth of the pages miss the 0.25 s budget.
So every dashboard query returns data and every alert's condition holds.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily

from pipeline.kafka_local import free_port
from pipeline.metrics import Metrics
from pipeline.scoring.windows import summarize
from tests.support.prometheus import api, query, require, start_prometheus, wait_for_data
from tests.support.promql import (
    DASHBOARD,
    ROOT,
    RULES_DIR,
    Query,
    alert_names,
    dashboard_queries,
    dashboard_variables,
    panel_expressions,
    rule_queries,
)

logger = logging.getLogger(__name__)

LOCATIONS = ("bus-42", "resto-sol", "hotel-mar")
FALLING = "bus-42"  # its 1h CSAT is below 0.6 with more than 20 answers
STALLED = "hotel-mar"  # its feedback is received but never scored
TICK_S = 0.2
WAIT_S = 20.0

# The score gauges, as the workers' ScoresCollector exports them: (name, summary field).
SCORE_FAMILIES = (
    ("pronto_csat_ratio", "csat"),
    ("pronto_csat_ci_lower_ratio", "csat_low"),
    ("pronto_csat_ci_upper_ratio", "csat_high"),
    ("pronto_csat_answers", "csat_n"),
    ("pronto_nps_score", "nps"),
    ("pronto_nps_ci_lower_score", "nps_low"),
    ("pronto_nps_ci_upper_score", "nps_high"),
    ("pronto_nps_answers", "nps_n"),
)


def window_totals(location: str, window: str) -> dict[str, int]:
    """Answer counts per window: larger windows hold more answers; one location is unhappy."""
    n = {"5m": 8, "1h": 25, "24h": 310}[window]
    sat = round(n * (0.52 if location == FALLING else 0.84))
    pro, det = round(n * 0.5), round(n * (0.4 if location == FALLING else 0.15))
    return {"csat_n": n, "csat_sat": sat, "nps_n": n, "nps_pro": pro, "nps_det": det}


class StaticScores:
    """The score families with fixed counts, computed by the pipeline's own `summarize`."""

    def describe(self) -> list[Any]:
        return []  # like ScoresCollector: collected on every scrape, names not reserved

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, field in SCORE_FAMILIES:
            fam = GaugeMetricFamily(name, f"Test {field}.", labels=["location", "window"])
            for loc in LOCATIONS:
                for window in ("5m", "1h", "24h"):
                    fam.add_metric(
                        [loc, window], float(summarize(window_totals(loc, window))[field])
                    )
            yield fam


def record_tick(m: Metrics, i: int) -> None:
    """One slice of traffic into every metric family (a worker's counters over ~0.2 s)."""
    for loc in LOCATIONS:
        m.feedback_received.labels("sms", loc).inc()
        m.feedback_received.labels("web", loc).inc(2)
        if loc != STALLED:
            m.feedback_scored.labels(loc).inc(3)
        m.open_alerts.labels(loc).set(i % 3)
    m.feedback_rejected.labels("signature").inc()
    m.feedback_rejected.labels("rate_limited").inc(i % 2)
    m.keywords.labels("stop").inc()
    m.dlq.labels("score").inc()
    m.late_events.labels(FALLING).inc()
    for label in ("negative", "neutral", "positive"):
        m.sentiment.labels(label).inc()
    m.sentiment_accuracy.set(0.86)
    m.model_version.set(1200 + 6 * i)
    m.model_seconds.observe(0.0004)
    m.alerts_opened.labels(FALLING, "low_score").inc()
    m.fast_path.labels(FALLING).inc()
    m.alerts_opened_by_copy.labels(FALLING, "fast_path").inc()
    m.feedback_themes.labels(FALLING, "punctuality", "negative").inc(2)
    m.feedback_themes.labels("resto-sol", "food", "positive").inc()
    m.alerts_opened.labels("resto-sol", "negative_sentiment").inc()
    m.alerts_opened_by_copy.labels("resto-sol", "scored").inc()
    for event in ("opened", "paged", "acknowledged", "resolved", "followed_up"):
        m.alert_events.labels(FALLING, event).inc()
    for kind in ("page", "customer", "manager"):
        m.pages_sent.labels("sms", kind).inc()
    m.pages_failed.labels("sms", "undelivered").inc()
    m.pages_handed_off.labels("taken").inc(3)
    m.pages_handed_off.labels("left").inc(i % 2)
    m.gc_pauses.labels("0").observe(0.002)
    m.gc_pauses.labels("2").observe(0.045)
    m.escalations.labels(FALLING, "timeout").inc()
    m.acks.labels(FALLING, "sms").inc()
    m.acks.labels("resto-sol", "console").inc()
    m.resolutions.labels(FALLING).inc()
    m.recoveries.labels(FALLING, "recovered").inc()
    m.recoveries.labels(FALLING, "not_recovered").inc(i % 2)
    m.recoveries.labels("resto-sol", "not_recovered").inc()
    for seconds in (0.03, 0.04, 0.08, 0.12, 0.4):  # one page in five over the 0.25 s budget
        m.webhook_to_page.observe(seconds)
    m.webhook_to_scored.observe(0.012)
    m.first_response.observe((35.0, 50.0, 75.0)[i % 3])
    m.time_to_ack.observe((20.0, 40.0)[i % 2])
    m.time_to_resolve.observe((90.0, 180.0)[i % 2])
    m.consumer_lag.labels("feedback.raw").set(1500 + 40 * i)  # growing: a stuck consumer
    m.consumer_lag.labels("feedback.scored").set(3)
    m.ingest_seconds.labels("sms").observe(0.006)
    m.ingest_seconds.labels("web").observe(0.009)


class Exporter:
    """`/metrics` on a free port, fed by a traffic thread until `stop()`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.registry.register(StaticScores())  # type: ignore[arg-type]
        self.port = free_port()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Exporter:
        record_tick(self.metrics, 0)
        self.server, self._server_thread = start_http_server(
            self.port, addr="127.0.0.1", registry=self.registry
        )
        self._thread.start()
        return self

    def _run(self) -> None:
        i = 1
        while not self._stop.wait(TICK_S):
            record_tick(self.metrics, i)
            i += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus scraping the replaying exporter every second, with the repo's rules."""
    exporter = Exporter().start()
    started = time.monotonic()
    try:
        url, stop = start_prometheus(
            tmp_path_factory.mktemp("prometheus"), [f"127.0.0.1:{exporter.port}"]
        )
    except BaseException:
        exporter.stop()
        raise
    logger.info("prometheus started in %.1fs", time.monotonic() - started)
    yield url
    stop()
    exporter.stop()


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require("promtool"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


# --------------------------------------------------------------------------- static checks


@pytest.mark.parametrize("config", ["deploy/prometheus.yml", "deploy/prometheus.compose.yml"])
def test_promtool_accepts_the_prometheus_config(config: str) -> None:
    out = promtool("check", "config", "--syntax-only", config)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout + out.stderr


def test_promtool_accepts_the_config_with_its_rule_files() -> None:
    out = promtool("check", "config", "deploy/prometheus.yml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{len(list(RULES_DIR.glob('*.yml')))} rule files found" in out.stdout


def test_promtool_accepts_the_rules() -> None:
    files = sorted(str(p.relative_to(ROOT)) for p in RULES_DIR.glob("*.yml"))
    assert files, "no rule files in deploy/rules"
    out = promtool("check", "rules", *files)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("SUCCESS") == len(files)


def test_every_alert_is_annotated() -> None:
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    notes = rule.get("annotations", {})
                    assert notes.get("summary") and notes.get("description"), rule["alert"]
                    assert rule.get("labels", {}).get("severity") in ("page", "ticket")


def test_compose_parses_and_every_mounted_file_exists() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "worker", "prometheus", "grafana"} <= set(services)
    assert {"kafka-1", "kafka-2", "kafka-3"} <= set(services)
    mounts = 0
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if source.startswith((".", "/")):
                mounts += 1
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in compose.get("volumes", {}), f"{name}: undeclared volume {source}"
        build = svc.get("build")
        if build:
            context = build if isinstance(build, str) else build.get("context", ".")
            assert (ROOT / context / "Dockerfile").exists()
    assert mounts >= 4
    assert services["kafka"]["image"].startswith("apache/kafka:4.1.")
    worker_env = services["worker"]["environment"]
    assert "kafka://kafka:9092" in worker_env["PRONTO_BROKER"]
    assert worker_env["PRONTO_WEB_HOST"] == "0.0.0.0"


def test_compose_prometheus_scrapes_the_worker_service() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mount = next(v for v in compose["services"]["prometheus"]["volumes"] if "prometheus" in v)
    config = yaml.safe_load((ROOT / mount.split(":")[0]).read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "pronto")
    found = [(n, sd["port"]) for sd in job.get("dns_sd_configs", []) for n in sd["names"]]
    found += [tuple(t.split(":")) for sc in job.get("static_configs", []) for t in sc["targets"]]
    assert found and all(name == "worker" and int(port) == 6066 for name, port in found)


def test_grafana_provisioning_points_at_the_dashboard_datasource() -> None:
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    uids = {d["uid"] for d in sources["datasources"] if d["type"] == "prometheus"}
    dashboard = json.loads(DASHBOARD.read_text())
    used = {
        p["datasource"]["uid"] for p in dashboard["panels"] if isinstance(p.get("datasource"), dict)
    }
    assert used and used <= uids
    providers = yaml.safe_load((provisioning / "dashboards" / "pronto.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_dashboard_parses_with_unique_panel_ids_and_no_overlap() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, f"panel {p['title']!r} overlaps another"
        cells |= mine
        if p["type"] != "row":
            assert p.get("targets"), f"panel {p['title']!r} has no query"


def test_dashboard_queries_expand_every_grafana_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    raw = list(panel_expressions(dashboard))
    assert any("$location" in q.expr for q in raw) and any("$window" in q.expr for q in raw)
    queries = dashboard_queries()
    assert len(queries) > len(raw) // 2
    for q in queries:
        assert "$" not in q.expr.replace('"$1"', ""), q
    concrete = dashboard_queries(values={"location": "bus-42"})
    assert any('location=~"bus-42"' in q.expr for q in concrete)
    assert dashboard_variables(dashboard)["window"] in ("5m", "1h", "24h")
    quiet = dashboard_queries(alerts=False)
    assert alert_names() and len(quiet) == len(queries) - len(alert_names())


def test_dashboard_covers_every_metric_family() -> None:
    registry = CollectorRegistry()
    Metrics(registry)
    families = {fam.name for fam in registry.collect()} | {name for name, _ in SCORE_FAMILIES}
    text = " ".join(q.expr for q in dashboard_queries())
    missing = sorted(f for f in families if f not in text)
    assert not missing, f"metric families on no panel or rule: {missing}"


# --------------------------------------------------------------------------- real Prometheus


def test_every_dashboard_and_rule_query_returns_data_from_the_metrics_exporter(
    prometheus: str,
) -> None:
    queries = dashboard_queries()
    started = time.monotonic()
    empty = wait_for_data(prometheus, queries, WAIT_S)
    logger.info("%d queries answered in %.1fs", len(queries), time.monotonic() - started)
    assert not empty, "no data for:\n" + "\n".join(f"{q.source}: {q.expr}" for q in empty)


def test_every_alert_condition_holds_on_the_incident_replay(prometheus: str) -> None:
    expected = alert_names()
    deadline = time.monotonic() + WAIT_S
    while True:
        active = {s["metric"]["alertname"] for s in query(prometheus, "ALERTS")}
        if expected <= active or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert expected <= active, f"not pending or firing: {sorted(expected - active)}"
    falling = query(prometheus, 'ALERTS{alertname="ProntoCsatFalling"}')
    assert {s["metric"]["location"] for s in falling} == {FALLING}
    stalled = query(prometheus, 'ALERTS{alertname="ProntoScoringStalled"}')
    assert {s["metric"]["location"] for s in stalled} == {STALLED}


def test_the_scrape_is_clean_and_every_rule_evaluates(prometheus: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while True:
        targets = api(prometheus, "targets")["activeTargets"]
        if (targets and all(t["health"] == "up" for t in targets)) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert targets and all(t["health"] == "up" and not t["lastError"] for t in targets), targets
    rules = [r for g in api(prometheus, "rules")["groups"] for r in g["rules"]]
    assert len(rules) == len(rule_queries())
    bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] == "err"]
    assert not bad, bad


def test_scores_aggregate_across_workers_without_double_counting(prometheus: str) -> None:
    """`max by (location, window)` keeps each location's one score; here one exporter is one
    worker, so the recorded series equals the raw gauge for every location and window."""
    assert not wait_for_data(prometheus, [Query("rule", "pronto:csat_answers:max")], WAIT_S)
    raw = query(prometheus, "pronto_csat_answers")
    recorded = query(prometheus, "pronto:csat_answers:max")
    as_map = {(s["metric"]["location"], s["metric"]["window"]): s["value"][1] for s in raw}
    assert as_map and as_map == {
        (s["metric"]["location"], s["metric"]["window"]): s["value"][1] for s in recorded
    }
