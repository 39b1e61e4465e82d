"""`pronto bench [--quick] [--json] [--md]`: throughput, latency, memory and recovery, one run.

It starts its own Kafka (unless `PRONTO_BROKER` is set) and a Twilio API stand-in that takes
`--twilio-latency-ms` (300 ms) per call, as the real API does, gives every run topics of its
own, and drives real `pronto worker` processes: one for the saturation run (console pages),
then a restart of it (same group, same changelogs) paging through the stand-in, for recovery,
webhook -> page latency at steady loads, a burst of complaints, and complaints behind a
backlog of ordinary feedback. Every load is bounded and targets 127.0.0.1 only. (Prism, which
checks the requests against Twilio's contract, is for the contract tests: it answers at once.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import tomllib
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Location, parse_venues
from pipeline.devtools import bench_complaints as cx
from pipeline.devtools import bench_env as env_
from pipeline.devtools import bench_latency as lat
from pipeline.devtools import bench_load as load
from pipeline.devtools import bench_stats as st
from pipeline.devtools.bench_phases import saturate
from pipeline.devtools.bench_report import markdown, targets
from pipeline.devtools.bench_themes import themes_cost
from pipeline.devtools.twilio_standin import DEFAULT_LATENCY_MS, TwilioStandin
from pipeline.kafka_local import LocalKafka, free_port
from pipeline.records import Feedback
from pipeline.settings import PROCESSES, Settings
from pipeline.topics import ensure_topics, partition_of

logger = logging.getLogger(__name__)

ACCOUNT_SID = "AC" + "be0c4" * 6 + "ab"


@dataclass(frozen=True)
class Plan:
    """How big each measurement is; `--quick` scales everything down."""

    locations: int = 1000
    # Records waiting in feedback.raw before the worker starts. 150,000 put the leak fit past
    # the score process's warm-up (~95k records), but the restart phase then recovers 250k
    # keys instead of 160k (alert process 8 -> 17 s): `score_drain --n 300000` is the long run.
    presend: int = 60_000
    window_s: float = 75.0  # the saturation run stops after this, done or not
    pool: int = 2_000
    recovery_keys: int = 100_000
    loads: tuple[tuple[float, float], ...] = ((100, 20), (500, 15), (1000, 10))  # (rate, s)
    drain_s: float = 30.0  # the most a load waits for the worker to catch up
    burst: int = 20  # complaints at as many venues at once
    backlog: int = 30_000  # ordinary feedback produced to feedback.raw at once...
    backlog_complaints: int = 20  # ...then complaints at as many venues, while it drains
    complaint_gap_s: float = 0.3
    backlog_drain_s: float = 240.0  # the most the backlog phase waits for the score stage
    page_wait_s: float = 20.0  # the most a complaint phase waits for its pages
    settle_s: float = 30.0  # the most a phase waits for the pages of the one before
    ingest_s: float = 10.0
    profile_s: float = 10.0


FULL = Plan()
QUICK = Plan(presend=3_000, window_s=10.0, pool=300, recovery_keys=10_000,
             loads=((100, 4), (500, 2), (1000, 2)), drain_s=12.0, burst=5, backlog=1_000,
             backlog_complaints=5, backlog_drain_s=20.0, page_wait_s=10.0, settle_s=8.0,
             ingest_s=3.0, profile_s=0.0)  # fmt: skip


def run(plan: Plan, work: Path, broker: str = "",
        twilio_latency_ms: float = DEFAULT_LATENCY_MS) -> dict[str, Any]:  # fmt: skip
    """Run every measurement; return the result dict (also when a target is missed)."""
    t_start = time.monotonic()
    r: dict[str, Any] = {"quick": plan is QUICK, "host": {"cpus": os.cpu_count(),
                         "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}}  # fmt: skip
    notes: list[str] = []
    kafka: LocalKafka | None = None
    standin = TwilioStandin(work / "twilio-standin", twilio_latency_ms)
    workers: list[env_.WorkerProc] = []
    with ThreadPoolExecutor(2) as pool:
        standin_up = pool.submit(standin.start)
        if not broker:
            jars = Path(os.environ.get("PRONTO_HOME", ".pronto")).resolve()
            kafka = LocalKafka(work, free_port(), name="bench-broker", jars_home=jars)
            broker = f"kafka://{kafka.start()}"
        standin_up.result()
    try:
        bootstrap = broker.split("://", 1)[-1]
        cfg = work / "venues.toml"
        cfg.write_text(env_.venues_toml(plan.locations))
        venues = parse_venues(tomllib.loads(cfg.read_text())).locations
        prefix = f"bench{uuid.uuid4().hex[:6]}-"
        base_env = env_.bench_env(broker, work / "home", cfg, prefix)
        worker = Settings(broker=broker, topic_prefix=prefix, app_id=base_env["PRONTO_APP_ID"])
        ensure_topics(worker, PROCESSES)
        topic = f"{prefix}feedback.raw"
        fb_pool = load.feedback_pool(venues, base_env["PRONTO_SECRET_KEY"], size=plan.pool)
        n, secs = load.produce(bootstrap, topic, load.records(fb_pool, 0, plan.presend, "a"))
        r["presend"] = {"records": n, "produce_rate": round(st.rate(n, secs))}
        raw_s = load.raw_read_aiokafka(bootstrap, topic, n)
        r["raw_rate"] = st.finite_or_none(st.rate(n, raw_s), 0)
        r["themes"] = themes_cost(venues, [Feedback.from_dict(d) for d in fb_pool])
        r["themes_us_per_msg"] = r["themes"]["median_us"]
        r["raw_rate_kafka_python"] = st.finite_or_none(
            st.rate(n, load.raw_read_kafka_python(bootstrap, topic, n)), 0
        )
        # The dedupe table's changelog holds `recovery_keys` ids before the first start: the
        # cold start replays them all, the restart (2.) only what the local store lacks.
        changelog = f"{worker.app_id_for(frozenset({'score'}))}-seen-feedback-changelog"
        env_.changelog_keys(bootstrap, changelog, plan.recovery_keys, time.time())
        # 1. Saturation: the backlog is there before the worker starts.
        a = env_.WorkerProc(base_env, work / "worker-a.log")
        workers.append(a)
        sat = saturate(a, bootstrap, prefix, n, plan.window_s, plan.profile_s, work,
                       worker.side_group("scored"))  # fmt: skip
        r.update(sat.result)
        ratio = st.rate(r["pipeline_rate"], r["raw_rate"] or 0.0)
        r["pipeline_over_raw"] = round(ratio, 4) if r["raw_rate"] else None
        notes += sat.notes
        a.stop()
        # 2. Restart: the same group rebuilds its tables from the changelogs.
        # Each process of the worker is a consumer group of its own (Settings.app_id_for).
        outbox = f"{prefix}pages.outbox"
        inputs = [topic, f"{prefix}feedback.urgent", f"{prefix}feedback.scored", outbox,
                  f"{prefix}alerts.commands"]  # fmt: skip
        skipped = sum(
            env_.skip_to_end(bootstrap, g, inputs) for g in worker.consumer_groups(PROCESSES)
        )
        outbox_base = end_offset(bootstrap, outbox)  # worker a's console pages
        r["recovery_keys"] = plan.recovery_keys + sat.result.get("processed", 0)
        b_env = {**base_env, "PRONTO_TWILIO_API_BASE": standin.base_url,
                 "PRONTO_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "PRONTO_TWILIO_FROM": "+34910000099"}  # fmt: skip
        b = env_.WorkerProc(b_env, work / "worker-b.log")
        workers.append(b)
        b.start()
        r["recovery_s"] = round(b.recovery_s(), 2)
        r["restart_timeline"] = b.timeline()
        r["restart_timeline_by_process"] = b.timelines()
        r["restart_to_ready_s"] = round(b.readiness[-1][0] - b.spawned, 2)
        r["restart_ready_by_process_s"] = b.ready_by_process()
        r["cold_recovery_s"] = sat.result.get("cold_recovery_s")
        r["recovery_checked"] = duplicate_probe(b, bootstrap, topic, fb_pool, worker.partitions)
        notes.append(f"recovery: {plan.recovery_keys:,} synthetic ids written to {changelog} "
                     "before the first start, plus the saturation run's own; the restart keeps "
                     f"its PRONTO_HOME; {skipped:,} backlog records skipped before the restart so "
                     "the latency loads start on fresh traffic")  # fmt: skip
        # 3. Latency at steady loads, a burst of complaints, complaints behind a backlog, then
        # HTTP ingest flat out. The complaint phases have venues of their own (see
        # bench_complaints), and each starts once Twilio was called for every earlier page.
        reserved = plan.burst + plan.backlog_complaints
        busy, spare = venues[: len(venues) - reserved], venues[len(venues) - reserved :]
        steady = steady_loads(plan, b, bootstrap, prefix, busy)
        settled = {"burst": cx.settle(standin, bootstrap, outbox, outbox_base, plan.settle_s)}
        burst = cx.burst(b, standin, spare[: plan.burst], len(plan.loads) + 1, plan.page_wait_s)
        settled["backlog"] = cx.settle(standin, bootstrap, outbox, outbox_base, plan.settle_s)
        ordinary = load.feedback_pool(busy, base_env["PRONTO_SECRET_KEY"], seed=5,
                                      size=plan.pool, ordinary=True)  # fmt: skip
        behind = cx.backlog(b, standin, bootstrap, prefix, ordinary, plan.backlog,
                            spare[plan.burst :], plan.complaint_gap_s, len(plan.loads) + 2,
                            plan.backlog_drain_s, plan.page_wait_s)  # fmt: skip
        ingest = asyncio.run(load.flat_out_webhooks(b.url, venues, plan.ingest_s, 90, 7))
        r["ingest_rps"] = round(st.rate(ingest.ok, ingest.ended - ingest.started), 1)
        r["ingest_errors"] = ingest.errors
        # 4. Every page matched to its Twilio call, once all of them are in.
        outbox_msgs = lat.outbox_messages(lat.read_all(bootstrap, outbox))
        calls = standin.recorded()
        r["latency"], r["latency_page_ms"], r["latency_scored_ms"] = latency(
            steady,
            outbox_msgs,
            calls,
            lat.read_all(bootstrap, f"{prefix}feedback.scored"),
            lat.outbox_messages(lat.read_all(bootstrap, f"{prefix}alerts.events")),
        )
        matched = lat.page_calls(outbox_msgs, calls)
        r["twilio_latency_ms"] = twilio_latency_ms
        r["page_latency"] = {
            "steady": steady_pages(steady, outbox_msgs, matched),
            "backlog_30k": cx.figures(behind, matched),
            "burst_20": cx.figures(burst, matched, cx.BURST_WITHIN_S),
        }
        stats = standin.stats()
        r["twilio_calls"] = {"calls": stats["calls"], "messages": stats["posts"],
                             "max_in_flight": stats["max_in_flight"], "settle_s": settled}  # fmt: skip
    finally:
        for w in workers:
            w.stop()
        standin.stop()
        if kafka is not None:
            kafka.stop()
    r["host"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    r["elapsed_s"] = round(time.monotonic() - t_start, 1)
    r["limits"] = limits(r)
    r["targets"] = {k: t.to_dict() for k, t in targets(r).items()}
    r["notes"] = notes
    return r


def end_offset(bootstrap: str, topic: str) -> int:
    """Records in `topic` now."""
    offsets = env_.Offsets(bootstrap)
    try:
        return offsets.end(topic)
    finally:
        offsets.close()


def duplicate_probe(w: env_.WorkerProc, bootstrap: str, topic: str,
                    pool: Sequence[dict[str, Any]], partitions: int) -> bool:  # fmt: skip
    """Proof that the rebuilt table holds the synthetic ids: the first one is refused as a
    duplicate. It is sent for a location of the partition its mark is in (the first): the
    score stage looks an id up in its record's partition, as a retry of a real feedback (same
    sender, same location) is."""
    sample = next(d for d in pool if partition_of(str(d["location_id"]), partitions) == 0)
    d = {**sample, "id": "sms-benchkey000000000", "received_at": time.time()}
    load.produce(bootstrap, topic, iter([(str(d["location_id"]).encode(), json.dumps(d).encode())]))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        m = env_.scrape(w.url)
        if m.get('pronto_feedback_rejected_total{reason="duplicate"}', 0) >= 1:
            return True
        time.sleep(0.5)
    return False


@dataclass(frozen=True)
class Steady:
    """One steady load: its rate, what it sent, and whether the score stage caught up."""

    rate: float
    run: load.HttpRun
    drained: bool


def steady_loads(plan: Plan, w: env_.WorkerProc, bootstrap: str, prefix: str,
                 venues: Sequence[Location]) -> list[Steady]:  # fmt: skip
    """Paced webhooks at each load, each followed by a wait for the score stage."""
    offsets = env_.Offsets(bootstrap)
    scored_topic = f"{prefix}feedback.scored"
    runs = []
    try:
        for phase, (rate, secs) in enumerate(plan.loads):
            before = offsets.end(scored_topic)
            run_ = asyncio.run(load.paced_webhooks(w.url, venues, rate, secs, phase + 1, phase))
            deadline = time.monotonic() + plan.drain_s
            while offsets.end(scored_topic) < before + run_.ok and time.monotonic() < deadline:
                time.sleep(0.25)
            time.sleep(1.0)  # the alert and notify stages follow the score stage
            runs.append(Steady(rate, run_, offsets.end(scored_topic) >= before + run_.ok))
    finally:
        offsets.close()
    return runs


def latency(steady: list[Steady], outbox: list[dict[str, Any]], calls: list[dict[str, Any]],
            scored: list[tuple[int, bytes]], events: list[dict[str, Any]],
            ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:  # fmt: skip
    """Per load: pages and scored records matched to their webhooks. `page_ms` runs from the
    worker's `received_at`, `sent_page_ms` from the moment the sender wrote the webhook."""
    out: dict[str, Any] = {}
    matched = lat.page_calls(outbox, calls)
    opened_by = lat.opening_feedback(events)
    for s in steady:
        run_ = s.run
        pages = lat.page_latencies(outbox, calls, run_.started, run_.ended)
        from_send = lat.sent_page_latencies(matched, opened_by, run_.sent_at)
        done = lat.scored_latencies(scored, run_.started, run_.ended)
        out[str(int(s.rate))] = {
            "sent": run_.sent, "ok": run_.ok, "errors": run_.errors, "drained": s.drained,
            "sender_behind_s": round(run_.behind_s, 3),
            "achieved_rate": round(st.rate(run_.sent, run_.ended - run_.started), 1),
            # The rate offered (over the sending), and how long the last answer took after it.
            "offered_rate": round(st.rate(run_.sent, run_.sent_until - run_.started), 1),
            "last_answer_after_s": round(max(0.0, run_.ended - run_.sent_until), 3),
            "page_ms": st.summarize_ms(pages), "sent_page_ms": st.summarize_ms(from_send),
            "scored_ms": st.summarize_ms(done),
        }  # fmt: skip
    at500 = out.get("500", next(iter(out.values()), {}))
    return out, at500.get("page_ms", {}), at500.get("scored_ms", {})


def steady_pages(steady: list[Steady], outbox: list[dict[str, Any]],
                 matched: list[lat.PageCall]) -> dict[str, Any]:  # fmt: skip
    """Webhook -> page call at each steady load, with how many complaints the mix sent and
    how many first pages the alert stage wrote (a complaint that joins a recent alert at its
    venue is in that alert's burst and has no page of its own)."""
    out: dict[str, Any] = {}
    for s in steady:
        lo, hi = s.run.started, s.run.ended
        secs = [m.latency_s for m in matched if lo <= m.received_at <= hi]
        wrote = lat.pages_in(outbox, lo, hi)
        out[str(int(s.rate))] = {**st.summarize_ms(secs, st.PAGE_QS),
                                 "complaints_sent": s.run.complaints, "pages": wrote,
                                 "pages_per_s": round(st.rate(wrote, hi - lo), 1),
                                 "not_called": wrote - len(secs), "ok": s.run.ok,
                                 "sent": s.run.sent}  # fmt: skip
    return out


def limits(r: dict[str, Any]) -> dict[str, str]:
    """What limits each figure, in words, from what was measured."""
    share = r.get("sentiment_share")
    lag = r.get("alert_stage_lag")
    cpu = f"{r['host']['cpus']} CPUs, load {r['host']['load_avg_at_start'][0]} at start"
    sentiment = f"sentiment {share:.0%} of the time" if share is not None else "sentiment n/a"
    ms = float(r.get("twilio_latency_ms") or 0.0)
    steady = (r.get("page_latency") or {}).get("steady", {}).values()
    peak = max((float(d.get("pages_per_s") or 0.0) for d in steady), default=0.0)
    hot = ", ".join(h["frame"].split(" (")[0] for h in r.get("hotspots", [])[:3])
    return {
        "pipeline": f"one Python event loop, CPU-bound: {sentiment} of the score stage; "
        f"alert stage {lag} records behind at the end; per feedback the score process still "
        f"consumes one record and produces one (the scored record, in a Kafka batch) plus one per "
        f"location per batch; top frames: {hot or 'n/a'}; {cpu}",
        "latency": f"a Twilio API of {ms:g} ms a call: {peak:g} pages/s at the busiest load "
        f"keep {peak * ms / 1000:.0f} calls in flight on average, and Twilio saw at most "
        f"{(r.get('twilio_calls') or {}).get('max_in_flight')} at once; ordinary feedback "
        "queues once the load exceeds the score stage's rate (complaints skip it)",
        "rss": f"{_by_process(r)}; each stage process holds Python, Faust and the Kafka clients "
        "(65-75 MB after start), the score process river with its model and RocksDB, the web "
        "process lingua's trigram models and the model's snapshot; 1,000 locations' tables",
        "recovery": "the score process's tables are in RocksDB and read only the changelogs' "
        "tail; the alert process's are in memory (a local store could run ahead of the pages "
        f"sent) and replay every changelog record from offset 0; {_last_ready(r)}",
    }


def _by_process(r: dict[str, Any]) -> str:
    """The RSS of each process of the worker, largest first.

    >>> _by_process({"rss_by_process_mb": {"web": 120.4, "score": 230.0, "supervisor": 19.3}})
    'score 230 MB, web 120 MB, supervisor 19 MB'
    """
    by = r.get("rss_by_process_mb") or {}
    return ", ".join(f"{k} {v:.0f} MB" for k, v in sorted(by.items(), key=lambda kv: -kv[1]))


def _last_ready(r: dict[str, Any]) -> str:
    """Which process of the restarted worker was ready last, and when.

    >>> _last_ready({"restart_ready_by_process_s": {"web": 9.0, "score": 7.0, "alert,notify": 8.9}})
    'last ready: alert,notify at 8.9 s'
    """
    by = r.get("restart_ready_by_process_s") or {}
    last = max(((v, k) for k, v in by.items() if k != "web" and v is not None), default=None)
    return f"last ready: {last[1]} at {last[0]} s" if last else "last ready: n/a"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pronto bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a scaled-down smoke run (< 2 min)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--md", action="store_true", help="print a Markdown table")
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    p.add_argument(
        "--twilio-latency-ms",
        type=float,
        default=DEFAULT_LATENCY_MS,
        help="how long the Twilio stand-in takes per API call (default %(default)g)",
    )
    p.add_argument(
        "--worker-code",
        default="",
        help="run the workers from this source tree (another checkout, e.g. the previous "
        "release), measured by this bench",
    )
    p.add_argument("--env", action="append", default=[], metavar="K=V",
                   help="a setting for the workers, e.g. PRONTO_EVENT_LOOP=asyncio")  # fmt: skip
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    """`pronto bench ...`: JSON and/or Markdown on stdout; progress on stderr."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    broker = Settings().broker
    if args.worker_code:
        os.environ["PRONTO_BENCH_WORKER_CODE"] = args.worker_code
        result_code = {"worker_code": args.worker_code}
    else:
        result_code = {}
    if args.env:
        worker_env = dict(kv.split("=", 1) for kv in args.env)
        os.environ["PRONTO_BENCH_WORKER_ENV"] = json.dumps(worker_env)
        result_code["worker_env"] = worker_env
    tmp = tempfile.mkdtemp(prefix="pronto-bench-")
    try:
        result = run(QUICK if args.quick else FULL, Path(tmp), broker, args.twilio_latency_ms)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    result.update(result_code)
    if args.keep:
        result["work_dir"] = tmp
    if args.json or not args.md:
        print(json.dumps(result))
    if args.md:
        print(markdown(result))
    return 0
