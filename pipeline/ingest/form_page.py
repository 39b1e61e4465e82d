"""The HTML of the QR-code feedback form, its thanks page and its error pages (es/en).

Pure rendering: every value that reaches the page is escaped here. The pages carry their own
CSS and script inline (read once from `pipeline/web/static/`), so a phone on a weak signal makes
one request, and nothing depends on a CDN, an external font or on JavaScript.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from pipeline.config import Location

logger = logging.getLogger(__name__)


class ValidationError(Protocol):
    """What the page needs of `pipeline.ingest.web.ValidationError`: the field and why."""

    field: str
    message: str


LANGS = ("es", "en")
DEFAULT_LANG = "es"
STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
KIOSK_RESET_S = 5
_INVALID = ' aria-invalid="true"'
_INVALID_COMMENT = _INVALID + ' aria-describedby="comment-error"'
# All five from Unicode 6.0 (🙂 is 7.0): a kiosk tablet whose only emoji glyphs are an old
# or monochrome font (DejaVu Sans) still draws every face instead of an empty box.
FACES = ("😡", "😞", "😐", "😊", "😍")
# The neutral face must not page anyone, so on nps10 it is a passive 7, not a detractor 6;
# both smiles are promoters, as 4 and 5 are "satisfied" on csat5.
FACE_SCORES = {"csat5": (1, 2, 3, 4, 5), "nps10": (0, 4, 7, 9, 10)}

T: dict[str, dict[str, str]] = {
    "es": {
        "q_csat5": "¿Qué tal ha sido tu experiencia?",
        "q_nps10": "¿Recomendarías {name} a un amigo?",
        "lo_csat5": "1 = Muy mal",
        "hi_csat5": "5 = Excelente",
        "lo_nps10": "0 = Nada probable",
        "hi_nps10": "10 = Muy probable",
        "faces": "Muy mal|Mal|Normal|Bien|Excelente",
        "comment": "¿Algo más que contarnos?",
        "optional": "(opcional)",
        "more": "Prefiero escribir un comentario",
        "phone": "¿Quieres que te respondamos? Tu teléfono",
        "phone_note": "Solo lo usaremos para responderte sobre esta opinión.",
        "send": "Enviar",
        "privacy": "Tu opinión llega al equipo en segundos. No guardamos tu número en claro.",
        "err_score": "Elige una puntuación o escribe un comentario.",
        "err_comment": "El comentario puede tener como máximo 1000 caracteres.",
        "err_phone": "Escribe un número internacional, por ejemplo +34 600 000 000.",
        "err_other": "No hemos podido leer el formulario. Inténtalo de nuevo.",
        "thanks": "¡Gracias!",
        "thanks_body": "Tu opinión ya está en manos del equipo.",
        "ref": "Tu referencia",
        "ref_note": "Guárdala si quieres preguntar por tu opinión.",
        "reset": "Volvemos al inicio en unos segundos.",
        "again": "Nueva opinión",
        "not_found": "Esta página no existe",
        "not_found_body": "El código QR no corresponde a ningún lugar. Avisa al personal, por favor.",
        "too_many": "Demasiados envíos",
        "too_many_body": "Espera unos segundos y vuelve a intentarlo.",
        "unavailable": "No podemos recibir tu opinión ahora",
        "unavailable_body": "Inténtalo de nuevo en unos segundos. Disculpa las molestias.",
    },
    "en": {
        "q_csat5": "How was your experience?",
        "q_nps10": "Would you recommend {name} to a friend?",
        "lo_csat5": "1 = Very bad",
        "hi_csat5": "5 = Excellent",
        "lo_nps10": "0 = Not at all likely",
        "hi_nps10": "10 = Extremely likely",
        "faces": "Very bad|Bad|OK|Good|Excellent",
        "comment": "Anything else to tell us?",
        "optional": "(optional)",
        "more": "I'd rather write a comment",
        "phone": "Want a reply? Your phone number",
        "phone_note": "We only use it to reply to you about this feedback.",
        "send": "Send",
        "privacy": "Your feedback reaches the team within seconds. We never store your number in clear.",
        "err_score": "Choose a score or write a comment.",
        "err_comment": "The comment can be at most 1000 characters.",
        "err_phone": "Enter an international number, for example +44 7700 900000.",
        "err_other": "We could not read the form. Please try again.",
        "thanks": "Thank you!",
        "thanks_body": "Your feedback is already with the team.",
        "ref": "Your reference",
        "ref_note": "Keep it if you want to ask about your feedback.",
        "reset": "Back to the start in a few seconds.",
        "again": "New answer",
        "not_found": "This page does not exist",
        "not_found_body": "This QR code does not match any place. Please tell a member of staff.",
        "too_many": "Too many submissions",
        "too_many_body": "Please wait a few seconds and try again.",
        "unavailable": "We cannot take your feedback right now",
        "unavailable_body": "Please try again in a few seconds. Sorry for the trouble.",
    },
}


def pick_lang(accept_language: str, loc: Location | None) -> str:
    """Pick "es" or "en": the client's favourite of the two, else the location's language.

    >>> pick_lang("fr-FR,en;q=0.8,es;q=0.9", None)
    'es'
    >>> pick_lang("de, *;q=0.1", None), pick_lang("", None)
    ('es', 'es')
    >>> pick_lang("en-GB;q=0", None)
    'es'
    """
    fallback = (loc.lang if loc else "").lower().split("-")[0]
    fallback = fallback if fallback in LANGS else DEFAULT_LANG
    best, best_q = "", 0.0
    for part in accept_language[:500].split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        candidate = fallback if primary == "*" else primary
        if candidate in LANGS and q > best_q:  # strict: the earlier tag wins a tie
            best, best_q = candidate, q
    return best or fallback


@functools.cache
def _asset(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def _t(lang: str) -> dict[str, str]:
    return T.get(lang, T[DEFAULT_LANG])


def _page(lang: str, title: str, body: str, *, kiosk: bool = False, head: str = "") -> str:
    return (
        f'<!doctype html><html lang="{escape(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex"><link rel="icon" href="data:,"><meta name="referrer" content="no-referrer">'
        f"{head}<title>{escape(title)}</title><style>{_asset('form.css')}</style></head>"
        f'<body class="{"kiosk" if kiosk else "web"}">{body}</body></html>'
    )


def form_url(loc: Location, kiosk: bool) -> str:
    """The form's own URL: it posts back to itself, keeping kiosk mode.

    >>> form_url(Location(id="bus-42", name="x"), True)
    '/f/bus-42?kiosk=1'
    """
    return f"/f/{quote(loc.id, safe='')}" + ("?kiosk=1" if kiosk else "")


def _error(field: str, error: ValidationError | None, t: dict[str, str]) -> str:
    if error is None or error.field != field:
        return ""
    return f'<p class="error" id="{field}-error" role="alert">{escape(t["err_" + field])}</p>'


def _scale(loc: Location, lang: str, kiosk: bool, error: ValidationError | None,
           chosen: str) -> str:  # fmt: skip
    t = _t(lang)
    scale = loc.scale if loc.scale in FACE_SCORES else "csat5"
    values = FACE_SCORES[scale] if kiosk else tuple(range(1, 6) if scale == "csat5" else range(11))
    words = t["faces"].split("|")
    buttons = []
    for i, value in enumerate(values):
        checked = " checked" if str(value) == chosen else ""
        if kiosk:
            inner = (f'<span class="face" aria-hidden="true">{FACES[i]}</span>'
                     f'<span class="word">{escape(words[i])}</span>')  # fmt: skip
        else:
            inner = str(value)
        buttons.append(
            f'<input type="radio" class="vh" name="score" id="score-{value}" value="{value}"{checked}>'
            f'<label for="score-{value}">{inner}</label>'
        )
    err = _error("score", error, t)
    described = "score-hint" + (" score-error" if err else "")
    anchors = "" if kiosk else (
        f'<p class="anchors" id="score-hint"><span>{escape(t["lo_" + scale])}</span>'
        f'<span>{escape(t["hi_" + scale])}</span></p>'
    )  # fmt: skip
    question = t["q_" + scale].format(name=loc.name)
    return (
        f'<fieldset class="scale scale-{scale}" aria-describedby="{described}">'
        f"<legend>{escape(question)}</legend>"
        f'<div class="opts">{"".join(buttons)}</div>{anchors}{err}</fieldset>'
    )


def render_form(loc: Location, lang: str, kiosk: bool, error: ValidationError | None = None,
                values: Mapping[str, str] | None = None) -> str:  # fmt: skip
    """The feedback form of `loc`; on `error`, its message sits by the named field.

    `values` (what the customer sent) refills the form after a validation error.
    """
    t = _t(lang)
    values = values or {}
    comment_err = _error("comment", error, t)
    phone_err = _error("phone", error, t)
    other_err = ""
    if error is not None and error.field not in ("score", "comment", "phone"):
        other_err = f'<p class="error" role="alert">{escape(t["err_other"])}</p>'
    comment = (
        f'<div class="field"><label for="comment">{escape(t["comment"])} '
        f'<span class="opt">{escape(t["optional"])}</span></label>'
        f'<textarea id="comment" name="comment" maxlength="1000" rows="3" placeholder=" "'
        f"{_INVALID_COMMENT if comment_err else ''}>"
        f"{escape(values.get('comment', ''))}</textarea>{comment_err}</div>"
    )
    phone = "" if kiosk else (
        f'<div class="field"><label for="phone">{escape(t["phone"])} '
        f'<span class="opt">{escape(t["optional"])}</span></label>'
        f'<input type="tel" id="phone" name="phone" autocomplete="tel" inputmode="tel" '
        f'maxlength="32" value="{escape(values.get("phone", ""))}" '
        f'aria-describedby="phone-note{" phone-error" if phone_err else ""}"'
        f"{_INVALID if phone_err else ''}>"
        f'<p class="note" id="phone-note">{escape(t["phone_note"])}</p>{phone_err}</div>'
    )  # fmt: skip
    body = (
        f'<main class="card"><p class="venue">{escape(loc.name)}</p>{other_err}'
        f'<form method="post" action="{escape(form_url(loc, kiosk))}" accept-charset="utf-8">'
        f"{_scale(loc, lang, kiosk, error, values.get('score', ''))}"
        f'<button type="button" class="linkish" id="more-toggle" hidden>{escape(t["more"])}</button>'
        f'<div class="more" id="more">{comment}{phone}</div>'
        f'<button type="submit" class="send">{escape(t["send"])}</button></form>'
        f'<p class="privacy">{escape(t["privacy"])}</p></main>'
        f"<script>{_asset('form.js')}</script>"
    )
    return _page(lang, loc.name, body, kiosk=kiosk)


def render_thanks(loc: Location, lang: str, ref: str, kiosk: bool) -> str:
    """The thanks page with the reference; in kiosk mode it returns to the form by itself."""
    t = _t(lang)
    head = ""
    again = ""
    if kiosk:
        url = escape(form_url(loc, True))
        head = f'<meta http-equiv="refresh" content="{KIOSK_RESET_S};url={url}">'
        again = (f'<p class="note">{escape(t["reset"])}</p>'
                 f'<p><a class="button" href="{url}">{escape(t["again"])}</a></p>')  # fmt: skip
    ref_html = "" if not ref else (
        f'<p class="ref-label" id="ref-label">{escape(t["ref"])}</p>'
        f'<p class="ref">{escape(ref)}</p>'
        f'<p class="note">{escape(t["ref_note"])}</p>'
    )  # fmt: skip
    body = (
        f'<main class="card thanks"><p class="venue">{escape(loc.name)}</p>'
        f'<div class="tick" aria-hidden="true">✓</div><h1>{escape(t["thanks"])}</h1>'
        f"<p>{escape(t['thanks_body'])}</p>{ref_html}{again}</main>"
    )
    return _page(lang, f"{t['thanks']} · {loc.name}", body, kiosk=kiosk, head=head)


def _message(lang: str, key: str) -> str:
    t = _t(lang)
    body = (f'<main class="card"><h1>{escape(t[key])}</h1>'
            f"<p>{escape(t[key + '_body'])}</p></main>")  # fmt: skip
    return _page(lang, t[key], body)


def not_found(lang: str) -> str:
    """The page for a QR code that names no location."""
    return _message(lang, "not_found")


def too_many(lang: str) -> str:
    """The page for a client over its rate limit (status 429)."""
    return _message(lang, "too_many")


def unavailable(lang: str) -> str:
    """The page when Kafka did not take the feedback (status 503)."""
    return _message(lang, "unavailable")
