"""The HTML of the supervisor console and its login page, and what an alert shows of itself.

Pure: plain dicts in, escaped HTML out. The page is complete without JavaScript (each action
is a small form, and a `<noscript>` refresh keeps it current); `console.js` makes it live.
The same card markup is built by `console.js`: keep the two in step.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

from pipeline.web.console_themes import render_control, render_panel

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
PROMISE_S = 60.0  # "from hell to heaven in sixty seconds": the clock on every card
CLOSED_STATES = frozenset({"resolved", "followed_up", "expired"})
DISMISSED_VISIBLE_S = 3600.0  # a dismissed alert stays an hour, so "it was a complaint" can undo
PUBLIC_FIELDS = (
    "ref", "location_id", "state", "reason", "urgent", "text", "score", "scale", "p_negative",
    "opened_at", "acked_at", "acked_by", "resolved_by", "level", "lang", "channel", "recipients",
    "feedback_ref", "themes",
)  # fmt: skip
KEPT_FIELDS = (*PUBLIC_FIELDS, "history")  # `last_change` reads the history
STATE_LABELS = {
    "opened": "New", "paged": "Paged", "escalated": "Escalated", "acknowledged": "Acknowledged",
    "dismissed": "Not a complaint", "resolved": "Resolved", "followed_up": "Followed up",
    "expired": "Expired", "confirming": "Asking the customer",
}  # fmt: skip
URGENT_BADGE = '<span class="badge urgent">Urgent</span>'
ACTIONS = (("ack", "Ack"), ("resolve", "Resolve"), ("not-complaint", "Not a complaint"))


def last_change(alert: dict[str, Any]) -> float:
    """When the alert last changed: its newest history entry, else when it was opened."""
    times = [float(h[0]) for h in alert.get("history") or () if h]
    return max(times, default=float(alert.get("opened_at") or 0.0))


def is_listed(alert: dict[str, Any], now: float) -> bool:
    """Whether the console lists the alert: open, or dismissed within the last hour.

    >>> is_listed({"state": "paged"}, 0.0), is_listed({"state": "resolved"}, 0.0)
    (True, False)
    >>> is_listed({"state": "dismissed", "opened_at": 0.0}, now=4000.0)
    False
    """
    state = alert.get("state", "")
    if state in CLOSED_STATES:
        return False
    return state != "dismissed" or now - last_change(alert) < DISMISSED_VISIBLE_S


def kept_alert(alert: dict[str, Any]) -> dict[str, Any]:
    """What the web process keeps of an alert in its index (a week of them): what the console
    shows and sorts by. Not the customer's hash or encrypted number, nor the desk's
    bookkeeping: about half the memory of the whole alert.

    >>> kept_alert({"ref": "4821", "contact": "gAAAA...", "history": [[1.0, "paged", ""]]})
    {'ref': '4821', 'history': [[1.0, 'paged', '']]}
    """
    return {k: alert[k] for k in KEPT_FIELDS if k in alert}


def public_alert(alert: dict[str, Any], location_name: str = "") -> dict[str, Any]:
    """What the console may see of an alert: no customer hash, no encrypted number."""
    out = {k: alert.get(k) for k in PUBLIC_FIELDS}
    out["location"] = location_name or alert.get("location_id", "")
    out["updated_at"] = last_change(alert)
    return out


def _asset_url(name: str) -> str:
    digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]
    return f"/static/{name}?v={digest}"


def fmt_age(seconds: float) -> str:
    """`m:ss`, or `h:mm:ss` past an hour.

    >>> fmt_age(5), fmt_age(65.9), fmt_age(3725)
    ('0:05', '1:05', '1:02:05')
    """
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _shell(title: str, body: str, head: str = "") -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex"><link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="{_asset_url("console.css")}">{head}'
        f"<title>{escape(title)}</title></head>{body}</html>"
    )


def render_login(csrf: str, error: str = "", name: str = "") -> str:
    """The console login form: supervisor name and token."""
    err = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        '<body class="login"><main class="login-card"><h1>Pronto</h1>'
        "<p>Supervisor console</p>"
        f'<form method="post" action="/login">{err}'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<label for="name">Name</label>'
        f'<input id="name" name="name" autocomplete="username" required value="{escape(name)}">'
        '<label for="token">Token</label>'
        '<input id="token" name="token" type="password" autocomplete="current-password" required>'
        '<button type="submit" class="primary">Log in</button></form></main></body>'
    )
    return _shell("Log in · Pronto", body)


def _timer(alert: dict[str, Any], now: float) -> str:
    opened = float(alert.get("opened_at") or now)
    acked = alert.get("acked_at")
    if acked:
        took = float(acked) - opened
        late = " late" if took > PROMISE_S else " kept"
        return f'<span class="timer{late}">acked in {fmt_age(took)}</span>'
    late = " late" if now - opened > PROMISE_S else ""
    return f'<span class="timer{late}" role="timer">{fmt_age(now - opened)}</span>'


def _fact(label: str, value: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f"<div><dt>{escape(label)}</dt><dd{c}>{escape(value)}</dd></div>"


def _fref(alert: dict[str, Any]) -> str:
    # The customer was given the feedback's reference: show it so a caller can be matched.
    fref = str(alert.get("feedback_ref", ""))
    return (
        f' <span class="ref fref" title="customer reference">{escape(fref)}</span>' if fref else ""
    )


def render_card(alert: dict[str, Any], csrf: str, now: float, choices: Iterable[str] = ()) -> str:
    """One alert as a card with its action buttons and its themes (`alert` as from
    `public_alert`; `choices`: the themes its venue knows)."""
    ref = str(alert.get("ref", ""))
    state = str(alert.get("state", ""))
    urgent = bool(alert.get("urgent"))
    facts = []
    if alert.get("score") is not None:
        top = 10 if alert.get("scale") == "nps10" else 5
        facts.append(_fact("Score", f"{alert['score']}/{top}"))
    if alert.get("p_negative") is not None:
        p = float(alert["p_negative"])
        facts.append(_fact("Sentiment", f"{round(100 * p)}% negative", "neg" if p >= 0.5 else ""))
    facts.append(_fact("Reason", str(alert.get("reason", ""))))
    if alert.get("acked_by"):
        facts.append(_fact("Acked by", str(alert["acked_by"])))
    actions = [("was-complaint", "It was a complaint")] if state == "dismissed" else [
        a for a in ACTIONS if not (a[0] == "ack" and state == "acknowledged")
    ]  # fmt: skip
    buttons = "".join(
        f'<form method="post" class="act" action="/api/v1/alerts/{escape(ref)}/{verb}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<button type="submit" class="btn-{verb}">{label}</button></form>'
        for verb, label in actions
    )
    text = str(alert.get("text") or "")
    quote = (
        f'<p class="text">{escape(text)}</p>' if text else '<p class="text none">(no comment)</p>'
    )
    return (
        f'<li class="alert st-{escape(state)}{" urgent" if urgent else ""}" id="alert-{escape(ref)}" '
        f'data-ref="{escape(ref)}">'
        f'<div class="head">{_timer(alert, now)}'
        f'<span class="badge">{escape(STATE_LABELS.get(state, state))}</span>'
        f"{URGENT_BADGE if urgent else ''}"
        f'<span class="loc">{escape(str(alert.get("location", "")))}</span>'
        f'<span class="ref">#{escape(ref)}</span>{_fref(alert)}</div>'
        f'{quote}<dl class="facts">{"".join(facts)}</dl>'
        f'<div class="actions">{buttons}</div>{render_control(alert, csrf, choices)}</li>'
    )


def render_console(name: str, csrf: str, alerts: list[dict[str, Any]],
                   locations: dict[str, str], now: float,
                   choices: dict[str, tuple[str, ...]] | None = None) -> str:  # fmt: skip
    """The whole console page: header, the open alerts, and the (script-filled) score and
    theme panels. `choices`: location -> the themes a supervisor can pick there."""
    choices = choices or {}
    cards = "".join(render_card(a, csrf, now, choices.get(a.get("location_id", ""), ()))
                    for a in alerts)  # fmt: skip
    head = (
        f'<meta name="csrf-token" content="{escape(csrf)}">'
        f'<script src="{_asset_url("console_themes.js")}" defer></script>'
        f'<script src="{_asset_url("console.js")}" defer></script>'
        '<noscript><meta http-equiv="refresh" content="15"></noscript>'
    )
    body = (
        f'<body class="console" data-now="{now:.3f}" data-promise="{PROMISE_S:g}" '
        f'data-locations="{escape(json.dumps(locations, ensure_ascii=False))}">'
        '<header class="top"><h1>Pronto</h1>'
        '<span id="live" class="live off" aria-live="polite">offline</span>'
        f'<span class="who">{escape(name)}</span>'
        '<form method="post" action="/logout">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<button type="submit" class="ghost">Log out</button></form></header>'
        '<main class="layout"><section class="alerts" aria-labelledby="alerts-h">'
        f'<h2 id="alerts-h">Open alerts <span id="count" class="count">{len(alerts)}</span></h2>'
        f'<p id="empty" class="empty"{"" if not alerts else " hidden"}>'
        "No open alerts. Every customer is fine.</p>"
        f'<ol id="alerts" class="alert-list">{cards}</ol></section>'
        '<aside class="scores" aria-labelledby="scores-h"><h2 id="scores-h">Live scores</h2>'
        '<div id="scores"><noscript><p><a href="/api/v1/scores">Scores (JSON)</a></p></noscript>'
        f"</div>{render_panel(choices)}</aside></main>"
        '<div id="toast" class="toast" role="status" aria-live="polite"></div></body>'
    )
    return _shell("Pronto console", body, head)
