"""`pronto worker`: the stages of one worker, each in a process of its own, supervised.

By default it starts three processes (`settings.PROCESSES`): `web` (ingest, the console and the
API, on `PRONTO_WEB_PORT`), `score`, and `alert` (the alert desk and the notify stage). Each is
a Faust app with its own consumer group and fetch loop, so a backlog in one stage never holds
up another, and the two cores are both used. The web process answers /readyz and /metrics for
the whole worker, asking the others on their internal ports (127.0.0.1).

The score process runs at a lower CPU priority (`NICE`), so that on a busy host the kernel
serves ingest and the page path first; it takes it once ready (`pipeline/priority.py`), so
that a restart is not slowed by it. The supervisor (`pipeline/supervisor.py`, which this
process becomes once the topics exist) restarts a process that dies, and Ctrl-C or SIGTERM
stops them all cleanly. `--stages` (or `PRONTO_STAGES`) runs stages apart when
scaling out: `score`, `alert,notify`, `web`, or `all` in one process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from pipeline.kafka_local import free_port
from pipeline.logs import setup_logging
from pipeline.settings import PROCESSES, STAGES, Settings, parse_stages
from pipeline.supervisor import Child, exec_supervisor

logger = logging.getLogger(__name__)

# When the cores are busy the kernel serves ingest and the page path first: scoring is the
# stage built to absorb a backlog, so it runs at a lower CPU priority.
NICE = {"score": 10}
MALLOC_ARENA_MAX = 2
MALLOC_MMAP_THRESHOLD = 1 << 20


def run_worker(settings: Settings | None = None, stages: str | None = None) -> int:
    settings = settings or Settings()
    setup_logging(settings.log_level, settings.log_json)
    if not settings.broker:
        print("pronto worker: set PRONTO_BROKER (e.g. kafka://127.0.0.1:9092), "
              "or run `pronto kafka up` first", file=sys.stderr)  # fmt: skip
        return 2
    try:
        chosen = parse_stages(settings.stages if stages is None else stages)
    except ValueError as e:
        print(f"pronto worker: {e}", file=sys.stderr)
        return 2
    from pipeline.topics import ensure_topics

    if chosen is None:
        ensure_topics(settings, PROCESSES)
        exec_supervisor(child_processes(settings), settings.log_level, settings.log_json)
    if not settings.topics_ready:  # a process of the supervised worker: its topics exist
        ensure_topics(settings, (chosen,))
    return run_stages(settings, chosen)


def run_stages(settings: Settings, stages: frozenset[str]) -> int:
    """Run `stages` in this process: one Faust app, its agents and its web server."""
    sys.setswitchinterval(settings.switch_interval_ms / 1000)
    if settings.event_loop == "uvloop":
        # libuv's loop, through mode's own switch (before any loop exists): the loop's share
        # of each record's CPU time is Faust's, aiokafka's and aiohttp's callbacks and futures.
        import mode.loop

        mode.loop.use("uvloop")
    import faust

    from pipeline import gc_tuning
    from pipeline.app import build, check_tables, start_internal_endpoint

    ctx = build(settings, stages=stages)
    gc_tuning.register(ctx)  # a stage process's own: not in tests that build an app
    check_tables(ctx)
    if "web" not in stages:  # the web stage's routes come with Faust's web server
        start_internal_endpoint(ctx)
    worker = faust.Worker(ctx.app, loglevel=settings.log_level.lower(), quiet=True,
                          redirect_stdouts=False, override_logging=False)  # fmt: skip
    names = ",".join(s for s in STAGES if s in stages)
    logger.info("stages %s starting: broker %s, web http://%s:%s, %s loop", names,
                settings.broker, settings.web_host, settings.web_port,
                type(asyncio.get_event_loop_policy()).__module__.split(".")[0])  # fmt: skip
    worker.execute_from_commandline()
    return 0


def child_processes(settings: Settings) -> list[Child]:
    """One child per stage group of `PROCESSES`, each with the environment it reads its
    settings from."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PRONTO_")}
    base.update(settings_env(settings))
    # glibc gives each thread that allocates an arena of its own (up to 8 per core), and
    # memory freed in one is not reused by another: the executor threads (model snapshots,
    # lingua) and RocksDB's leave RSS behind. Two arenas: the score process alone on a
    # 300k backlog held 318 MB instead of 325, at the same speed. The environment wins.
    base.setdefault("MALLOC_ARENA_MAX", str(MALLOC_ARENA_MAX))
    # And a fixed mmap threshold: glibc's own starts at 128 KiB and rises to the largest block
    # freed, up to 32 MiB, so after the first model save (a pickle of tens of MB) such blocks
    # came from the heap and stayed there: the score process rose about 15 MB at each save,
    # even after `malloc_trim`. At 1 MiB, Kafka's fetch buffers stay in the heap and the saves
    # go back to the system when freed: `score_drain` over 60,000 records ended at 263-265 MB,
    # flat, against 274-302 MB, at the same speed (1,211-1,216/s against 1,196-1,225/s).
    base.setdefault("MALLOC_MMAP_THRESHOLD_", str(MALLOC_MMAP_THRESHOLD))
    ports = {"score": free_port(), "alert": free_port()}
    peers = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in ports.items())
    children = []
    for stages in PROCESSES:
        name = "alert" if "alert" in stages else next(iter(stages))
        env = {**base, "PRONTO_STAGES": ",".join(s for s in STAGES if s in stages)}
        # The topics exist (made above, before exec): the child imports no admin client
        # (kafka-python, about 7 MB that it would hold for its whole life).
        env["PRONTO_TOPICS_READY"] = "true"
        env["PRONTO_NICE_WHEN_READY"] = str(NICE.get(name, 0))
        if name == "web":
            env["PRONTO_PEERS"] = peers
        else:
            env.update(PRONTO_WEB_PORT=str(ports[name]), PRONTO_WEB_HOST="127.0.0.1")
        children.append(Child(name, env))
    return children


def settings_env(settings: Settings) -> dict[str, str]:
    """`settings` as the PRONTO_ environment a child reads them back from (secrets included:
    the environment is where they come from, and the children are ours)."""
    out: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        out[f"PRONTO_{name.upper()}"] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )
    return out
