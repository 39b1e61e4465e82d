"""What `pronto demo` shows: live scores, the pages as they go out, and the recovery funnel.

`Board` counts the lifecycle events (each one once, even if Kafka delivers it twice) and
renders a frame with rich; `plain_line` is the same in one line, for scripts and tests.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pipeline.config import UNKNOWN_LOCATION

FUNNEL = ("feedback", "alerts", "paged", "acknowledged", "resolved", "recovered")


@dataclass
class Board:
    """The demo's counters, fed with lifecycle events and the latest `/api/v1/scores`."""

    console_url: str = ""
    login: str = ""
    feedback: int = 0
    scores: dict[str, Any] = field(default_factory=dict)
    pages: deque[str] = field(default_factory=lambda: deque(maxlen=10))
    _seen: set[tuple[str, str, str]] = field(default_factory=set)
    refs: dict[str, set[str]] = field(default_factory=dict)  # funnel step -> refs
    pages_sent: int = 0
    customer_messages: int = 0
    escalations: int = 0
    acks: int = 0
    throttled: int = 0
    latencies: list[float] = field(default_factory=list)
    current: set[str] = field(default_factory=set)  # alerts opened during this run
    earlier_events: int = 0

    def on_event(self, ev: dict[str, Any]) -> None:
        """Count one lifecycle or page event from `alerts.events`."""
        kind, ref = str(ev.get("event", "")), str(ev.get("ref", ""))
        key = (kind, ref, str(ev.get("page_id") or ev.get("detail") or ""))
        if key in self._seen:
            return  # at-least-once delivery: the same event may arrive twice
        self._seen.add(key)
        if kind == "opened":
            self.current.add(ref)
        elif ref not in self.current:
            # An alert from an earlier run, restored from its table: not this run's story.
            self.earlier_events += 1
            return
        when = datetime.fromtimestamp(float(ev.get("at") or time.time())).strftime("%H:%M:%S")
        loc = str(ev.get("location_id", ""))
        step = {"opened": "alerts", "paged": "paged", "acknowledged": "acknowledged",
                "resolved": "resolved"}.get(kind)  # fmt: skip
        if step:
            self.refs.setdefault(step, set()).add(ref)
        if kind == "followed_up" and ev.get("detail") == "recovered":
            self.refs.setdefault("recovered", set()).add(ref)
        if kind == "acknowledged":
            self.acks += 1
        elif kind == "escalated":
            self.escalations += 1
            missed = ev.get("missed_by") or "nobody"
            self.pages.append(f"{when} {loc:<10} #{ref} escalated: {missed} missed it -> "
                              f"{str(ev.get('detail', '')).split(': ')[-1]}")  # fmt: skip
        elif kind == "page_throttled":
            self.throttled += 1
        elif kind == "page_sent":
            latency = float(ev.get("latency_s") or 0.0)
            if ev.get("kind") == "customer":
                self.customer_messages += 1
                return
            self.pages_sent += 1
            if str(ev.get("page_id", "")).endswith("-p0"):
                self.latencies.append(latency)  # the first page: escalations wait on purpose
            self.pages.append(f"{when} {loc:<10} #{ref} paged {ev.get('to_name', '?'):<7} "
                              f"({ev.get('kind')}, {_duration(latency)} after the message)")  # fmt: skip

    def _locations(self) -> list[tuple[str, dict[str, Any]]]:
        """The venues to show: "unknown" (texts to no venue) only once it has answers."""
        locs = (self.scores.get("locations") or {}).items()
        return [(k, v) for k, v in locs if k != UNKNOWN_LOCATION or _answers(v) > 0]

    def funnel(self) -> dict[str, int]:
        counts = {step: len(self.refs.get(step, ())) for step in FUNNEL[1:]}
        return {"feedback": self.feedback, **counts}

    def summary(self) -> dict[str, Any]:
        """The final JSON line of a scripted run."""
        return {"pages_sent": self.pages_sent, "escalations": self.escalations,
                "acks": self.acks, "throttled": self.throttled,
                "customer_messages": self.customer_messages, "funnel": self.funnel(),
                "earlier_alert_events": self.earlier_events,
                "scores": self.scores}  # fmt: skip

    def plain_line(self, rate: float) -> str:
        parts = [f"{rate:4.1f} msg/s"]
        for loc_id, loc in self._locations():
            w = (loc.get("windows") or {}).get("5m") or {}
            parts.append(f"{loc_id}: {_score(w, loc.get('scale', ''))}")
        funnel = " > ".join(f"{k} {v}" for k, v in self.funnel().items())
        return f"{' | '.join(parts)} | pages {self.pages_sent}, escalations {self.escalations} | {funnel}"

    def render(self, rate: float) -> RenderableType:
        """One frame of the live view."""
        head = Text.assemble(("Pronto demo", "bold"), "  console ", (self.console_url, "cyan"),
                             "  login ", (self.login, "green"))  # fmt: skip
        scores = Table(title="Live scores (5 min / 1 h)", expand=True)
        for col in ("venue", "scale", "5 min", "1 h"):
            scores.add_column(col)
        for loc_id, loc in self._locations():
            ws = loc.get("windows") or {}
            scale = str(loc.get("scale", ""))
            scores.add_row(f"{loc.get('name', loc_id)}", scale, _score(ws.get("5m") or {}, scale),
                           _score(ws.get("1h") or {}, scale))  # fmt: skip
        pages = Text("\n".join(self.pages) or "no pages yet")
        f = self.funnel()
        funnel = Table.grid(padding=(0, 2))
        funnel.add_row(*(Text(step, style="bold") for step in FUNNEL))
        funnel.add_row(*(str(f[step]) for step in FUNNEL))
        lat = sorted(self.latencies)
        p50 = f"{lat[len(lat) // 2] * 1000:.0f} ms" if lat else "-"
        stats = Text(f"feedback {rate:.1f}/s   pages sent {self.pages_sent}   escalations "
                     f"{self.escalations}   throttled {self.throttled}   customer messages "
                     f"{self.customer_messages}   message->page p50 {p50}"
                     + (f"   (+{self.earlier_events} events of earlier runs' alerts)"
                        if self.earlier_events else ""))  # fmt: skip
        return Group(
            Panel(head),
            scores,
            Panel(pages, title="Pages as they are sent"),
            Panel(funnel, title="Recovery funnel"),
            stats,
        )


def _answers(loc: dict[str, Any]) -> int:
    return max((int(w.get("n") or 0) for w in (loc.get("windows") or {}).values()), default=0)


def _duration(seconds: float) -> str:
    """
    >>> _duration(0.0391), _duration(20.4)
    ('39 ms', '20.4 s')
    """
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _score(w: dict[str, Any], scale: str) -> str:
    """The venue's own score first, then the other one if anyone answered on it.

    >>> _score({"nps": 35.0, "nps_n": 40, "csat": None, "csat_n": 0}, "nps10")
    'NPS +35 (n=40)'
    >>> _score({"csat": 0.8235, "csat_n": 17, "nps": -10.0, "nps_n": 3}, "csat5")
    'CSAT 82% (n=17) · NPS -10 (n=3)'
    >>> _score({}, "csat5")
    'CSAT - (n=0)'
    """
    csat, nps = w.get("csat"), w.get("nps")
    parts = {
        "csat5": f"CSAT {'-' if csat is None else f'{csat:.0%}'} (n={w.get('csat_n', 0)})",
        "nps10": f"NPS {'-' if nps is None else f'{nps:+.0f}'} (n={w.get('nps_n', 0)})",
    }
    own = scale if scale in parts else "csat5"
    other = "nps10" if own == "csat5" else "csat5"
    n_other = w.get("nps_n" if other == "nps10" else "csat_n") or 0
    return parts[own] + (f" · {parts[other]}" if n_other else "")
