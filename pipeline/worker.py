"""`pronto worker`: build the app from the environment and run the Faust worker."""

from __future__ import annotations

import logging
import sys

from pipeline.logs import setup_logging
from pipeline.settings import Settings

logger = logging.getLogger(__name__)


def run_worker(settings: Settings | None = None) -> int:
    import faust

    from pipeline.app import build

    settings = settings or Settings()
    setup_logging(settings.log_level, settings.log_json)
    if not settings.broker:
        print("pronto worker: set PRONTO_BROKER (e.g. kafka://127.0.0.1:9092), "
              "or run `pronto kafka up` first", file=sys.stderr)  # fmt: skip
        return 2
    from pipeline.topics import ensure_topics

    ensure_topics(settings)
    ctx = build(settings)
    worker = faust.Worker(ctx.app, loglevel=settings.log_level.lower(), quiet=True,
                          redirect_stdouts=False, override_logging=False)  # fmt: skip
    logger.info("worker starting: broker %s, web http://%s:%s", settings.broker,
                settings.web_host, settings.web_port)  # fmt: skip
    worker.execute_from_commandline()
    return 0
