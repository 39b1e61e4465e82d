"""Parse SMS replies: a supervisor's "OK 4821", and a customer's follow-up answer "1".."5".

Matching is on accent-folded, lower-cased text, so "RESUELTO", "resuelto" and "Resuelto."
are the same reply. A reply without a reference ("ok") means the latest page the supervisor
received; the caller resolves that.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import StrEnum

from pipeline.alerts.rules import fold

logger = logging.getLogger(__name__)


class Action(StrEnum):
    ACK = "ack"
    RESOLVE = "resolve"
    NOT_COMPLAINT = "not_complaint"


@dataclass(frozen=True)
class SupervisorReply:
    action: Action
    ref: str | None


# Folded phrases; the longest match wins so "no es queja" is not read as something shorter.
_ACTIONS: dict[str, Action] = {
    **dict.fromkeys(
        ["ok", "okay", "ack", "voy", "en camino", "on my way", "omw", "vale", "recibido",
         "coming", "on it", "si", "yes"],
        Action.ACK,
    ),
    **dict.fromkeys(
        ["done", "resuelto", "resuelta", "solucionado", "solucionada", "resolved", "fixed",
         "hecho", "listo", "arreglado"],
        Action.RESOLVE,
    ),
    **dict.fromkeys(
        ["nc", "no queja", "no es queja", "no es una queja", "not a complaint", "no complaint"],
        Action.NOT_COMPLAINT,
    ),
}  # fmt: skip
_PHRASES = sorted(_ACTIONS, key=len, reverse=True)
_REF_RE = re.compile(r"#?(\d{4,6})")


def parse_supervisor_reply(text: str) -> SupervisorReply | None:
    """The action and reference in a supervisor's reply, or None if it is not one.

    >>> parse_supervisor_reply("OK 4821")
    SupervisorReply(action=<Action.ACK: 'ack'>, ref='4821')
    >>> parse_supervisor_reply("en camino")
    SupervisorReply(action=<Action.ACK: 'ack'>, ref=None)
    >>> parse_supervisor_reply("Resuelto #4821").action
    <Action.RESOLVE: 'resolve'>
    >>> parse_supervisor_reply("NC 4821").action
    <Action.NOT_COMPLAINT: 'not_complaint'>
    >>> parse_supervisor_reply("who is this?") is None
    True
    """
    # "OK4821" and "4821ok" are typed on small keyboards too.
    spaced = re.sub(r"(?<=[a-z])(?=[#\d])|(?<=\d)(?=[a-z])", " ", fold(text))
    words = re.sub(r"[^\w#]+", " ", spaced).split()
    ref = None
    rest = []
    for w in words:
        m = _REF_RE.fullmatch(w)
        if m and ref is None:
            ref = m.group(1)
        else:
            rest.append(w)
    phrase = " ".join(rest)
    for p in _PHRASES:
        # The phrase must open the reply, so "not ok" or "no voy" never acknowledge.
        if phrase == p or phrase.startswith(p + " "):
            return SupervisorReply(_ACTIONS[p], ref)
    return None


@dataclass(frozen=True)
class FollowUpAnswer:
    score: int  # 1..5
    recovered: bool  # score >= 4


_WORDS = {
    "uno": 1, "one": 1, "dos": 2, "two": 2, "tres": 3, "three": 3, "cuatro": 4, "four": 4,
    "cinco": 5, "five": 5,
    # A plain yes/no to "did we fix it?" is a weak answer: one step either side of neutral.
    "si": 4, "yes": 4, "yep": 4, "no": 2, "nope": 2,
}  # fmt: skip
_EMOJI = {
    "😡": 1, "😠": 1, "👎": 1, "😞": 2, "🙁": 2, "☹": 2, "😐": 3, "😕": 3, "🙂": 4, "😊": 4,
    "👍": 4, "😀": 5, "😃": 5, "😄": 5, "😍": 5, "🥰": 5, "❤": 5,
}  # fmt: skip
_FIRST_DIGIT = re.compile(r"(?<!\d)([1-5])(?:\s*(?:/|de|of|out of)\s*5)?(?!\d)")


def parse_follow_up(text: str) -> FollowUpAnswer | None:
    """A customer's answer to "Did we fix it? Reply 1-5", or None if it is not one.

    >>> parse_follow_up("5")
    FollowUpAnswer(score=5, recovered=True)
    >>> parse_follow_up("un 3 de 5").recovered
    False
    >>> parse_follow_up("Cuatro!").score, parse_follow_up("👍").score, parse_follow_up("★★")
    (4, 4, FollowUpAnswer(score=2, recovered=False))
    >>> parse_follow_up("8") is None
    True
    """
    folded = fold(text).strip()
    if not folded:
        return None
    m = _FIRST_DIGIT.search(folded)
    score: int | None = int(m.group(1)) if m else None
    if score is None and re.search(r"\d", folded) is None:
        stars = folded.count("★") + folded.count("⭐")
        if 1 <= stars <= 5:
            score = stars
        else:
            score = next((v for e, v in _EMOJI.items() if e in text), None)
        if score is None:
            words = re.sub(r"[^\w]+", " ", folded).split()
            score = next((_WORDS[w] for w in words if w in _WORDS), None)
    if score is None:
        return None
    return FollowUpAnswer(score, score >= 4)
