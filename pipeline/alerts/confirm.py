"""Asking the customer which they meant, when their score and their words disagree.

```
opened -> confirming --(answer: a complaint)----> opened -> paged -> ... (as any alert)
              |------(answer: not a complaint)--> dismissed
              |------(no answer in CONFIRM_TIMEOUT_S, or no number to ask)--> dismissed
```

The customer is asked once (`conflict_asked`); their next message at that location answers.
`conflict_resolved` records the decision ("paged: ..." or "dismissed: ..."). Only a low score
with clearly happy text, or a bare 4 or 5 alone at an nps10 venue, is asked (see `conflict`):
in our labelled set none of them was a complaint, so silence does not page. A safety keyword
or a clearly negative answer pages at once.

Pure transitions in the style of `lifecycle`, and the question's text (es/en).
"""

from __future__ import annotations

import logging

from pipeline.alerts import lifecycle as lc
from pipeline.alerts.conflict import Conflict, Kind
from pipeline.config import Location

logger = logging.getLogger(__name__)

CONFIRM_TIMEOUT_S = 600.0  # a customer mid-journey answers within minutes or not at all
ASKED = "conflict_asked"
RESOLVED = "conflict_resolved"


def ask(alert: lc.Alert, conflict: Conflict, now: float) -> lc.Result:
    """The question goes out: opened -> confirming.

    >>> a, _ = lc.open_alert("4821", "bus-42", "c", "f1", "low_score", False, now=0.0)
    >>> a, evs = ask(a, Conflict(Kind.LOW_SCORE_HAPPY_TEXT, 2, "nps10", evidence="e"), 1.0)
    >>> a.state, evs[0].kind, evs[0].detail, deadline(a)
    (<State.CONFIRMING: 'confirming'>, 'conflict_asked', 'low_score_happy_text: e', 601.0)
    """
    if alert.state != lc.State.OPENED:
        raise lc.TransitionError(f"alert {alert.ref}: cannot ask when {alert.state}")
    detail = f"{conflict.kind}: {conflict.evidence}"
    return lc._step(alert, now, ASKED, detail, state=lc.State.CONFIRMING)


def asked_at(alert: lc.Alert) -> float:
    """When the question went out (the alert's opening, if the history lacks it)."""
    return next((ts for ts, kind, _ in reversed(alert.history) if kind == ASKED), alert.opened_at)


def deadline(alert: lc.Alert) -> float:
    """When an unanswered question is settled without a page."""
    return asked_at(alert) + CONFIRM_TIMEOUT_S


def settle(alert: lc.Alert, paged: bool, why: str, now: float) -> lc.Result:
    """The conflict is decided: back to `opened`, to be paged, or `dismissed`.

    >>> a, _ = lc.open_alert("4821", "bus-42", "c", "f1", "low_score", False, now=0.0)
    >>> a, _ = ask(a, Conflict(Kind.LOW_SCORE_HAPPY_TEXT, 2, "nps10"), 1.0)
    >>> b, evs = settle(a, False, "no answer in 600 s", 601.0)
    >>> b.state, [(e.kind, e.detail) for e in evs]
    (<State.DISMISSED: 'dismissed'>, [('conflict_resolved', 'dismissed: no answer in 600 s'), ('dismissed', 'conflict')])
    >>> settle(a, True, "answer 2/10", 30.0)[0].state
    <State.OPENED: 'opened'>
    """
    if alert.state != lc.State.CONFIRMING:
        raise lc.TransitionError(f"alert {alert.ref}: no question pending ({alert.state})")
    decision = "paged" if paged else "dismissed"
    alert, events = lc._step(alert, now, RESOLVED, f"{decision}: {why}",
                             state=lc.State.OPENED if paged else lc.State.CONFIRMING)  # fmt: skip
    if paged:
        return alert, events
    alert, more = lc._step(alert, now, "dismissed", "conflict", state=lc.State.DISMISSED)
    return alert, events + more


def _lang(lang: str, default: str) -> str:
    lang = (lang or default or "en")[:2].lower()
    return lang if lang in ("es", "en") else "en"


def question_text(alert: lc.Alert, conflict: Conflict, loc: Location) -> str:
    """The one question, in the customer's language, on the venue's own scale.

    >>> a, _ = lc.open_alert("4821", "bus-42", "c", "f1", "low_score", False, now=0.0, lang="es")
    >>> bus = Location(id="bus-42", name="Línea 42", scale="nps10")
    >>> question_text(a, Conflict(Kind.LOW_SCORE_HAPPY_TEXT, 2, "nps10"), bus)
    'Gracias. Nos dio un 2 de 10, pero su comentario suena positivo. Del 0 al 10, ¿cuánto nos recomendaría? Ref 4821'
    >>> a = a.__class__(**{**a.__dict__, "lang": "en"})
    >>> question_text(a, Conflict(Kind.UNCLEAR_SCALE, 5, "nps10"), bus)
    'Thank you. Did you mean 5 out of 10 or 5 out of 5? From 0 to 10, how likely are you to recommend us? Ref 4821'
    """
    es = _lang(alert.lang, loc.lang) == "es"
    n = conflict.score
    top = 10 if (conflict.scale or loc.scale) == "nps10" else 5
    if loc.scale == "nps10":
        ask_it = ("Del 0 al 10, ¿cuánto nos recomendaría?" if es
                  else "From 0 to 10, how likely are you to recommend us?")  # fmt: skip
    else:
        ask_it = ("Del 1 al 5, ¿cómo fue su experiencia?" if es
                  else "From 1 to 5, how was your experience?")  # fmt: skip
    if conflict.kind == Kind.UNCLEAR_SCALE:
        said = (f"¿Quiso decir {n} de 10 o {n} de 5?" if es
                else f"Did you mean {n} out of 10 or {n} out of 5?")  # fmt: skip
    else:
        said = (f"Nos dio un {n} de {top}, pero su comentario suena positivo." if es
                else f"You gave us {n} out of {top}, but your comment sounds positive.")  # fmt: skip
    thanks = "Gracias." if es else "Thank you."
    return f"{thanks} {said} {ask_it} Ref {alert.ref}"
