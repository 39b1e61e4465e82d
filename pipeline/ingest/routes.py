"""Mount the ingest endpoints on the worker's aiohttp router."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pipeline.ingest.service import Ingest
from pipeline.ingest.sms import SmsWebhook
from pipeline.ingest.web import WebIntake

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)


def ingest_of(ctx: Pronto) -> Ingest:
    """The worker's one `Ingest` (created on first use)."""
    if ctx.ingest is None:
        ctx.ingest = Ingest(ctx)
    return ctx.ingest


def register(ctx: Pronto, router: Any) -> None:
    ingest = ingest_of(ctx)
    sms = SmsWebhook(ctx, ingest)
    web = WebIntake(ctx, ingest)
    router.add_post("/sms/inbound", sms.inbound)
    router.add_post("/sms/status", sms.status)
    router.add_get("/f/{location_id}", web.form)
    router.add_post("/f/{location_id}", web.submit_form)
    router.add_post("/api/v1/feedback", web.api)


def register_tasks(ctx: Pronto) -> None:
    """Warm the language detector before the first customer waits for it."""

    @ctx.app.task
    async def warm_up_language_detector() -> None:
        # Building lingua's models takes seconds: do it before the first customer waits for it.
        import asyncio

        from pipeline.ingest.lang import warm_up

        await asyncio.get_running_loop().run_in_executor(None, warm_up)
        ctx.lang_ready = True
