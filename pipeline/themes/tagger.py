"""`ThemeTagger`: the themes of a feedback message, from the lexicon, the venue's own phrases,
and what its supervisors taught.

Pure: no I/O. The worker keeps one tagger; the learned state of each location is exported with
`vocab` and restored with `load_vocab` (a Faust table keyed by location stores it).

A negated mention still names the theme: "no estaba sucio" is about `cleanliness`. A theme
says what a message is about; whether it is praise or complaint is the sentiment model's job.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.themes.learner import CONFIDENT, LocationModel
from pipeline.themes.lexicon import default_lexicon
from pipeline.themes.phrases import Phrase, PhraseIndex, compile_phrase
from pipeline.themes.taxonomy import TAXONOMY, valid_theme_id
from pipeline.themes.text import tokens

logger = logging.getLogger(__name__)


class ThemeTagger:
    """Tags messages with theme ids and learns from supervisors' corrections.

    >>> t = ThemeTagger({"bus-42": {"accessibility": ["rampa", "silla de ruedas"]}})
    >>> t.tag("Llegó tardísimo y LLENO", kind="bus")
    ('crowding', 'punctuality')
    >>> t.tag("la rampa no baja", kind="bus", location_id="bus-42")
    ('accessibility',)
    >>> t.tag("la 42 no para en Cibeles", kind="bus", location_id="bus-42")
    ()
    >>> t.learn("la 42 no para en Cibeles", ["punctuality"], kind="bus", location_id="bus-42")
    >>> t.tag("la 42 no para en Cibeles", kind="bus", location_id="bus-42")
    ('punctuality',)
    """

    def __init__(self, custom: dict[str, dict[str, list[str]]] | None = None) -> None:
        self._custom: dict[str, dict[str, tuple[str, ...]]] = {}
        self._custom_phrases: dict[str, tuple[Phrase, ...]] = {}
        for loc, themes in (custom or {}).items():
            self._custom[loc] = {tid: tuple(ps) for tid, ps in themes.items()}
            compiled: list[Phrase] = []
            for tid, ps in themes.items():
                if not valid_theme_id(tid):
                    raise ValueError(f"{loc}: theme id {tid!r} is not [a-z][a-z0-9_]{{1,30}}")
                compiled.extend(compile_phrase(tid, p) for p in ps if p.strip())
            self._custom_phrases[loc] = tuple(compiled)
        self._indexes: dict[tuple[str, str], PhraseIndex] = {}
        self._models: dict[str, LocationModel] = {}

    def theme_ids(self, kind: str, location_id: str = "") -> tuple[str, ...]:
        """The taxonomy of `kind`, then the location's own theme ids; () if neither exists.

        >>> ThemeTagger().theme_ids("hotel")
        ('room', 'checkin', 'cleanliness', 'noise', 'staff', 'breakfast')
        >>> ThemeTagger().theme_ids("spaceship")
        ()
        """
        base = TAXONOMY.get(kind, ())
        own = tuple(t for t in self._custom.get(location_id, {}) if t not in base)
        return base + own

    def tag(
        self, text: str, *, kind: str, lang: str = "", location_id: str = ""
    ) -> tuple[str, ...]:
        """Sorted unique theme ids of `text`, each one of `theme_ids(kind, location_id)`.

        `lang` is accepted but every language's phrases apply (see `lexicon`).
        """
        valid = self.theme_ids(kind, location_id)
        if not valid:
            return ()
        toks = tokens(text)
        model = self._models.get(location_id)
        if model is not None:
            remembered = model.remembered(toks)
            if remembered is not None:
                return tuple(sorted(t for t in remembered if t in valid))
        learned = model.predict(toks) if model is not None else {}
        fired = self._fired(toks, kind, location_id, model)
        themes = {p.theme for p in fired if not p.weak}
        if themes:  # the lexicon found something: add only what the venue taught for sure
            themes.update(t for t, precision in learned.items() if precision >= CONFIDENT)
        elif learned:
            themes.update(learned)
        else:
            themes.update(p.theme for p in fired)
        return tuple(sorted(t for t in themes if t in valid))

    def learn(
        self,
        text: str,
        themes: Sequence[str],
        *,
        kind: str,
        lang: str = "",
        location_id: str = "",
    ) -> None:
        """A supervisor's correction: `themes` are the themes of `text` (ids that are not
        among `theme_ids(kind, location_id)` are ignored). Learned at once."""
        valid = self.theme_ids(kind, location_id)
        if not valid:
            return
        wanted = tuple(sorted({t for t in themes if t in valid}))
        toks = tokens(text)
        model = self._models.setdefault(location_id, LocationModel())
        fired = self._fired(toks, kind, location_id, None)
        model.learn(toks, wanted, {p.key: p.theme for p in fired})

    def vocab(self, location_id: str) -> dict[str, Any]:
        """The learned state of one location, JSON-able; `load_vocab` restores it."""
        model = self._models.get(location_id)
        return (model or LocationModel()).to_doc()

    def load_vocab(self, location_id: str, doc: dict[str, Any]) -> None:
        """Restore what `vocab` returned (after a restart or a partition move)."""
        self._models[location_id] = LocationModel.from_doc(doc)

    def _index(self, kind: str, location_id: str) -> PhraseIndex:
        own = self._custom_phrases.get(location_id, ())
        key = (kind, location_id if own else "")
        index = self._indexes.get(key)
        if index is None:
            index = PhraseIndex.build((*default_lexicon().get(kind, ()), *own))
            self._indexes[key] = index
        return index

    def _fired(
        self,
        toks: tuple[str, ...],
        kind: str,
        location_id: str,
        model: LocationModel | None,
    ) -> list[Phrase]:
        """The lexicon phrases that tag `toks`: the strong ones, or the weak ones when no
        strong one did; minus those the location's supervisors switched off."""
        found = self._index(kind, location_id).match(toks)
        if model is not None:
            found = [p for p in found if not model.suppressed(p.key)]
        strong = [p for p in found if not p.weak]
        return strong or found


def custom_themes(locations: Sequence[Any]) -> dict[str, dict[str, list[str]]]:
    """The `custom` argument of `ThemeTagger` from config `Location`s (their `themes`)."""
    out: dict[str, dict[str, list[str]]] = {}
    for loc in locations:
        themes: Mapping[str, Sequence[str]] = getattr(loc, "themes", {}) or {}
        if themes:
            out[loc.id] = {tid: list(ps) for tid, ps in themes.items()}
    return out
