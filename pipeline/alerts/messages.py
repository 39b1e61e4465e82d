"""The texts Pronto sends: pages, manager notices and the customer's messages (es/en).

Pages and notices for staff are folded to the GSM-7 alphabet and fit one SMS segment where
they can (160 septets): one non-GSM character, an "á" say, would turn the whole message into
UCS-2 with 70 characters a segment. Customer messages keep proper spelling; `gsm_fold` is
there for a sender that wants them cheaper.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Sequence

from pipeline.alerts.lifecycle import Alert
from pipeline.alerts.rules import TREND_REASONS, Decision, Reason
from pipeline.alerts.theme_words import about
from pipeline.config import Location, Supervisor

logger = logging.getLogger(__name__)

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXT = "^{}\\[~]|€\f"  # two septets each (escape + char)
_GSM = frozenset(GSM_BASIC) | frozenset(GSM_EXT)
_SUBST = {"‘": "'", "’": "'", "´": "'", "“": '"', "”": '"', "«": '"', "»": '"', "–": "-",
          "—": "-", "…": "...", "\t": " ", "º": "o", "ª": "a"}  # fmt: skip
SMS_LIMIT = 160

KIND_PLACE = {
    "es": {"restaurant": "su mesa", "bus": "su asiento", "hotel": "su habitación"},
    "en": {"restaurant": "your table", "bus": "your seat", "hotel": "your room"},
}


def segments(text: str) -> tuple[int, str]:
    """How many SMS segments `text` takes, and its encoding ("gsm7" or "ucs2").

    >>> segments("a" * 160), segments("a" * 161), segments("€" * 80)
    ((1, 'gsm7'), (2, 'gsm7'), (1, 'gsm7'))
    >>> segments("canción"), segments("á" * 71)
    ((1, 'ucs2'), (2, 'ucs2'))
    """
    if all(c in _GSM for c in text):
        units = sum(2 if c in GSM_EXT else 1 for c in text)
        single, multi, enc = 160, 153, "gsm7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, enc = 70, 67, "ucs2"
    return (1 if units <= single else math.ceil(units / multi)), enc


def septets(text: str) -> int:
    """The length of GSM-7 `text` in septets (extension characters count twice)."""
    return sum(2 if c in GSM_EXT else 1 for c in text)


def gsm_fold(text: str) -> str:
    """`text` in the GSM-7 alphabet: accents GSM lacks are dropped, emoji removed.

    >>> gsm_fold("Línea 42: “el bus” tardó… 😡 ¿Qué?")
    'Linea 42: "el bus" tardo... ¿Qué?'
    """
    out = []
    for c in text:
        c = _SUBST.get(c, c)
        if all(x in _GSM for x in c):
            out.append(c)
            continue
        base = "".join(x for x in unicodedata.normalize("NFKD", c) if not unicodedata.combining(x))
        out.append("".join(x for x in base if x in _GSM))
    return re.sub(r"[ \n\r]{2,}", " ", "".join(out)).strip()


def _lang(lang: str, default: str = "en") -> str:
    lang = (lang or default or "en")[:2].lower()
    return lang if lang in ("es", "en") else "en"


def ago(seconds: float, lang: str) -> str:
    """ "hace 40 s" / "3 min ago".

    >>> ago(42, "es"), ago(185, "en"), ago(7300, "es")
    ('hace 42 s', '3 min ago', 'hace 2 h')
    """
    s = max(0, int(seconds))
    span = f"{s} s" if s < 60 else f"{s // 60} min" if s < 3600 else f"{s // 3600} h"
    return f"hace {span}" if _lang(lang) == "es" else f"{span} ago"


def _score(alert: Alert) -> str:
    if alert.score is None:
        return ""
    return f" {alert.score}/{10 if alert.scale == 'nps10' else 5}"


def _fit(template: str, quote: str, limit: int = SMS_LIMIT) -> str:
    """Fill `{q}` in `template` with `quote` trimmed so the whole stays within `limit`."""
    quote = gsm_fold(quote)
    room = limit - septets(template.replace("{q}", ""))
    if septets(quote) > room:
        cut = quote[: max(room - 3, 0)]
        # End on a whole word when that loses little; a page is read at a glance.
        if " " in cut[-15:]:
            cut = cut[: cut.rindex(" ")]
        quote = cut.rstrip(" ,.;:") + "..."
        while septets(quote) > room and len(quote) > 3:
            quote = quote[:-4] + "..."
    return template.replace("{q}", quote)


def page_text(alert: Alert, loc: Location, sup: Supervisor, now: float) -> str:
    """The page for supervisor `sup`: where, what was said, the score, the theme, when, how
    to ack.

    >>> from pipeline.alerts.lifecycle import open_alert
    >>> a, _ = open_alert("4821", "bus-42", "c", "f1", "low_score", False, 100.0,
    ...                   text="El conductor no para en las paradas", score=3, scale="nps10")
    >>> page_text(a, Location("bus-42", "Línea 42"), Supervisor("Ana", "+34600000001"), 145.0)
    'Linea 42: "El conductor no para en las paradas" 3/10, hace 45 s. Responda OK 4821'
    >>> a, _ = open_alert("4822", "r", "c", "f2", "low_score", False, 100.0, text="Cold soup",
    ...                   score=1, scale="csat5", themes=("food",))
    >>> page_text(a, Location("r", "Sol"), Supervisor("Tom", "+4", lang="en"), 160.0)
    'Sol: "Cold soup" 1/5, about: food, 1 min ago. Reply OK 4822'
    """
    lang = _lang(sup.lang, loc.lang)
    tag = ("URGENTE " if lang == "es" else "URGENT ") if alert.urgent else ""
    if alert.level > 0:
        tag += "ESCALADO " if lang == "es" else "ESCALATED "
    when = ago(now - alert.opened_at, lang)
    ack = f"Responda OK {alert.ref}" if lang == "es" else f"Reply OK {alert.ref}"
    head = gsm_fold(f"{tag}{loc.name}")
    said = " ".join(p for p in ('"{q}"' if alert.text.strip() else "", _score(alert).strip()) if p)
    topic = gsm_fold(about(alert.themes, lang, trend=alert.reason in TREND_REASONS))
    template = f"{head}: {said or alert.reason}{', ' + topic if topic else ''}, {when}. {ack}"
    return _fit(template, alert.text)


def grouped_page_text(alerts: Sequence[Alert], loc: Location, sup: Supervisor, now: float) -> str:
    """One page for a burst of alerts at one location: "3 quejas en Linea 42: ..."."""
    if len(alerts) == 1:
        return page_text(alerts[0], loc, sup, now)
    lang = _lang(sup.lang, loc.lang)
    n, refs = len(alerts), " ".join(a.ref for a in alerts)
    oldest = ago(now - min(a.opened_at for a in alerts), lang)
    topic = about(sorted({t for a in alerts for t in a.themes}), lang)
    oldest += f", {topic}" if topic else ""
    if lang == "es":
        head = f"{n} quejas en {loc.name} ({oldest}): "
        tail = f" Refs {refs}. Responda OK para todas u OK <ref>"
    else:
        head = f"{n} complaints at {loc.name} ({oldest}): "
        tail = f" Refs {refs}. Reply OK for all or OK <ref>"
    said = " / ".join(gsm_fold(a.text) for a in alerts if a.text.strip()) or "-"
    return _fit(gsm_fold(head) + "{q}." + tail, said)


def _pronoun(sup: Supervisor, lang: str) -> str:
    p = sup.pronoun if sup.pronoun in ("she", "he", "they") else "they"
    if lang == "es":
        return {"she": "la supervisora", "he": "el supervisor", "they": "la persona supervisora"}[p]
    return {"she": "her", "he": "his", "they": "their"}[p]


def coming_text(sup: Supervisor, loc: Location, lang: str, ref: str = "") -> str:
    """The customer is told who is coming: "Ana, la supervisora de turno, va hacia su mesa."

    >>> coming_text(Supervisor("Ana", "+3"), Location("r", "R", kind="restaurant"), "es")
    'Ana, la supervisora de turno, va hacia su mesa.'
    >>> coming_text(Supervisor("Tom", "+4", pronoun="he"), Location("h", "H", kind="hotel"), "en")
    'Tom, the shift supervisor, is on his way to your room.'
    """
    lang = _lang(lang, loc.lang)
    place = KIND_PLACE[lang].get(loc.kind, "usted" if lang == "es" else "you")
    suffix = f" Ref {ref}" if ref else ""
    if lang == "es":
        return f"{sup.name}, {_pronoun(sup, lang)} de turno, va hacia {place}.{suffix}"
    return f"{sup.name}, the shift supervisor, is on {_pronoun(sup, lang)} way to {place}.{suffix}"


def follow_up_text(lang: str, ref: str = "") -> str:
    """After a resolve: did we fix it? (the answer measures the recovery rate)."""
    suffix = f" Ref {ref}" if ref else ""
    if _lang(lang) == "es":
        return f"¿Lo hemos solucionado? Responda 1-5 (5 = del todo).{suffix}"
    return f"Did we fix it? Reply 1-5 (5 = completely).{suffix}"


def thanks_text(lang: str, recovered: bool) -> str:
    """The thank-you after the follow-up answer."""
    if _lang(lang) == "es":
        if recovered:
            return "¡Gracias! Nos alegra haberlo solucionado."
        return "Gracias, y lo sentimos. El responsable revisará lo ocurrido."
    if recovered:
        return "Thank you! We are glad we could fix it."
    return "Thank you, and we are sorry. The manager will review what happened."


def ack_text(loc: Location, lang: str, ref: str, complaint: bool = False) -> str:
    """The immediate acknowledgement, with the reference (ISO 10002).

    `loc.reply_text[lang]` overrides the plain one and `loc.reply_text[lang + "_complaint"]`
    the complaint one; `{ref}` in them is replaced by the reference.

    >>> ack_text(Location("x", "X"), "es", "4821")
    'Gracias por su opinión. Ref 4821'
    >>> ack_text(Location("x", "X", reply_text={"en": "Thanks! #{ref}"}), "en", "4821")
    'Thanks! #4821'
    """
    lang = _lang(lang, loc.lang)
    custom = loc.reply_text.get(f"{lang}_complaint" if complaint else lang)
    if custom:
        return custom.replace("{ref}", ref)
    if lang == "es":
        if complaint:
            return f"Lo sentimos. Estamos avisando al responsable de turno. Ref {ref}"
        return f"Gracias por su opinión. Ref {ref}"
    if complaint:
        return f"We are sorry. We are telling the person on duty right now. Ref {ref}"
    return f"Thank you for your feedback. Ref {ref}"


def trend_notice(
    loc: Location, decision: Decision, lang: str, csat: float | None = None, n: int = 0
) -> str:
    """The manager's notice of a trend alert."""
    es = _lang(lang, loc.lang) == "es"
    if decision.reason == Reason.TREND_CSAT and csat is not None:
        bar = f"{csat:.0%} < {loc.trend_csat_threshold:.0%}"
        text = (
            f"Pronto {loc.name}: CSAT en caida, {bar} en {n} respuestas."
            if es
            else f"Pronto {loc.name}: CSAT falling, {bar} over {n} answers."
        )
    elif es:
        text = f"Pronto {loc.name}: la opinion de los clientes esta cambiando ({decision.detail})."
    else:
        text = f"Pronto {loc.name}: customer sentiment is shifting ({decision.detail})."
    return gsm_fold(text.replace("%", " %") if es else text)


def escalation_notice(alert: Alert, loc: Location, lang: str, now: float, missed_by: str) -> str:
    """The manager hears that `missed_by` did not acknowledge in time."""
    when = ago(now - alert.opened_at, lang)
    if _lang(lang, loc.lang) == "es":
        text = f"Pronto {loc.name}: {missed_by} no confirmo la ref {alert.ref} ({when}). Escalada."
    else:
        text = f"Pronto {loc.name}: {missed_by} did not acknowledge ref {alert.ref} ({when}). Escalated."
    return gsm_fold(text)


def overdue_notice(alert: Alert, loc: Location, lang: str, now: float) -> str:
    """The manager hears of an alert still not resolved after `loc.resolve_timeout_s`."""
    open_for = ago(now - alert.opened_at, "en").removesuffix(" ago")
    if _lang(lang, loc.lang) == "es":
        how = f"la tiene {alert.acked_by}" if alert.acked_by else "nadie la ha confirmado"
        text = f"Pronto {loc.name}: la ref {alert.ref} sigue abierta tras {open_for} ({how})."
    else:
        how = f"{alert.acked_by} has it" if alert.acked_by else "nobody acknowledged it"
        text = f"Pronto {loc.name}: ref {alert.ref} still open after {open_for} ({how})."
    return gsm_fold(text)
