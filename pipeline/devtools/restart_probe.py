"""`python -m pipeline.devtools.restart_probe`: a restart of `pronto worker`, timed, on its own.

The full bench takes about five minutes; this takes one or two. It starts a broker, writes `--keys`
synthetic ids to the score stage's dedupe changelog, puts `--backlog` feedback in
`feedback.raw`, runs a worker on it for `--window` seconds, stops it (SIGTERM, or SIGKILL with
`--kill`), optionally commits the groups' offsets at the end of the inputs as the bench does
(`--skip`), starts the worker again on the same home and prints each process's time to ready,
the consumer groups' states while it waited (polled from the broker), and the broker's
"Preparing to rebalance" lines with their reasons.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import tempfile
import threading
import time
import tomllib
import uuid
from pathlib import Path
from typing import Any

from pipeline.config import parse_venues
from pipeline.devtools import bench_env as env_
from pipeline.devtools import bench_load as load
from pipeline.kafka_local import LocalKafka, free_port
from pipeline.settings import PROCESSES, Settings
from pipeline.topics import ensure_topics


def watch_groups(bootstrap: str, groups: list[str], t0: float, stop: threading.Event,
                 out: list[str]) -> None:  # fmt: skip
    """Append a line each time a group's state or member count changes."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    last: dict[str, str] = {}
    try:
        while not stop.is_set():
            for group, d in admin.describe_groups(groups).items():
                state = d.get("group_state", d.get("state"))
                seen = f"{state} members={len(d.get('members') or ())}"
                if last.get(group) != seen:
                    last[group] = seen
                    out.append(f"{time.monotonic() - t0:7.2f}s {group}: {seen}")
            stop.wait(0.25)
    finally:
        admin.close()


def rebalance_reasons(server_log: Path, since: str) -> list[str]:
    """The broker's rebalance lines logged at or after `since` ("YYYY-mm-dd HH:MM:SS")."""
    pat = re.compile(r"Preparing to rebalance|Stabilized group|Member .* has left|has failed")
    lines = server_log.read_text(errors="replace").splitlines() if server_log.exists() else []
    return [ln for ln in lines if pat.search(ln) and ln[1:20] >= since]


def changelog_records(bootstrap: str, prefix: str) -> dict[str, int]:
    """Records in each table changelog (all partitions, end offsets): what a store that keeps
    no offsets replays on a restart."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        topics = sorted(t for t in consumer.topics() if "changelog" in t and prefix in t)
        out = {}
        for t in topics:
            tps = [TopicPartition(t, p) for p in consumer.partitions_for_topic(t) or ()]
            out[t.split(prefix, 1)[-1]] = sum(consumer.end_offsets(tps).values())
        return out
    finally:
        consumer.close()


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    jars = Path(os.environ.get("PRONTO_HOME", ".pronto")).resolve()
    kafka = LocalKafka(work, free_port(), name="probe-broker", jars_home=jars)
    broker = f"kafka://{kafka.start()}"
    out: dict[str, Any] = {}
    workers: list[env_.WorkerProc] = []
    try:
        bootstrap = broker.split("://", 1)[-1]
        cfg = work / "venues.toml"
        cfg.write_text(env_.venues_toml(args.locations))
        venues = parse_venues(tomllib.loads(cfg.read_text())).locations
        prefix = f"probe{uuid.uuid4().hex[:6]}-"
        env = env_.bench_env(broker, work / "home", cfg, prefix, PRONTO_LOG_LEVEL=args.log_level)
        env.update(kv.split("=", 1) for kv in args.env)  # type: ignore[misc]
        settings = Settings(broker=broker, topic_prefix=prefix, app_id=env["PRONTO_APP_ID"])
        ensure_topics(settings, PROCESSES)
        topic = f"{prefix}feedback.raw"
        changelog = f"{settings.app_id_for(frozenset({'score'}))}-seen-feedback-changelog"
        env_.changelog_keys(bootstrap, changelog, args.keys, time.time())
        pool = load.feedback_pool(venues, env["PRONTO_SECRET_KEY"], size=500)
        load.produce(bootstrap, topic, load.records(pool, 0, args.backlog, "p"))
        a = env_.WorkerProc(env, work / "worker-a.log")
        workers.append(a)
        a.start()
        out["cold_ready_s"] = round(a.readiness[-1][0] - a.spawned, 2)
        time.sleep(args.window)
        t_stop = time.monotonic()
        a.stop(signal.SIGKILL if args.kill else signal.SIGTERM)
        out["stop_s"] = round(time.monotonic() - t_stop, 2)
        groups = [settings.app_id_for(p) for p in PROCESSES]  # Faust's: their states are watched
        if args.skip:
            inputs = [topic, *(f"{prefix}{t}" for t in ("feedback.urgent", "feedback.scored",
                                                        "pages.outbox", "alerts.commands"))]  # fmt: skip
            out["skipped"] = sum(env_.skip_to_end(bootstrap, g, inputs)
                                 for g in settings.consumer_groups(PROCESSES))  # fmt: skip
        out["changelog_records"] = changelog_records(bootstrap, prefix)
        time.sleep(args.pause)
        since = time.strftime("%Y-%m-%d %H:%M:%S")
        b = env_.WorkerProc(env, work / "worker-b.log")
        workers.append(b)
        states: list[str] = []
        stop = threading.Event()
        t0 = time.monotonic()
        watcher = threading.Thread(target=watch_groups, args=(bootstrap, groups, t0, stop, states),
                                   daemon=True)  # fmt: skip
        watcher.start()
        try:
            b.start()
        finally:
            stop.set()
            watcher.join(5)
        out["restart_to_ready_s"] = round(b.readiness[-1][0] - b.spawned, 2)
        # CPU each process spent to get there: on two cores, a start-up is mostly CPU.
        out["cpu_s_by_process"] = {s: round(env_.cpu_seconds(b.stage_pid(s)), 2)
                                   for s in ("web", "score", "alert")}  # fmt: skip
        out["recovery_s"] = round(b.recovery_s(), 2)
        out["ready_by_process_s"] = b.ready_by_process()
        out["timeline"] = b.timeline()
        out["timelines"] = b.timelines()
        out["groups"] = states
        out["broker"] = rebalance_reasons(kafka.dir / "server.log", since)
        out["work"] = str(work)
    finally:
        for w in workers:
            w.stop()
        kafka.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="restart_probe", description=__doc__)
    p.add_argument("--keys", type=int, default=100_000)
    p.add_argument("--backlog", type=int, default=20_000)
    p.add_argument("--locations", type=int, default=1000)
    p.add_argument("--window", type=float, default=20.0, help="seconds the first worker runs")
    p.add_argument("--pause", type=float, default=0.0, help="seconds between stop and start")
    p.add_argument("--kill", action="store_true", help="SIGKILL instead of SIGTERM")
    p.add_argument("--skip", action="store_true", help="commit offsets at the end, as the bench")
    p.add_argument("--log-level", default="WARNING")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--env", action="append", default=[], metavar="K=V",
                   help="a setting for the worker (PRONTO_* from the shell are not passed)")  # fmt: skip
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pronto-probe-"))
    result = run(args, work)
    print(json.dumps(result, indent=1))
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
