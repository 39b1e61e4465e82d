"""The versioned JSON records that flow through the topics (`schema: 1`).

Readers ignore unknown fields, so a newer writer never breaks an older reader. Decoding a
record that is not valid raises `RecordError`; the agents send such records to the DLQ.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, TypeVar

import orjson

SCHEMA = 1

T = TypeVar("T", bound="_Record")


class RecordError(ValueError):
    """A record could not be decoded; the message says why."""


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    return names


class _Record:
    def to_dict(self) -> dict[str, Any]:
        # A field holding a dict or list is copied one level down (what `asdict` did, at a
        # fraction of its cost on the score stage's hot path: the values are plain JSON).
        d = {}
        for name in _field_names(type(self)):
            v = getattr(self, name)
            d[name] = v.copy() if isinstance(v, dict | list) else v
        d["schema"] = SCHEMA
        return d

    def to_json(self) -> bytes:
        """UTF-8 JSON, compact (orjson: several times faster than `json` on these records)."""
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls: type[T], d: Any) -> T:
        if not isinstance(d, dict):
            raise RecordError(f"{cls.__name__}: expected a JSON object, got {type(d).__name__}")
        schema = d.get("schema", SCHEMA)
        if schema != SCHEMA:
            raise RecordError(f"{cls.__name__}: unsupported schema {schema!r}")
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        try:
            return cls(**{k: v for k, v in d.items() if k in known})
        except TypeError as e:
            raise RecordError(f"{cls.__name__}: {e}") from e

    @classmethod
    def from_json(cls: type[T], raw: bytes | str) -> T:
        try:
            d = orjson.loads(raw)
        except (ValueError, UnicodeDecodeError, TypeError) as e:
            raise RecordError(f"{cls.__name__}: not JSON ({e})") from e
        return cls.from_dict(d)


@dataclass
class Feedback(_Record):
    """One piece of customer feedback, as ingested into `feedback.raw`.

    `customer_ref` is an HMAC of the phone number; `contact` is the Fernet-encrypted phone
    number (empty when the customer gave none), so the plain topics never hold a number.
    """

    id: str
    received_at: float  # epoch seconds, when the webhook/form arrived: the 60-second clock
    channel: str  # sms | whatsapp | web | api | kiosk
    location_id: str
    customer_ref: str = ""
    score: int | None = None
    scale: str | None = None  # the scale of `score`: csat5 | nps10
    text: str = ""
    lang: str = ""
    contact: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise RecordError("Feedback.id: a non-empty string")
        if not isinstance(self.location_id, str) or not self.location_id:
            raise RecordError("Feedback.location_id: a non-empty string")
        if not isinstance(self.received_at, int | float):
            raise RecordError("Feedback.received_at: epoch seconds")
        if self.score is not None and (not isinstance(self.score, int) or self.score < 0):
            raise RecordError("Feedback.score: a non-negative integer or null")
        if not isinstance(self.text, str):
            raise RecordError("Feedback.text: a string")


@dataclass
class ScoredFeedback(_Record):
    """A feedback plus its sentiment and its location's rolling scores, on `feedback.scored`."""

    feedback: dict[str, Any]
    sentiment_negative: float  # P(negative)
    sentiment_label: str  # negative | neutral | positive
    model_version: int
    scored_at: float
    labelled: bool = False  # the text was labelled by its own score
    scores: dict[str, Any] = field(default_factory=dict)  # window -> {csat, nps, n, ...}
    # The themes the score stage tagged (and counted); None: not tagged (the fast-path copy
    # of a complaint, or a record from before themes were tagged there).
    themes: list[str] | None = None
    # The location's top negative theme of the last hour, for a trend notice to name.
    top_theme: str | None = None

    @cached_property
    def fb(self) -> Feedback:
        """The feedback, decoded once (the desk reads it several times per record)."""
        return Feedback.from_dict(self.feedback)
