"""The venues file: locations, their numbers and scale, supervisors, shifts and escalation.

Pure: it parses TOML into frozen dataclasses and validates them. Nothing here talks to Kafka.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.themes.phrases import compile_phrase
from pipeline.themes.taxonomy import MAX_CUSTOM_THEMES, valid_theme_id

logger = logging.getLogger(__name__)

Scale = Literal["nps10", "csat5"]
SCALES: tuple[str, ...] = ("nps10", "csat5")
UNKNOWN_LOCATION = "unknown"


class ConfigError(ValueError):
    """The venues file is invalid; the message names the field."""


@dataclass(frozen=True)
class Supervisor:
    name: str
    phone: str
    shifts: tuple[str, ...] = ("24/7",)
    lang: str = "es"
    pronoun: str = "she"  # she | he | they: used in the customer's "who is coming" message
    token: str = ""  # console login token (optional; the demo sets one)


@dataclass(frozen=True)
class Escalation:
    chain: tuple[str, ...]
    manager: str
    fallback: str = ""  # paged when nobody in the chain is on shift; defaults to the manager


@dataclass(frozen=True)
class Location:
    id: str
    name: str
    kind: str = "venue"
    scale: Scale = "csat5"
    numbers: tuple[str, ...] = ()
    code: str = ""  # prefix on a shared number, e.g. "B42"
    lang: str = "es"
    timezone: str = "UTC"
    ack_timeout_s: float = 60.0
    resolve_timeout_s: float = 600.0  # the manager hears of an alert still open after this
    low_csat: int = 2  # an answer at or below this on csat5 is dissatisfied
    low_nps: int = 6  # an answer at or below this on nps10 is dissatisfied
    negative_threshold: float = 0.8  # P(negative) at or above this opens an alert for text only
    trend_csat_threshold: float = 0.6  # rolling CSAT below this, with enough answers, is a trend
    trend_min_answers: int = 20
    reply_text: dict[str, str] = field(default_factory=dict)  # lang -> acknowledgement template
    # The venue's own themes: id -> phrases (pipeline/themes/phrases.py has the syntax). An id
    # of the kind's taxonomy adds phrases to that theme.
    themes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    supervisors: tuple[Supervisor, ...] = ()
    escalation: Escalation = field(default_factory=lambda: Escalation((), ""))

    def supervisor(self, name: str) -> Supervisor | None:
        """The supervisor called `name`, or None."""
        return next((s for s in self.supervisors if s.name == name), None)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Venues:
    locations: tuple[Location, ...]
    shared_numbers: tuple[str, ...] = ()

    def by_id(self, location_id: str) -> Location | None:
        return self._index_id.get(location_id)

    def by_number(self, number: str) -> Location | None:
        return self._index_number.get(number)

    def by_code(self, code: str) -> Location | None:
        return self._index_code.get(code.upper())

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(loc.id for loc in self.locations)

    def all_numbers(self) -> set[str]:
        nums = {n for loc in self.locations for n in loc.numbers}
        return nums | set(self.shared_numbers)

    # The lookups run for every record in every stage: each index is built once (the venues
    # are frozen; a reload makes a new `Venues`). Building the id index on every call cost the
    # score stage 8% of its time at 1,000 locations.
    @cached_property
    def _index_id(self) -> dict[str, Location]:
        return {loc.id: loc for loc in self.locations}

    @cached_property
    def _index_number(self) -> dict[str, Location]:
        return {n: loc for loc in self.locations for n in loc.numbers}

    @cached_property
    def _index_code(self) -> dict[str, Location]:
        return {loc.code.upper(): loc for loc in self.locations if loc.code}


def _req(d: dict[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise ConfigError(f"{where}: missing field '{key}'")
    return d[key]


def _supervisor(d: dict[str, Any], where: str) -> Supervisor:
    shifts = d.get("shifts", ["24/7"])
    if not isinstance(shifts, list) or not shifts:
        raise ConfigError(f"{where}.shifts: a non-empty list of shift specs")
    return Supervisor(
        name=str(_req(d, "name", where)),
        phone=str(_req(d, "phone", where)),
        shifts=tuple(str(s) for s in shifts),
        lang=str(d.get("lang", "es")),
        pronoun=str(d.get("pronoun", "she")),
        token=str(d.get("token", "")),
    )


def _themes(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    """The `[locations.themes]` table: theme id -> a non-empty list of phrases.

    >>> _themes({"accessibility": ["rampa", "silla de ruedas"]}, "locations[0]")
    {'accessibility': ('rampa', 'silla de ruedas')}
    >>> _themes({"Cibeles": ["no para"]}, "locations[0]")
    Traceback (most recent call last):
    ...
    pipeline.config.ConfigError: locations[0].themes: theme id 'Cibeles' must match [a-z][a-z0-9_]{1,30}
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}.themes: a table of theme id = [phrases]")
    if len(raw) > MAX_CUSTOM_THEMES:
        raise ConfigError(f"{where}.themes: at most {MAX_CUSTOM_THEMES} themes, got {len(raw)}")
    out: dict[str, tuple[str, ...]] = {}
    for tid, phrases in raw.items():
        if not valid_theme_id(str(tid)):
            raise ConfigError(f"{where}.themes: theme id {tid!r} must match [a-z][a-z0-9_]{{1,30}}")
        if not isinstance(phrases, list) or not phrases:
            raise ConfigError(f"{where}.themes.{tid}: a non-empty list of phrases")
        for phrase in phrases:
            if not isinstance(phrase, str) or not phrase.strip():
                raise ConfigError(f"{where}.themes.{tid}: phrases are non-empty strings")
            try:
                compile_phrase(tid, phrase)
            except ValueError as e:
                raise ConfigError(f"{where}.themes.{tid}: {e}") from e
        out[str(tid)] = tuple(phrases)
    return out


def _location(d: dict[str, Any], i: int, ack_override: float | None) -> Location:
    where = f"locations[{i}]"
    loc_id = str(_req(d, "id", where))
    if not loc_id or not all(c.isalnum() or c in "-_" for c in loc_id):
        raise ConfigError(f"{where}.id: letters, digits, '-' and '_' only, got {loc_id!r}")
    scale = d.get("scale", "csat5")
    if scale not in SCALES:
        raise ConfigError(f"{where}.scale: one of {SCALES}, got {scale!r}")
    tz = str(d.get("timezone", "UTC"))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ConfigError(f"{where}.timezone: unknown time zone {tz!r}") from e
    sups = tuple(
        _supervisor(s, f"{where}.supervisors[{j}]") for j, s in enumerate(d.get("supervisors", []))
    )
    esc = d.get("escalation", {})
    chain = tuple(str(n) for n in esc.get("chain", [s.name for s in sups]))
    manager = str(esc.get("manager", ""))
    names = {s.name for s in sups}
    for n in (*chain, manager):
        if n and n not in names:
            raise ConfigError(f"{where}.escalation: '{n}' is not one of its supervisors")
    if len(chain) < 2 or not manager:
        raise ConfigError(f"{where}.escalation: a chain of at least two people and a manager")
    ack = float(d.get("ack_timeout_s", 60))
    return Location(
        id=loc_id,
        name=str(d.get("name", loc_id)),
        kind=str(d.get("kind", "venue")),
        scale=scale,
        numbers=tuple(str(n) for n in d.get("numbers", [])),
        code=str(d.get("code", "")),
        lang=str(d.get("lang", "es")),
        timezone=tz,
        ack_timeout_s=ack_override if ack_override is not None else ack,
        resolve_timeout_s=float(d.get("resolve_timeout_s", 600)),
        low_csat=int(d.get("low_csat", 2)),
        low_nps=int(d.get("low_nps", 6)),
        negative_threshold=float(d.get("negative_threshold", 0.8)),
        trend_csat_threshold=float(d.get("trend_csat_threshold", 0.6)),
        trend_min_answers=int(d.get("trend_min_answers", 20)),
        reply_text={str(k): str(v) for k, v in d.get("reply_text", {}).items()},
        themes=_themes(d.get("themes", {}), where),
        supervisors=sups,
        escalation=Escalation(chain, manager, str(esc.get("fallback", manager))),
    )


def parse_venues(data: dict[str, Any], ack_timeout_override: float | None = None) -> Venues:
    """Build `Venues` from a parsed TOML document; raise `ConfigError` naming the bad field.

    >>> v = parse_venues({"locations": [{"id": "x", "supervisors": [
    ...     {"name": "A", "phone": "+1"}, {"name": "B", "phone": "+2"}],
    ...     "escalation": {"chain": ["A", "B"], "manager": "B"}}]})
    >>> v.by_id("x").escalation.chain
    ('A', 'B')
    """
    locs = data.get("locations")
    if not isinstance(locs, list) or not locs:
        raise ConfigError("the venues file needs at least one [[locations]] table")
    parsed = tuple(_location(d, i, ack_timeout_override) for i, d in enumerate(locs))
    seen: set[str] = set()
    for loc in parsed:
        if loc.id in seen or loc.id == UNKNOWN_LOCATION:
            raise ConfigError(f"location id {loc.id!r} is duplicated or reserved")
        seen.add(loc.id)
    return Venues(parsed, tuple(str(n) for n in data.get("shared_numbers", [])))


def load_venues(path: str | Path, ack_timeout_override: float | None = None) -> Venues:
    """Read and validate the venues TOML file at `path`."""
    with open(path, "rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: {e}") from e
    return parse_venues(data, ack_timeout_override)
