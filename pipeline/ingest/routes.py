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
    """Warm the language detector before the first customer waits for it, and keep a snapshot
    of the sentiment model for triage (refreshed when the score stage saves a newer one)."""

    @ctx.app.task
    async def keep_model_snapshot() -> None:
        import asyncio

        from pipeline.memory import release_free_memory
        from pipeline.model_store import latest_offsets, load_snapshot

        loaded_at: tuple[str, int] = ("", -1)
        while True:
            try:
                model_end, snapshot_end = await latest_offsets(ctx.settings)
                # What `load_snapshot` reads: a published snapshot once there is one.
                source = ("snapshot", snapshot_end) if snapshot_end else ("model", model_end)
                if source != loaded_at:
                    snapshot = await load_snapshot(ctx.settings)
                    ctx.snapshot, loaded_at = snapshot, source
                    ctx.metrics.triage_model_version.set(snapshot.version)
                    del snapshot
                    release_free_memory()  # the replaced snapshot and the record's bytes
            except Exception as e:  # Kafka away: keep the snapshot we have, try again later
                logger.warning("model snapshot not refreshed: %r", e)
            await asyncio.sleep(
                ctx.settings.snapshot_refresh_s if ctx.snapshot is not None else 2.0
            )

    @ctx.app.task
    async def warm_up_language_detector() -> None:
        # Building lingua's models takes seconds: do it before the first customer waits for it.
        import asyncio

        from pipeline.ingest.lang import warm_up

        await asyncio.get_running_loop().run_in_executor(None, warm_up)
        ctx.lang_ready = True
