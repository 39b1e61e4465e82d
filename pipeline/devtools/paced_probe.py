"""`python -m pipeline.devtools.paced_probe`: CPU per webhook of each process, at a steady rate.

The steady-load figures of `pronto bench` (page p99 at 500/s) are bound by CPU on a 2-core box.
This probe starts a broker, the Twilio stand-in and one worker, sends signed SMS webhooks at
`--rate` for `--seconds`, and prints one JSON line: each process's CPU milliseconds per webhook
over the run (the figure a busy shared host blurs least), the answers' status counts, and
the run's pages timed from the send and from `received_at` (`sent_page_ms`, `page_ms`, as
`pronto bench` reports them), the former also by the copy that opened each alert, where the
pages waited (`page_hops_ms`: to the opening copy, to the outbox, to the API call), and how
far behind the score stage ran (`sent_scored_ms`).
`--profile web|score|alert` records that process with py-spy into `--out` meanwhile (only
the thread holding the GIL: what costs CPU, not what waits).
`--code DIR` runs the worker from another source tree, as `pronto bench --worker-code` does.

It also samples each process's RSS every `RSS_EVERY_S` over the run and fits its growth per
100k webhooks over the second half: run it for minutes (`--rate 400 --seconds 480`: 192,000
webhooks) to see whether memory levels off, past the windows that fill in the bench's short
saturation run (ingest's two minutes of recent ids).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import uuid
from pathlib import Path
from typing import Any

from pipeline.config import parse_venues
from pipeline.devtools import bench_env as env_
from pipeline.devtools import bench_latency as lat
from pipeline.devtools import bench_load as load
from pipeline.devtools import bench_stats as st
from pipeline.devtools.bench import ACCOUNT_SID
from pipeline.devtools.bench_phases import hotspots
from pipeline.devtools.twilio_standin import TwilioStandin
from pipeline.kafka_local import LocalKafka, free_port
from pipeline.settings import PROCESSES, Settings
from pipeline.topics import ensure_topics

PROCESS_NAMES = ("web", "score", "alert")
RSS_EVERY_S = 5.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler(threading.Thread):
    """Each process's RSS every `RSS_EVERY_S` while the webhooks go out, against how many
    were due by then (`rate` x seconds)."""

    def __init__(self, worker: env_.WorkerProc, rate: float) -> None:
        super().__init__(daemon=True)
        self.worker, self.rate = worker, rate
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        while not self._halt.wait(RSS_EVERY_S):
            self.samples.append(((time.monotonic() - t0) * self.rate, self.worker.rss_by_process()))

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def summary(self) -> dict[str, Any]:
        """RSS at the start, the middle and the end, and each process's fitted growth per
        100k webhooks over the second half (with its standard error)."""
        if len(self.samples) < 8:
            return {}
        half = self.samples[len(self.samples) // 2 :]
        xs = [x for x, _ in half]
        names = list(half[-1][1])
        growth, stderr = {}, {}
        for name in names:
            ys = [by.get(name, 0.0) for _, by in half]
            growth[name] = round(st.slope(xs, ys) * 100_000, 1)
            stderr[name] = round(st.slope_stderr(xs, ys) * 100_000, 1)
        marks = (self.samples[0], self.samples[len(self.samples) // 2], self.samples[-1])
        return {
            "rss_mb_at": {str(int(x)): round(sum(by.values()), 1) for x, by in marks},
            "rss_by_process_mb_at": {str(int(x)): by for x, by in marks},
            "rss_growth_2nd_half_mb_per_100k": growth,
            "rss_growth_2nd_half_stderr": stderr,
        }


def page_latency(bootstrap: str, prefix: str, standin: TwilioStandin,
                 run: load.HttpRun) -> dict[str, Any]:  # fmt: skip
    """Send -> page call of the run's complaints, and webhook received -> page call (`pronto
    bench`'s `sent_page_ms` and `page_ms`): the page path at this rate, in a minute rather than
    a whole bench."""
    outbox_records = lat.read_all(bootstrap, f"{prefix}pages.outbox")
    outbox = lat.outbox_messages(outbox_records)
    events = lat.outbox_messages(lat.read_all(bootstrap, f"{prefix}alerts.events"))
    matched = lat.page_calls(outbox, standin.recorded())
    opened = lat.page_feedback(matched, lat.opening_feedback(events))
    pairs = lat.sent_page_pairs(opened, run.sent_at)
    received = [m.latency_s for m in matched if run.started <= m.received_at <= run.ended]
    # Which copy opened each alert: the fast path's (ingest's triage) or only the scored one
    # (the score stage's model judged it negative, the edge's older snapshot did not).
    urgent = lat.first_written(lat.read_all(bootstrap, f"{prefix}feedback.urgent"), "feedback.id")
    scored = lat.first_written(lat.read_all(bootstrap, f"{prefix}feedback.scored"), "feedback.id")
    by_path: dict[str, list[float]] = {"edge": [], "score_only": []}
    for fid, secs in pairs:
        by_path["edge" if fid in urgent else "score_only"].append(secs)
    # Where each page waited: webhook received -> the copy that opened its alert written (by
    # ingest, or by the score stage), -> its page written to the outbox (the alert desk), ->
    # the page's API call (the notify stage).
    paged = lat.first_written(outbox_records, "page_id")
    hops: dict[str, list[float]] = {"to_opening_copy": [], "to_outbox": [], "to_call": []}
    for pc, fid in opened:
        copy_at = urgent.get(fid) or scored.get(fid)
        if copy_at is not None and pc.page_id in paged:
            hops["to_opening_copy"].append(copy_at - pc.received_at)
            hops["to_outbox"].append(paged[pc.page_id] - copy_at)
            hops["to_call"].append(pc.called_at - paged[pc.page_id])
    # And how far behind the score stage ran: send -> scored record, for every webhook.
    score_lag = [scored[fid] - at for fid, at in run.sent_at.items() if fid in scored]
    return {"sent_page_ms": st.summarize_ms([secs for _, secs in pairs]),
            "page_ms": st.summarize_ms(received),
            "sent_page_ms_by_path": {k: st.summarize_ms(v) for k, v in by_path.items()},
            "page_hops_ms": {k: st.summarize_ms(v) for k, v in hops.items()},
            "sent_scored_ms": st.summarize_ms(score_lag)}  # fmt: skip


def probe(work: Path, rate: float, seconds: float, locations: int, profile: str | None,
          out: Path | None, extra: dict[str, str], warmup_s: float = 3.0) -> dict[str, Any]:  # fmt: skip
    standin = TwilioStandin(work / "twilio-standin", 300)
    standin.start()
    jars = Path(os.environ.get("PRONTO_HOME", ".pronto")).resolve()
    kafka = LocalKafka(work, free_port(), name="probe-broker", jars_home=jars)
    broker = f"kafka://{kafka.start()}"
    w: env_.WorkerProc | None = None
    try:
        cfg = work / "venues.toml"
        cfg.write_text(env_.venues_toml(locations))
        venues = parse_venues(tomllib.loads(cfg.read_text())).locations
        prefix = f"probe{uuid.uuid4().hex[:6]}-"
        base_env = env_.bench_env(broker, work / "home", cfg, prefix,
                                  PRONTO_TWILIO_API_BASE=standin.base_url,
                                  PRONTO_TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                                  PRONTO_TWILIO_FROM="+34910000099", **extra)  # fmt: skip
        s = Settings(broker=broker, topic_prefix=prefix, app_id=base_env["PRONTO_APP_ID"])
        ensure_topics(s, PROCESSES)
        w = env_.WorkerProc(base_env, work / "worker.log")
        w.start()
        # A warm-up, so that first-call costs (imports, caches, the broker's JIT compiler,
        # which alone takes about half a core for its first minute) are not counted.
        asyncio.run(load.paced_webhooks(w.url, venues, min(rate, 100), warmup_s, 90, seed=9))
        time.sleep(2)
        pids = {name: w.stage_pid(name) for name in PROCESS_NAMES}
        # The rest of the box, which shares the two cores with the worker in every bench.
        others = {"sender": os.getpid(), "twilio_standin": standin.pid, "broker": kafka.pid()}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        before_others = {name: cpu_seconds(pid) for name, pid in others.items() if pid}
        spy = None
        if profile:
            exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            spy = subprocess.Popen([exe, "record", "-d", str(int(seconds)), "-r", "100", "-p",
                                    str(pids[profile]), "-f", "raw", "-o", str(out),
                                    "--nonblocking", "--gil"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        sampler = RssSampler(w, rate)
        sampler.start()
        run = asyncio.run(load.paced_webhooks(w.url, venues, rate, seconds, 91, seed=10))
        sampler.stop()
        time.sleep(3)  # the stages finish what the last webhooks started
        used = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        used_others = {name: cpu_seconds(pid) - before_others[name]
                       for name, pid in others.items() if pid}  # fmt: skip
        r: dict[str, Any] = {
            "rate": rate, "seconds": seconds, "sent": run.sent, "ok": run.ok,
            "errors": run.errors, "behind_s": round(run.behind_s, 3),
            "cpu_ms_per_webhook": {n: round(1000 * c / max(run.sent, 1), 3)
                                   for n, c in used.items()},
            "cpu_ms_per_webhook_total": round(1000 * sum(used.values()) / max(run.sent, 1), 3),
            "box_cpu_ms_per_webhook": {n: round(1000 * c / max(run.sent, 1), 3)
                                       for n, c in used_others.items()},
            **sampler.summary(),
        }  # fmt: skip
        r.update(page_latency(kafka.bootstrap, prefix, standin, run))
        stats = standin.stats()
        r["twilio_calls"] = {"calls": stats["calls"], "max_in_flight": stats["max_in_flight"]}
        if spy is not None and out is not None:
            spy.wait(timeout=seconds + 60)
            r["profile"] = {"process": profile, "out": str(out),
                            "hotspots": hotspots(out.read_text(), 12) if out.exists() else []}  # fmt: skip
        return r
    finally:
        if w is not None:
            w.stop()
        kafka.stop()
        standin.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.devtools.paced_probe")
    p.add_argument("--rate", type=float, default=500.0, help="webhooks a second")
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--warmup", type=float, default=3.0, help="seconds at up to 100/s before")
    p.add_argument("--locations", type=int, default=1000)
    p.add_argument("--profile", choices=PROCESS_NAMES, help="py-spy this process meanwhile")
    p.add_argument("--out", type=Path, default=Path("paced-probe.raw"))
    p.add_argument("--code", type=Path, help="run the worker from this source tree")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="K=V",
        help="a setting for the worker (PRONTO_* from the shell are not passed)",
    )
    args = p.parse_args(argv)
    if args.code:
        os.environ["PRONTO_BENCH_WORKER_CODE"] = str(args.code.resolve())
    with tempfile.TemporaryDirectory(prefix="pronto-probe-") as tmp:
        extra = dict(kv.split("=", 1) for kv in args.env)
        r = probe(Path(tmp), args.rate, args.seconds, args.locations, args.profile,
                  args.out.resolve(), extra, args.warmup)  # fmt: skip
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
