"""The alert stage's themes: tag each feedback, count it, learn a supervisor's correction.

An adapter around the pure tagger (`pipeline.themes`) and `theme_counts`, used by the alert
desk's agent (`stage.py`), which owns its two tables:

- `theme-counts`: windowed counts per location, theme and sentiment (`theme_counts` keys);
- `theme-vocab`: each location's learned vocabulary, the tagger's JSON state, so that what a
  supervisor taught survives a restart and follows the location's partition. It is loaded
  into the tagger on a location's first use, and again after every assignment.

Each feedback is counted once per theme, from its scored copy (every feedback has one; the
fast-path copy is not counted); a copy the score stage published twice is known by its id
for a while (`SEEN_MAX` ids, in memory), and a record replayed after a crash of this process
by the offset each counter remembers.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

from pipeline import topics
from pipeline.alerts import theme_counts as tc
from pipeline.config import Location, Venues
from pipeline.records import Feedback, ScoredFeedback
from pipeline.scoring import windows as win
from pipeline.themes import ThemeTagger, custom_themes

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)

SEEN_MAX = 50_000  # ids remembered: 100 s at 500 feedback/s (a score restart replays sooner), ~6 MB


class Tagger(Protocol):
    """What the stage needs of `pipeline.themes.ThemeTagger` (tests pass a fake)."""

    def theme_ids(self, kind: str, location_id: str) -> tuple[str, ...]: ...
    def tag(self, text: str, *, kind: str, lang: str, location_id: str) -> tuple[str, ...]: ...
    def learn(self, text: str, themes: tuple[str, ...], *, kind: str, lang: str,
              location_id: str) -> None: ...  # fmt: skip
    def vocab(self, location_id: str) -> dict[str, Any]: ...
    def load_vocab(self, location_id: str, doc: dict[str, Any]) -> None: ...


def make_tagger(venues: Venues) -> Tagger:
    """The tagger, with each venue's own themes from the venues file."""
    tagger: Tagger = ThemeTagger(custom_themes(venues.locations))
    return tagger


class Themes:
    """The alert stage's theme state: the tagger, the two tables, the seen ids."""

    def __init__(self, ctx: Pronto, counts: Any, vocab: Any, tagger: Tagger) -> None:
        self.ctx = ctx
        self.counts = counts
        self.vocab = vocab
        self.tagger = tagger
        self.loaded: set[str] = set()  # locations whose vocabulary is in the tagger
        self.seen: dict[str, None] = {}  # feedback ids counted, oldest first
        self.known: dict[str, tuple[str, ...]] = {}  # location -> its theme ids (`allowed`)

    def on_assigned(self) -> None:
        self.loaded.clear()  # a partition may have come back with a newer vocabulary

    def _ensure(self, loc: Location) -> None:
        if loc.id in self.loaded:
            return
        doc = self.vocab.get(loc.id)
        if isinstance(doc, dict):
            self.tagger.load_vocab(loc.id, doc)
        self.loaded.add(loc.id)

    def allowed(self, loc: Location) -> tuple[str, ...]:
        """The themes `loc` knows: its kind's taxonomy and its own from the venues file (fixed
        for the process, so computed once per location)."""
        known = self.known.get(loc.id)
        if known is None:
            known = self.known[loc.id] = tuple(self.tagger.theme_ids(loc.kind, loc.id))
        return known

    def tag(self, loc: Location, fb: Feedback) -> tuple[str, ...]:
        """`fb`'s themes; never one the location does not know (they become metric labels)."""
        if not fb.text.strip():
            return ()
        self._ensure(loc)
        known = self.allowed(loc)
        tags = self.tagger.tag(fb.text, kind=loc.kind, lang=fb.lang or loc.lang, location_id=loc.id)
        return tuple(t for t in tags if t in known)

    def count(self, loc: Location, sf: ScoredFeedback, themes: tuple[str, ...], partition: int,
              offset: int, now: float) -> None:  # fmt: skip
        """Count a scored feedback once per theme (call inside the agent: tables change)."""
        fb = sf.fb
        sentiment = sf.sentiment_label
        if not themes or sentiment not in tc.SENTIMENTS or fb.id in self.seen:
            return
        self.seen[fb.id] = None
        if len(self.seen) > SEEN_MAX:
            del self.seen[next(iter(self.seen))]
        at = tc.event_time(fb.received_at, now, self.ctx.settings.lateness_s)
        replayed = False
        for k in tc.keys_for(loc.id, themes, sentiment, at, self.ctx.windows):
            value = tc.bump(self.counts.get(k), partition, offset)
            if value is None:
                replayed = True
                continue
            self.counts[k] = value
        if not replayed:
            for theme in themes:
                self.ctx.metrics.feedback_themes.labels(loc.id, theme, sentiment).inc()

    def learn(self, loc: Location, ev: dict[str, Any]) -> None:
        """A `themes_corrected` event: the tagger learns it now, the table keeps it."""
        text = ev.get("text")
        if not isinstance(text, str) or not text.strip():
            return
        self._ensure(loc)
        after = tuple(t for t in ev.get("after") or () if t in self.allowed(loc))
        self.tagger.learn(text, after, kind=loc.kind, lang=str(ev.get("lang") or loc.lang),
                          location_id=loc.id)  # fmt: skip
        self.vocab[loc.id] = self.tagger.vocab(loc.id)
        logger.info("learned a theme correction", extra={"ref": ev.get("ref"),
                                                         "location": loc.id})  # fmt: skip

    def top_themes(self, location_id: str) -> tuple[str, ...]:
        loc = self.ctx.venues.by_id(location_id)
        if loc is None:
            return ()
        return tc.top_negative(self.counts.get, loc.id, self.allowed(loc), self.ctx.windows,
                               time.time())  # fmt: skip

    def prune(self, now: float) -> None:
        """Drop the buckets no window reads any more (inside the agent)."""
        keys = list(self.counts.keys())
        for k in win.expired_keys(keys, now, self.ctx.windows, self.ctx.settings.lateness_s):
            del self.counts[k]

    def owns(self, location_id: str) -> bool:
        return topics.owns(self.ctx.app.consumer, self.ctx.settings, "scored", location_id)

    def current(self, now: float) -> dict[str, Any]:
        """`GET /api/v1/themes`: the counts of the locations this worker owns, per window,
        theme and sentiment, and each one's top themes of the last hour with their trend."""
        owned = [loc for loc in self.ctx.venues.locations if self.owns(loc.id)]
        counts = tc.summarize(list(self.counts.items()), self.ctx.windows, now,
                              [loc.id for loc in owned])  # fmt: skip
        out: dict[str, Any] = {}
        for loc in owned:
            mine = counts.get(loc.id, {})
            windows = {w.name: mine.get(w.name, {}) for w in self.ctx.windows}
            out[loc.id] = {"name": loc.name, "kind": loc.kind, "themes": list(self.allowed(loc)),
                           "windows": windows, "top": tc.top_themes(windows, self.ctx.windows)}  # fmt: skip
        return {"generated_at": now, "locations": out}


def register(ctx: Pronto, tagger: Tagger | None = None) -> Themes:
    """The theme tables of the alert stage, and the state around them."""
    s = ctx.settings
    counts = ctx.app.Table("theme-counts", default=None, partitions=s.partitions)
    vocab = ctx.app.Table("theme-vocab", default=None, partitions=s.partitions)
    ctx.tables.update(theme_counts=counts, theme_vocab=vocab)
    themes = Themes(ctx, counts, vocab, tagger or make_tagger(ctx.venues))
    ctx.themes = themes
    return themes
