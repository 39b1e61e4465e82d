"""The rolling scores as published: per location and window, for `/api/v1/scores`, `/metrics`
and each scored record. Reads the score stage's per-location table; never writes it."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily

from pipeline import topics
from pipeline.config import UNKNOWN_LOCATION
from pipeline.scoring import windows as win
from pipeline.scoring.location_counts import LocationCounts

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)

SCALE_FIELDS = {"csat5": ("csat_n", "csat_sat"), "nps10": ("nps_n", "nps_pro", "nps_det")}


def owns(ctx: Pronto, location_id: str) -> bool:
    """Whether this worker holds the partition of `location_id` (so only it reports it): of
    `alerts.events`, which the score process's Faust consumer reads (the corrections), and
    which is co-partitioned with `feedback.raw` (read by a consumer of its own) and the tables."""
    return topics.owns(ctx.app.consumer, ctx.settings, "events", location_id)


def location_summary(counts: LocationCounts, scale: str | None,
                     windows: tuple[win.WindowSpec, ...], now: float) -> dict[str, Any]:  # fmt: skip
    """Each window's published scores for a location; `scale` narrows the counters read."""
    fields = SCALE_FIELDS.get(scale or "", win.FIELDS)
    return {w.name: win.summarize(counts.totals(w, now, fields)) for w in windows}


class ScoresUnavailable(Exception):
    """The score tables cannot be read now (the reason is the message)."""


def unreadable(ctx: Pronto) -> str | None:
    """Why the score tables cannot be read now, or None. Faust closes a RocksDB table
    partition when it is revoked, and drops them all when the process stops: a read then finds
    nothing, and zero counts would be served as if they were the scores."""
    if ctx.app.should_stop:
        return "stopping"
    if ctx.app.rebalancing:
        return "rebalancing"
    return None


def current_scores(ctx: Pronto, now: float) -> dict[str, Any]:
    """Scores per location (those this worker owns) and window, with counts and intervals.
    Raises `ScoresUnavailable` while the tables cannot be read."""
    if why := unreadable(ctx):
        raise ScoresUnavailable(why)
    table = ctx.tables.get("counters")
    out: dict[str, Any] = {}
    for loc_id in [*ctx.venues.ids, UNKNOWN_LOCATION]:
        if table is None or not owns(ctx, loc_id):
            continue
        loc = ctx.venues.by_id(loc_id)
        counts = LocationCounts.from_value(table.get(loc_id))
        out[loc_id] = {
            "name": loc.name if loc else loc_id,
            "scale": loc.scale if loc else "",
            "windows": location_summary(counts, None, ctx.windows, now),
        }
    return {"generated_at": now, "locations": out}


class ScoresCollector:
    """Exports the rolling scores on scrape, from the same figures as `/api/v1/scores`."""

    SPECS = (
        ("pronto_csat_ratio", "Rolling CSAT: the share of 4-5 answers on 1-5.", "csat"),
        ("pronto_csat_ci_lower_ratio", "Lower bound of CSAT's 95% Wilson interval.", "csat_low"),
        ("pronto_csat_ci_upper_ratio", "Upper bound of CSAT's 95% Wilson interval.", "csat_high"),
        ("pronto_csat_answers", "1-5 answers in the window.", "csat_n"),
        ("pronto_nps_score", "Rolling NPS, -100..100.", "nps"),
        ("pronto_nps_ci_lower_score", "Lower bound of NPS's 95% interval.", "nps_low"),
        ("pronto_nps_ci_upper_score", "Upper bound of NPS's 95% interval.", "nps_high"),
        ("pronto_nps_answers", "0-10 answers in the window.", "nps_n"),
    )

    def __init__(self, ctx: Pronto) -> None:
        self.ctx = ctx

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        try:
            scores = current_scores(self.ctx, time.time())["locations"]
        except Exception:  # a scrape during start-up or rebalance must not fail the scrape
            logger.debug("scores not available for this scrape", exc_info=True)
            scores = {}
        for name, doc, field in self.SPECS:
            fam = GaugeMetricFamily(name, doc, labels=["location", "window"])
            for loc_id, entry in scores.items():
                for wname, summary in entry["windows"].items():
                    value = summary.get(field)
                    if value is not None:
                        fam.add_metric([loc_id, wname], float(value))
            yield fam
