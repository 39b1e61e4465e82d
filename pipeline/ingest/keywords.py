"""SMS keywords: opt-out, opt-in, help and status requests, in Spanish and English.

Pure. A keyword must be the whole message: case, surrounding spaces, accents, a trailing
"!" or "." and a leading "¡" do not matter, so "Stop.", " baja " and "¡AYÚDA!" are keywords,
while "please stop the music" is feedback. Keyword messages never reach the scores.

>>> classify_keyword("Baja!")
Keyword(kind=<KeywordKind.OPT_OUT: 'opt_out'>, word='BAJA', ref='')
>>> classify_keyword("estado 4821").ref
'4821'
>>> classify_keyword("stop the bus please") is None
True
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

logger = logging.getLogger(__name__)


class KeywordKind(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    STATUS = "status"


@dataclass(frozen=True)
class Keyword:
    kind: KeywordKind
    word: str  # the canonical keyword, upper case: "STOP", "BAJA", "ESTADO"
    ref: str = ""  # STATUS only: the complaint reference as the customer typed it


_WORDS: dict[str, KeywordKind] = {
    **dict.fromkeys(
        (
            "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT",
            "BAJA", "PARAR", "CANCELAR",
        ),
        KeywordKind.OPT_OUT,
    ),
    **dict.fromkeys(("START", "UNSTOP", "YES", "ALTA"), KeywordKind.OPT_IN),
    **dict.fromkeys(("HELP", "INFO", "AYUDA"), KeywordKind.HELP),
}  # fmt: skip
_STATUS_RE = re.compile(r"(STATUS|ESTADO)\s*[:#-]?\s*([A-Z0-9]{4,8})", re.IGNORECASE)
_TRAILING_RE = re.compile(r"[\s!.]+$")
_LEADING_RE = re.compile(r"^[\s¡]+")  # Spanish opens an exclamation: "¡Baja!"
# "STOP ALL", "OPT-OUT", "UN STOP": carriers treat these as the one-word keywords.
_JOINERS_RE = re.compile(r"[\s\-_]+")


def _fold(body: str) -> str:
    decomposed = unicodedata.normalize("NFD", body.strip())
    plain = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return _LEADING_RE.sub("", _TRAILING_RE.sub("", plain))


def classify_keyword(body: str) -> Keyword | None:
    """The keyword that `body` is in its entirety, or None when it is ordinary feedback.

    >>> classify_keyword("  Stop. ").kind
    <KeywordKind.OPT_OUT: 'opt_out'>
    >>> classify_keyword("Ayuda").word
    'AYUDA'
    """
    if not isinstance(body, str) or len(body) > 64:
        return None  # a keyword is short; a long message is feedback whatever it contains
    plain = _fold(body)
    status = _STATUS_RE.fullmatch(plain)
    if status is not None:
        return Keyword(KeywordKind.STATUS, status.group(1).upper(), status.group(2))
    word = _JOINERS_RE.sub("", plain).upper()
    kind = _WORDS.get(word)
    return Keyword(kind, word) if kind is not None else None


_REPLIES: dict[str, dict[KeywordKind, str]] = {
    "es": {
        KeywordKind.OPT_OUT: (
            "{venue}: te has dado de baja y no recibirás más mensajes nuestros. "
            "Envía ALTA para volver a recibirlos."
        ),
        KeywordKind.OPT_IN: (
            "{venue}: vuelves a recibir nuestros mensajes. Envía BAJA para dejar de recibirlos."
        ),
        KeywordKind.HELP: (
            "{venue}: cuéntanos qué tal con una nota y un comentario a este número y el equipo "
            "te atenderá. ESTADO y tu referencia para seguir una queja. BAJA para darte de baja."
        ),
    },
    "en": {
        KeywordKind.OPT_OUT: (
            "{venue}: you are unsubscribed and will receive no more messages from us. "
            "Reply START to receive them again."
        ),
        KeywordKind.OPT_IN: (
            "{venue}: you will receive our messages again. Reply STOP to unsubscribe."
        ),
        KeywordKind.HELP: (
            "{venue}: text us a score and a comment at this number and our team will help. "
            "STATUS and your reference to follow a complaint. STOP to unsubscribe."
        ),
    },
}


def keyword_reply(kw: Keyword, lang: str, venue_name: str) -> str:
    """The SMS that answers an opt-out, opt-in or help keyword, in `lang` (es, else en).

    STATUS is answered by the complaint records, which know the reference: it raises
    ValueError here.

    >>> keyword_reply(Keyword(KeywordKind.OPT_OUT, "STOP"), "en", "Line 42")[:37]
    'Line 42: you are unsubscribed and wil'
    """
    texts = _REPLIES["es" if lang.lower().startswith("es") else "en"]
    if kw.kind not in texts:
        raise ValueError(f"no canned reply for {kw.kind.value}: it is answered elsewhere")
    return texts[kw.kind].format(venue=venue_name)
