"""The score stage's themes: tag each feedback, count it with the location's other rolling
counters, learn a supervisor's correction at once, serve `GET /api/v1/themes`.

An adapter around the shared tagger (`pipeline.themes.venue`) and the pure `theme_counts`,
used by the score stage's agents (`stage.py`). The counts are extra increments in the
location's `LocationCounts` value (`score-rolling`), so the value's replay mark keeps them
exact and they cost no changelog record of their own; a copy of a feedback is rejected by
the stage's dedupe before it is scored, so a feedback counts once per theme. Each location's
learned vocabulary is kept in the table `score-theme-vocab` (the alert stage keeps its own:
it tags the fast-path copy of a complaint), loaded into the tagger on a location's first use
and again after every assignment.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pipeline.config import Location
from pipeline.records import Feedback
from pipeline.scoring import theme_counts as tc
from pipeline.scoring.location_counts import Increment, LocationCounts
from pipeline.scoring.scores_view import ScoresUnavailable, owns, unreadable
from pipeline.themes.venue import CORRECTED, Tagger, VenueThemes, make_tagger

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)

VOCAB_TABLE = "score-theme-vocab"


class ScoreThemes:
    """The score stage's theme state: the tagger over its vocabulary table, and the counts
    of the batch under way for the metric."""

    def __init__(self, ctx: Pronto, vocab: Any, tagger: Tagger) -> None:
        self.ctx = ctx
        self.venue = VenueThemes(tagger, vocab)
        self.counted: Counter[tuple[str, str, str]] = Counter()  # (location, theme, sentiment)

    def tally(
        self, fb: Feedback, sentiment: str, now: float
    ) -> tuple[tuple[str, ...], list[Increment]]:
        """`fb`'s themes, and what they add to its location's counters (call with the
        location's partition current: the vocabulary may be read)."""
        loc = self.ctx.venues.by_id(fb.location_id)
        if loc is None or not fb.text:
            return (), []
        themes = self.venue.tag(loc, fb.text, fb.lang)
        if not themes:
            return themes, []
        at = tc.event_time(fb.received_at, now, self.ctx.settings.lateness_s)
        return themes, tc.increments(themes, sentiment, at, self.ctx.windows)

    def note_counted(self, location_id: str, themes: Iterable[str], sentiment: str) -> None:
        for theme in themes:
            self.counted[(location_id, theme, sentiment)] += 1

    def flush_metrics(self) -> None:
        """`pronto_feedback_themes_total`, once per batch."""
        for (loc, theme, sentiment), n in self.counted.items():
            self.ctx.metrics.feedback_themes.labels(loc, theme, sentiment).inc(n)
        self.counted.clear()

    def top_negative(self, counts: LocationCounts, now: float) -> tuple[str, ...]:
        """The location's top negative theme of the last hour (a trend notice names it)."""
        return tc.top_negative(counts, self.ctx.windows, now)

    def learn(self, ev: dict[str, Any]) -> bool:
        """An `alerts.events` event: learn it if it is a theme correction (call with the
        event's partition current: the vocabulary table is written)."""
        if ev.get("event") != CORRECTED:
            return False
        loc = self.ctx.venues.by_id(str(ev.get("location_id", "")))
        return loc is not None and self.venue.learn(loc, ev)

    def current(self, now: float) -> dict[str, Any]:
        """`GET /api/v1/themes`: the counts of the locations this worker owns, per window,
        theme and sentiment, and each one's top themes of the last hour with their trend.
        Raises `ScoresUnavailable` while the tables cannot be read."""
        if why := unreadable(self.ctx):
            raise ScoresUnavailable(why)
        table = self.ctx.tables.get("counters")
        out: dict[str, Any] = {}
        for loc in self.ctx.venues.locations:
            if table is None or not owns(self.ctx, loc.id):
                continue
            out[loc.id] = self.location(loc, LocationCounts.from_value(table.get(loc.id)), now)
        return {"generated_at": now, "locations": out}

    def location(self, loc: Location, counts: LocationCounts, now: float) -> dict[str, Any]:
        mine = tc.summarize(counts, self.ctx.windows, now)
        windows = {w.name: mine.get(w.name, {}) for w in self.ctx.windows}
        return {"name": loc.name, "kind": loc.kind, "themes": list(self.venue.allowed(loc)),
                "windows": windows, "top": tc.top_themes(windows, self.ctx.windows)}  # fmt: skip


def register(ctx: Pronto, tagger: Tagger | None = None) -> ScoreThemes:
    """The score stage's vocabulary table, and the state around it."""
    s = ctx.settings
    vocab = ctx.app.Table(VOCAB_TABLE, default=None, partitions=s.partitions,
                          store=ctx.store_for(VOCAB_TABLE))  # fmt: skip
    ctx.tables.update(score_theme_vocab=vocab)
    themes = ScoreThemes(ctx, vocab, tagger or make_tagger(ctx.venues.locations))

    @ctx.app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def reload_vocab(sender: Any, *args: Any, **kwargs: Any) -> None:
        themes.venue.on_assigned()  # a partition may have come back with a newer vocabulary

    ctx.themes = themes
    return themes
