"""Every PromQL expression the operator files hold: the Grafana dashboard and the rule files.

Dashboard expressions use Grafana's variables (`$location`, `$window`, `$__rate_interval`,
`$__range`); they are expanded to what Grafana would send, so that a real Prometheus can run
them. Rule expressions are taken as they are (a `$1` there belongs to `label_replace`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "pronto.json"
RULES_DIR = ROOT / "deploy" / "rules"

# What Grafana's built-in variables become. 1m is what Grafana computes for $__rate_interval
# with the datasource's 15 s scrape interval; $__range is the dashboard's time range.
BUILTINS: dict[str, str] = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}
ALL_REGEX = ".+"
# $name, ${name}, ${name:format} and the deprecated [[name]]; `$1` is not a variable.
_VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)(?::[^}]*)?\}|\$([A-Za-z_]\w*)|\[\[([A-Za-z_]\w*)\]\]")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(.+?)\s*,\s*\w+\s*\)\s*$")


@dataclass(frozen=True)
class Query:
    """One expression and where it came from (a panel title or a rule name)."""

    source: str
    expr: str


def expand_variables(expr: str, values: Mapping[str, str]) -> str:
    """Replace Grafana variables in `expr` by `values`; an unknown variable is an error.

    >>> expand_variables('rate(x{location=~"$location"}[$__rate_interval])',
    ...                  {"location": ".+", "__rate_interval": "1m"})
    'rate(x{location=~".+"}[1m])'
    >>> expand_variables('label_replace(x, "t", "$1", "reason", "(.+)")', {})
    'label_replace(x, "t", "$1", "reason", "(.+)")'
    """

    def sub(m: re.Match[str]) -> str:
        name = next(g for g in m.groups() if g)
        if name not in values:
            raise KeyError(f"unknown Grafana variable ${name} in: {expr}")
        return values[name]

    return _VARIABLE.sub(sub, expr)


def dashboard_variables(dashboard: Mapping[str, Any]) -> dict[str, str]:
    """Each templating variable's value: `.+` for multi-value or All, else its current value.

    >>> dashboard_variables({"templating": {"list": [
    ...     {"name": "location", "multi": True, "includeAll": True},
    ...     {"name": "window", "current": {"value": "1h"}}]}})["window"]
    '1h'
    """
    out = dict(BUILTINS)
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("multi") or var.get("includeAll"):
            out[var["name"]] = var.get("allValue") or ALL_REGEX
            continue
        current = var.get("current", {}).get("value")
        if current is None and var.get("options"):
            current = var["options"][0]["value"]
        if isinstance(current, list):
            current = current[0]
        out[var["name"]] = str(current)
    return out


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))  # collapsed rows keep their panels inside


def panel_expressions(dashboard: Mapping[str, Any]) -> Iterator[Query]:
    """The raw (unexpanded) expressions of every panel target and query variable."""
    for p in _panels(dashboard.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr") and not t.get("hide"):
                yield Query(f"panel {p.get('title', '?')!r} {t.get('refId', '')}", t["expr"])
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        q = var.get("query")
        text = q.get("query", "") if isinstance(q, dict) else str(q or "")
        m = _LABEL_VALUES.match(text)  # label_values(metric, label) asks for the metric's series
        yield Query(f"variable ${var['name']}", m.group(1) if m else text)


def rule_queries(rules_dir: Path = RULES_DIR) -> list[Query]:
    """Every recording and alerting rule expression of the rule files in `rules_dir`."""
    out: list[Query] = []
    for path in sorted(rules_dir.glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("record") or rule.get("alert")
                out.append(Query(f"{path.name} {name}", str(rule["expr"]).strip()))
    return out


def alert_names(rules_dir: Path = RULES_DIR) -> set[str]:
    """The names of the alerting rules in `rules_dir`."""
    names: set[str] = set()
    for path in sorted(rules_dir.glob("*.yml")):
        for group in yaml.safe_load(path.read_text()).get("groups", []):
            names.update(r["alert"] for r in group.get("rules", []) if "alert" in r)
    return names


def dashboard_queries(
    dashboard_path: Path = DASHBOARD,
    rules_dir: Path = RULES_DIR,
    values: Mapping[str, str] | None = None,
    *,
    alerts: bool = True,
) -> list[Query]:
    """Every PromQL expression of the dashboard (variables expanded) and the rule files.

    `values` overrides a variable, e.g. `{"location": "bus-42"}` for a concrete location.
    `alerts=False` leaves out the alerting rules, whose expressions are empty while all is
    well. Duplicates are dropped; the first source is kept.
    """
    dashboard = json.loads(dashboard_path.read_text())
    variables = {**dashboard_variables(dashboard), **(values or {})}
    found = [
        Query(q.source, expand_variables(q.expr, variables)) for q in panel_expressions(dashboard)
    ]
    seen: set[str] = set()
    out: list[Query] = []
    rules = rule_queries(rules_dir)
    if not alerts:
        names = alert_names(rules_dir)
        rules = [q for q in rules if q.source.split(" ", 1)[1] not in names]
    for q in [*found, *rules]:
        if q.expr not in seen:
            seen.add(q.expr)
            out.append(q)
    return out
