"""What a process says about itself: /healthz, /readyz, /metrics, /api/v1/scores and
/api/v1/themes, as (status, content type, body), whichever server carries them.

The web process serves them on aiohttp (through Faust's web server, with the ingest routes and
the console), adding its peers' answers (`routes.py`). The score and alert processes serve only
these, on an internal port, with the standard library (`internal.py`): aiohttp's server would
cost each of them about 13 MB.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline import mirrors

if TYPE_CHECKING:
    from pipeline.app import Pronto

Reply = tuple[int, str, bytes]  # (status, content type, body)
JSON = "application/json"


def json_reply(doc: Any, status: int = 200) -> Reply:
    return status, JSON, json.dumps(doc).encode()


def is_ready(ctx: Pronto) -> tuple[bool, str]:
    """Ready once this process has its partitions, its tables are recovered, the model is
    loaded and the keyed stores have caught up."""
    app = ctx.app
    consumes = bool(ctx.stages & {"score", "alert", "notify"})
    recovery = app.tables.recovery  # type: ignore[attr-defined]
    # Faust keeps `rebalancing` set until the tables are recovered: ask about recovery first,
    # or a long replay reads as a long rebalance.
    if consumes and recovery.in_recovery:
        return False, "recovering tables"
    if app.rebalancing:
        return False, "rebalancing"
    if consumes and not recovery.completed.is_set():
        return False, "joining the group"  # no partitions yet: nothing to recover from
    if consumes and not app.consumer.assignment():
        return False, "no partitions assigned"
    if ctx.stages & {"score", "web"} and not ctx.model_ready:
        return False, "loading the model"
    if "web" in ctx.stages and not ctx.lang_ready:
        return False, "loading the language detector"
    if not mirrors.caught_up(ctx):
        return False, "loading opt-outs and alerts"
    return True, "ready"


async def until_ready(ctx: Pronto, poll_s: float = 0.2) -> None:
    """Return once `is_ready` says so (what a process does once it is ready waits here)."""
    while not is_ready(ctx)[0]:
        await asyncio.sleep(poll_s)


def healthz(ctx: Pronto) -> Reply:
    return json_reply({"status": "ok", "uptime_s": round(time.time() - ctx.started_at, 1)})


def readyz(ctx: Pronto) -> Reply:
    ok, why = is_ready(ctx)
    return json_reply({"ready": ok, "reason": why}, 200 if ok else 503)


def metrics(ctx: Pronto) -> Reply:
    return 200, CONTENT_TYPE_LATEST, generate_latest(ctx.registry)


def scores(ctx: Pronto) -> Reply | None:
    """The score stage's rolling scores (None: no score stage in this process)."""
    if "score" not in ctx.stages:
        return None
    from pipeline.scoring.scores_view import ScoresUnavailable, current_scores

    try:
        return json_reply(current_scores(ctx, time.time()))
    except ScoresUnavailable as e:  # never zeros for scores it cannot read now
        return json_reply({"error": f"scores unavailable: {e}"}, 503)


def themes(ctx: Pronto) -> Reply | None:
    """The score stage's theme counts (None: no score stage in this process)."""
    if "score" not in ctx.stages or ctx.themes is None:
        return None
    from pipeline.scoring.scores_view import ScoresUnavailable

    try:
        return json_reply(ctx.themes.current(time.time()))
    except ScoresUnavailable as e:
        return json_reply({"error": f"themes unavailable: {e}"}, 503)


NO_SCORE_STAGE: Reply = json_reply({"error": "no score stage in this worker"}, 404)

PATHS: dict[str, Callable[[Pronto], Reply | None]] = {
    "/healthz": healthz,
    "/readyz": readyz,
    "/metrics": metrics,
    "/api/v1/scores": scores,
    "/api/v1/themes": themes,
}
