"""Short SMS answers of the ingest stage: case status, and replies to supervisors."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

_STATE_ES = {
    "opened": "recibida, avisando al responsable", "paged": "el responsable ha sido avisado",
    "escalated": "avisado el siguiente responsable", "acknowledged": "alguien va de camino",
    "resolved": "resuelta, esperando su valoración", "followed_up": "cerrada",
    "expired": "cerrada sin respuesta", "dismissed": "cerrada",
    "confirming": "esperando su respuesta a nuestra pregunta",
}  # fmt: skip
_STATE_EN = {
    "opened": "received, telling the person on duty", "paged": "the person on duty has been told",
    "escalated": "the next person on duty has been told", "acknowledged": "someone is on the way",
    "resolved": "resolved, waiting for your rating", "followed_up": "closed",
    "expired": "closed without an answer", "dismissed": "closed",
    "confirming": "waiting for your answer to our question",
}  # fmt: skip


def status_reply(ref: str, summary: dict[str, Any] | None, lang: str) -> str:
    """The answer to "STATUS <ref>".

    >>> status_reply("4821", {"state": "acknowledged", "acked_by": "Ana"}, "es")
    'Ref 4821: alguien va de camino (Ana).'
    >>> status_reply("XXXX", None, "en")
    'Ref XXXX: we have your feedback; there is no open case for it.'
    """
    es = lang == "es"
    if summary is None:
        return (f"Ref {ref}: tenemos su opinión; no hay ningún caso abierto." if es
                else f"Ref {ref}: we have your feedback; there is no open case for it.")  # fmt: skip
    state = str(summary.get("state", ""))
    text = (_STATE_ES if es else _STATE_EN).get(state, state)
    who = f" ({summary['acked_by']})" if summary.get("acked_by") and state == "acknowledged" else ""
    return f"Ref {ref}: {text}{who}."


def supervisor_help(lang: str) -> str:
    """What a supervisor can reply.

    >>> supervisor_help("en")
    'Pronto: reply OK <ref> to take it, DONE <ref> when fixed, NC <ref> if not a complaint.'
    """
    if lang == "es":
        return "Pronto: responda OK <ref> para atenderlo, RESUELTO <ref> al terminar, NC <ref> si no es queja."
    return "Pronto: reply OK <ref> to take it, DONE <ref> when fixed, NC <ref> if not a complaint."


def supervisor_confirm(action: str, ref: str, lang: str) -> str:
    """The confirmation of a supervisor's reply.

    >>> supervisor_confirm("ack", "4821", "es")
    'Pronto: 4821 es suyo. Avisamos al cliente.'
    """
    es = lang == "es"
    texts = {
        "ack": (
            "Pronto: 4821 es suyo. Avisamos al cliente.",
            "Pronto: 4821 is yours. We told the customer.",
        ),
        "resolve": ("Pronto: 4821 resuelto. Gracias.", "Pronto: 4821 resolved. Thank you."),
        "not_complaint": (
            "Pronto: 4821 cerrado como no queja.",
            "Pronto: 4821 closed as not a complaint.",
        ),
    }
    es_text, en_text = texts.get(action, texts["ack"])
    return (es_text if es else en_text).replace("4821", ref)


def unknown_location_ack(lang: str, ref: str) -> str:
    """The acknowledgement when we could not tell where the customer is."""
    if lang == "es":
        return f"Gracias por su opinión. Ref {ref}. Indique el código del lugar (p. ej. B42) al inicio."
    return f"Thank you for your feedback. Ref {ref}. Start your message with the place code (e.g. B42)."
