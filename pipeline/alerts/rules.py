"""The alert rules: does a scored feedback, or a location's trend, call for an alert?

Pure: plain values in, a `Decision` (or None) out. The rules, in the order they are tried:

1. SAFETY: a safety keyword in the text (es/en, and pt/fr/ca/it where it costs nothing). It is
   always urgent, whatever the score says: "5/5 but there is smoke in the kitchen" pages.
2. LOW_SCORE: a dissatisfied answer, csat5 <= `low_csat` or nps10 <= `low_nps`.
3. NEGATIVE_TEXT: a text-only message (no score) whose P(negative) >= `negative_threshold`.
   A message that carries a score is judged by its score: the customer told us how they feel.

Trend rules (`evaluate_trend`) go to the manager: the rolling CSAT under
`trend_csat_threshold` with at least `trend_min_answers` answers, or a drift event.

Keywords are matched on accent-folded, lower-cased text at word boundaries, so "fireworks",
"accidentally" or "robot" do not match "fire", "accident" or "robo". A few everyday phrases
that contain a keyword but are not a danger are removed first (`_HARMLESS`): "fuego lento" on a
menu, "agua con gas", "blood orange", "fuegos artificiales". A safety page that was not needed
costs a minute; one that was missed may cost far more, so the list errs towards paging.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from pipeline.config import Location

logger = logging.getLogger(__name__)


class Reason(StrEnum):
    LOW_SCORE = "low_score"
    NEGATIVE_TEXT = "negative_text"
    SAFETY = "safety"
    TREND_CSAT = "trend_csat"
    DRIFT = "drift"


TREND_REASONS = frozenset({Reason.TREND_CSAT, Reason.DRIFT})


@dataclass(frozen=True)
class Decision:
    reason: Reason
    urgent: bool
    detail: str

    @property
    def for_manager(self) -> bool:
        """A trend alert goes to the manager rather than to a supervisor on the floor."""
        return self.reason in TREND_REASONS


def fold(text: str) -> str:
    """Lower-case `text` and strip its accents, so "Agresión" and "agresion" compare equal.

    >>> fold("¡Me han ROBADO el móvil! Agresión")
    '¡me han robado el movil! agresion'
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Written already folded (no accents). Multi-word phrases match with any run of spaces.
# Left out on purpose: "knife"/"cuchillo"/"navaja" (cutlery and razor clams on a menu).
SAFETY_KEYWORDS: tuple[str, ...] = (
    # en
    "accident", "accidents", "crash", "harassment", "harassed", "harassing", "harass",
    "fire", "on fire", "robbery", "robbed", "theft", "stolen", "thief", "assault", "assaulted",
    "attacked", "injured", "injury", "bleeding", "blood", "emergency", "ambulance", "fight",
    "fighting", "smoke", "gas leak", "smell of gas", "smells of gas", "weapon", "gun",
    "unconscious", "fainted", "collapsed", "choking", "overdose", "police",
    # es
    "accidente", "acoso", "acosando", "acosado", "acosada", "fuego", "incendio", "robo",
    "robado", "robada", "me han robado", "ladron", "agresion", "agredido", "agredida",
    "herido", "herida", "heridos", "sangre", "sangrando", "emergencia", "ambulancia", "pelea",
    "humo", "fuga de gas", "huele a gas", "olor a gas", "pistola",
    "inconsciente", "desmayado", "desmayada", "se ha desmayado", "atragantado", "policia",
    # pt
    "acidente", "assedio", "incendio", "fogo", "roubo", "roubado", "assalto", "ferido",
    "sangue", "briga", "fumaca", "vazamento de gas",
    # fr ("feu" is left out: "feu rouge" on every bus route; "vol" is also "flight")
    "harcelement", "incendie", "agression", "blesse", "urgence", "bagarre", "fumee",
    "fuite de gaz", "on m'a vole",
    # ca
    "assetjament", "incendi", "robatori", "m'han robat", "agressio", "ferit", "baralla",
    "fuita de gas",
    # it
    "incidente", "furto", "rapina", "derubato", "aggressione", "ferito", "emergenza",
    "ambulanza", "rissa", "fuga di gas",
)  # fmt: skip

# Phrases that contain a keyword but describe no danger; removed before matching.
_HARMLESS: tuple[str, ...] = (
    "fuego lento", "a fuego vivo", "fuegos artificiales", "fireworks", "fire pit",
    "fire alarm test", "agua con gas", "blood orange", "humo liquido", "ahumado",
    "emergency exit sign",
)  # fmt: skip


def _phrase(p: str) -> str:
    return r"\s+".join(re.escape(w) for w in p.split())


_SAFETY_RE = re.compile(
    r"(?<!\w)("
    + "|".join(_phrase(k) for k in sorted(set(SAFETY_KEYWORDS), key=len)[::-1])
    + r")(?!\w)"
)
_HARMLESS_RE = re.compile(r"(?<!\w)(" + "|".join(_phrase(p) for p in _HARMLESS) + r")(?!\w)")


def safety_keyword(text: str) -> str | None:
    """The first safety keyword in `text` (folded), or None.

    >>> safety_keyword("Hay HUMO en el baño")
    'humo'
    >>> safety_keyword("Me han robado la cartera")
    'me han robado'
    >>> safety_keyword("the fireworks were lovely") is None
    True
    >>> safety_keyword("el cordero a fuego lento, espectacular") is None
    True
    """
    if not text:
        return None
    folded = _HARMLESS_RE.sub(" ", fold(text).replace("\u2019", "'"))
    m = _SAFETY_RE.search(folded)
    return m.group(1) if m else None


def is_dissatisfied(loc: Location, score: int, scale: str) -> bool:
    """A csat5 answer <= loc.low_csat or an nps10 answer <= loc.low_nps.

    >>> loc = Location(id="x", name="X")
    >>> is_dissatisfied(loc, 2, "csat5"), is_dissatisfied(loc, 3, "csat5")
    (True, False)
    >>> is_dissatisfied(loc, 6, "nps10"), is_dissatisfied(loc, 7, "nps10")
    (True, False)
    """
    if scale == "nps10":
        return score <= loc.low_nps
    if scale == "csat5":
        return score <= loc.low_csat
    raise ValueError(f"unknown scale {scale!r}")


def evaluate_feedback(
    loc: Location,
    score: int | None,
    scale: str | None,
    text: str,
    p_negative: float | None,
) -> Decision | None:
    """Whether one customer's feedback opens (or joins) an alert, and why.

    `scale` defaults to the location's when a score comes without one.

    Safety is always urgent, even next to a good score:

    >>> loc = Location(id="bus-42", name="Línea 42", scale="nps10")
    >>> evaluate_feedback(loc, 9, "nps10", "Hay una pelea al fondo", 0.1)
    Decision(reason=<Reason.SAFETY: 'safety'>, urgent=True, detail="safety keyword 'pelea'")

    A dissatisfied answer:

    >>> evaluate_feedback(loc, 3, "nps10", "tarde otra vez", 0.9).reason
    <Reason.LOW_SCORE: 'low_score'>

    A text-only message, judged by its sentiment:

    >>> evaluate_feedback(loc, None, None, "el conductor fue muy borde", 0.93).reason
    <Reason.NEGATIVE_TEXT: 'negative_text'>
    >>> evaluate_feedback(loc, None, None, "todo bien", 0.1) is None
    True

    A scored answer is judged by its score, not its sentiment:

    >>> evaluate_feedback(loc, 8, "nps10", "meh", 0.95) is None
    True
    """
    kw = safety_keyword(text)
    if kw:
        return Decision(Reason.SAFETY, True, f"safety keyword {kw!r}")
    if score is not None:
        sc = scale or loc.scale
        if is_dissatisfied(loc, score, sc):
            top = 10 if sc == "nps10" else 5
            return Decision(Reason.LOW_SCORE, False, f"score {score}/{top}")
        return None
    if text.strip() and p_negative is not None and p_negative >= loc.negative_threshold:
        return Decision(
            Reason.NEGATIVE_TEXT,
            False,
            f"P(negative)={p_negative:.2f} >= {loc.negative_threshold:.2f}",
        )
    return None


def evaluate_trend(
    loc: Location,
    csat_value: float | None,
    csat_n: int,
    drift: bool = False,
    drift_detail: str = "",
) -> Decision | None:
    """A trend alert for the manager: rolling CSAT too low on enough answers, or drift.

    `csat_value` is the share of 4s and 5s (0..1) over `csat_n` answers.

    >>> loc = Location(id="r", name="R", trend_csat_threshold=0.6, trend_min_answers=20)
    >>> evaluate_trend(loc, 0.45, 30).detail
    'rolling CSAT 45% < 60% over 30 answers'
    >>> evaluate_trend(loc, 0.45, 5) is None  # too few answers to say
    True
    >>> evaluate_trend(loc, 0.9, 30, drift=True).reason
    <Reason.DRIFT: 'drift'>
    """
    enough = csat_value is not None and csat_n >= loc.trend_min_answers
    if enough and csat_value is not None and csat_value < loc.trend_csat_threshold:
        return Decision(
            Reason.TREND_CSAT,
            False,
            f"rolling CSAT {csat_value:.0%} < {loc.trend_csat_threshold:.0%} over {csat_n} answers",
        )
    if drift:
        return Decision(Reason.DRIFT, False, drift_detail or "sentiment drift detected")
    return None
