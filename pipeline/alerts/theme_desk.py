"""The desk's part in themes: a supervisor changes what an alert is about.

Pure, like `desk`: the console's command comes in, the changed alert and a `themes_corrected`
event (ref, location, themes before and after, who) go out. The event carries the customer's
text and language, so that the agent can teach the tagger at once (`learnable`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pipeline.alerts import desk
from pipeline.alerts import lifecycle as lc
from pipeline.alerts.rules import TREND_REASONS
from pipeline.config import Location
from pipeline.themes.venue import CORRECTED

logger = logging.getLogger(__name__)

COMMAND = "set_themes"
EVENT = CORRECTED  # learned at once by both taggers: the alert stage's and the score stage's


def clean(themes: Any, allowed: Iterable[str]) -> tuple[str, ...] | None:
    """The themes of a command that are among `allowed`, sorted; None if it is not a list.

    >>> clean(["wait", "food", "<b>", "food"], ("food", "wait", "noise"))
    ('food', 'wait')
    >>> clean("food", ("food",)) is None
    True
    """
    if not isinstance(themes, list | tuple):
        return None
    ok = set(allowed)
    return tuple(sorted({t for t in themes if isinstance(t, str) and t in ok}))


def on_set_themes(book: desk.Book, loc: Location, cmd: dict[str, Any], now: float,
                  allowed: Iterable[str]) -> desk.Outputs:  # fmt: skip
    """`{"type": "set_themes", "ref", "themes": [...], "by"}`: the alert's themes become those
    (the ones the location knows); nothing happens if they are already, or the alert is gone."""
    out = desk.Outputs()
    ref = str(cmd.get("ref", ""))
    alert = book.alert(ref)
    after = clean(cmd.get("themes"), allowed)
    if alert is None or after is None:
        logger.info("themes command ignored", extra={"ref": ref})
        return out
    by = str(cmd.get("by", ""))
    before = alert.themes
    alert, events = lc.set_themes(alert, after, by, now)
    if events:
        desk.emit(out, alert, events, before=list(before), after=list(after), by=by,
                   channel=cmd.get("channel", ""), **learnable(alert))  # fmt: skip
    return out


def learnable(alert: lc.Alert) -> dict[str, Any]:
    """What the tagger learns from a correction: the customer's words (none for a trend alert,
    whose text is ours)."""
    if alert.reason in TREND_REASONS or not alert.text:
        return {}
    return {"text": alert.text, "lang": alert.lang}
