"""The alert stage's themes: what the desk's input is about, and a supervisor's correction
learned at once.

The score stage tags every feedback and counts it (`pipeline.scoring.themes_stage`); the
scored copy carries its themes (`ScoredFeedback.themes`), which the desk takes as they are,
with no second tagging. The alert stage tags only what comes without them: the fast-path
copy of a complaint from `feedback.urgent` (so that its page names the theme even when it
wins the race to the desk), and a scored record written before the score stage tagged.

For that it keeps the tagger (the shared `pipeline.themes.venue`) and its own table,
`theme-vocab`: each location's learned vocabulary, the tagger's JSON state, so that what a
supervisor taught survives a restart and follows the location's partition. It is loaded into
the tagger on a location's first use, and again after every assignment.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pipeline.config import Location
from pipeline.records import ScoredFeedback
from pipeline.themes.venue import Tagger, VenueThemes, make_tagger

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)


class AlertThemes:
    """The alert stage's theme state: the tagger over its vocabulary table."""

    def __init__(self, vocab: Any, tagger: Tagger) -> None:
        self.venue = VenueThemes(tagger, vocab)

    def on_assigned(self) -> None:
        self.venue.on_assigned()

    def allowed(self, loc: Location) -> tuple[str, ...]:
        return self.venue.allowed(loc)

    def of(self, loc: Location, sf: ScoredFeedback) -> tuple[str, ...]:
        """The themes of a scored feedback or of a fast-path copy: those the score stage
        tagged, when it did; tagged here otherwise (call inside the agent: the vocabulary
        table may be read)."""
        if sf.themes is not None:
            return self.venue.only_allowed(loc, sf.themes)
        fb = sf.fb
        return self.venue.tag(loc, fb.text, fb.lang)

    def named(self, loc: Location, theme: Any) -> tuple[str, ...]:
        """A theme named in a command (the top one in the score stage's drift command), if
        the location knows it."""
        return self.venue.only_allowed(loc, [theme] if isinstance(theme, str) else [])

    def learn(self, loc: Location, ev: dict[str, Any]) -> None:
        """A `themes_corrected` event: the tagger learns it now, the table keeps it."""
        self.venue.learn(loc, ev)


def register(ctx: Pronto, tagger: Tagger | None = None) -> AlertThemes:
    """The alert stage's vocabulary table, and the tagger over it."""
    vocab = ctx.app.Table("theme-vocab", default=None, partitions=ctx.settings.partitions)
    ctx.tables.update(theme_vocab=vocab)
    themes = AlertThemes(vocab, tagger or make_tagger(ctx.venues.locations))
    ctx.alert_themes = themes
    return themes
