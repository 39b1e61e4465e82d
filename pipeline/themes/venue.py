"""A venue's themes as a stage sees them: the tagger, each location's learned vocabulary kept
in a table, and a supervisor's correction learned at once.

Shared by the two stages that tag: the score stage tags every feedback (and counts it), the
alert stage tags the fast-path copy of a complaint (so the page names the theme even when it
wins the race). Both learn each `themes_corrected` event, so both keep a vocabulary table.

Pure apart from the table it is given (any mapping keyed by location id; a Faust table in the
stages: the caller makes the location's partition current before a call that touches it).
A location's vocabulary is loaded into the tagger on its first use, and again after every
partition assignment (`on_assigned`): the partition may come back with a newer one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from pipeline.themes.tagger import ThemeTagger, custom_themes

if TYPE_CHECKING:
    from pipeline.config import Location

logger = logging.getLogger(__name__)

CORRECTED = "themes_corrected"  # the event on `alerts.events` a supervisor's correction makes


class Tagger(Protocol):
    """What the stages need of `ThemeTagger` (tests pass a fake)."""

    def theme_ids(self, kind: str, location_id: str) -> tuple[str, ...]: ...
    def tag(self, text: str, *, kind: str, lang: str, location_id: str) -> tuple[str, ...]: ...
    def learn(self, text: str, themes: tuple[str, ...], *, kind: str, lang: str,
              location_id: str) -> None: ...  # fmt: skip
    def vocab(self, location_id: str) -> dict[str, Any]: ...
    def load_vocab(self, location_id: str, doc: dict[str, Any]) -> None: ...


class VocabTable(Protocol):
    """Where each location's learned vocabulary is kept (a Faust table)."""

    def get(self, key: str) -> Any: ...
    def __setitem__(self, key: str, value: Any) -> None: ...


def make_tagger(locations: Iterable[Location]) -> Tagger:
    """The tagger, with each venue's own themes from the venues file."""
    tagger: Tagger = ThemeTagger(custom_themes(list(locations)))
    return tagger


class VenueThemes:
    """The tagger of one stage, over its vocabulary table.

    >>> from pipeline.config import Location
    >>> loc, vocab = Location(id="bus-42", name="42", kind="bus"), {}
    >>> t = VenueThemes(make_tagger([loc]), vocab)
    >>> t.tag(loc, "llego tarde", "es"), t.tag(loc, "la 42 no para en Cibeles", "es")
    (('punctuality',), ())
    >>> ev = {"event": CORRECTED, "text": "la 42 no para en Cibeles", "after": ["punctuality"]}
    >>> t.learn(loc, ev), t.tag(loc, "la 42 no para en Cibeles", "es"), "bus-42" in vocab
    (True, ('punctuality',), True)
    >>> again = VenueThemes(make_tagger([loc]), vocab)  # a restart: the table has it
    >>> again.tag(loc, "la 42 no para en Cibeles", "es")
    ('punctuality',)
    """

    def __init__(self, tagger: Tagger, vocab: VocabTable) -> None:
        self.tagger = tagger
        self.vocab = vocab
        self.loaded: set[str] = set()  # locations whose vocabulary is in the tagger
        self.known: dict[str, tuple[str, ...]] = {}  # location -> its theme ids (`allowed`)

    def on_assigned(self) -> None:
        self.loaded.clear()  # a partition may have come back with a newer vocabulary

    def use(self, tagger: Tagger) -> None:
        """Put another tagger in place (tests pass a fake): what was loaded is forgotten."""
        self.tagger = tagger
        self.loaded.clear()
        self.known.clear()

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

    def only_allowed(self, loc: Location, themes: Iterable[str]) -> tuple[str, ...]:
        """`themes` without any the location does not know (they become metric labels)."""
        known = self.allowed(loc)
        return tuple(t for t in themes if t in known)

    def tag(self, loc: Location, text: str, lang: str) -> tuple[str, ...]:
        """The themes of `text` at `loc` (sorted); never one the location does not know."""
        if not text.strip():
            return ()
        self._ensure(loc)
        tags = self.tagger.tag(text, kind=loc.kind, lang=lang or loc.lang, location_id=loc.id)
        return self.only_allowed(loc, tags)

    def learn(self, loc: Location, ev: dict[str, Any]) -> bool:
        """A `themes_corrected` event: the tagger learns the customer's words now, the table
        keeps what it learned. False for an event with no words to learn (a trend alert's)."""
        text = ev.get("text")
        if not isinstance(text, str) or not text.strip():
            return False
        self._ensure(loc)
        after = self.only_allowed(loc, ev.get("after") or ())
        self.tagger.learn(text, after, kind=loc.kind, lang=str(ev.get("lang") or loc.lang),
                          location_id=loc.id)  # fmt: skip
        self.vocab[loc.id] = self.tagger.vocab(loc.id)
        logger.info("learned a theme correction", extra={"ref": ev.get("ref"),
                                                         "location": loc.id})  # fmt: skip
        return True
