"""`python -m pipeline.devtools.score_drain`: the score stage alone, draining a backlog.

A focused measurement for work on the score stage (the full `pronto bench` takes minutes):
N records of the bench's feedback mix wait in `feedback.raw`, then a real worker process
running only the score stage starts on them. It prints one JSON line: feedback/s from the
first scored record to the last, and the score process's CPU milliseconds per feedback (the
figure a busy shared host blurs least). `--code DIR` runs the worker from another source
tree (e.g. an export of the previous commit), so both are measured by the same script;
`--profile S` records the process with py-spy for S seconds into `--out`. `--stages worker`
runs the default worker (its three supervised processes, as `pronto bench` does), and the
CPU per feedback is then given for each process and for the broker it started, and the RSS of
each process at every tenth of the drain (`rss_by_process_trace`): with `--n 1000000`, the
"flat over 1 M messages" of the memory target, measured instead of extrapolated.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
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

WHOLE_WORKER = "worker"


def drain(broker: str, work: Path, n: int, locations: int, profile_s: float,
          out: Path | None, stages: str, extra: dict[str, str],
          broker_pid: int | None = None, profiled: str = "score") -> dict[str, Any]:  # fmt: skip
    bootstrap = broker.split("://", 1)[-1]
    cfg = work / "venues.toml"
    cfg.write_text(env_.venues_toml(locations))
    venues = parse_venues(tomllib.loads(cfg.read_text())).locations
    prefix = f"drain{uuid.uuid4().hex[:6]}-"
    whole = stages == WHOLE_WORKER
    base_env = env_.bench_env(broker, work / "home", cfg, prefix,
                              PRONTO_STAGES="" if whole else stages, **extra)  # fmt: skip
    s = Settings(broker=broker, topic_prefix=prefix, app_id=base_env["PRONTO_APP_ID"])
    ensure_topics(s, PROCESSES if whole else (frozenset(stages.split(",")),))
    pool = load.feedback_pool(venues, base_env["PRONTO_SECRET_KEY"], size=2_000)
    topic = f"{prefix}feedback.raw"
    sent, _ = load.produce(bootstrap, topic, load.records(pool, 0, n, "d"))
    w = env_.WorkerProc(base_env, work / "worker.log")
    offsets = env_.Offsets(bootstrap)
    scored_topic = f"{prefix}feedback.scored"
    r: dict[str, Any] = {"n": sent, "stages": stages}
    try:
        w.start()
        pid = w.stage_pid("score")
        others = {name: w.stage_pid(name) for name in ("web", "alert")} if whole else {}
        if broker_pid:
            others["broker"] = broker_pid
        others_cpu0: dict[str, float] = {}
        first: tuple[float, int, float] | None = None
        version0: float | None = None
        spy: subprocess.Popen[bytes] | None = None
        # Ten minutes, or longer for a long drain (1 M records: `--n 1000000`) at 300/s.
        deadline = time.monotonic() + max(600.0, sent / 300)
        done = 0
        rss: list[tuple[int, float]] = [(0, w.rss_mb())]  # (records scored, MB), each second
        by_process: list[tuple[int, dict[str, float]]] = []  # each tenth of the drain
        last_rss = time.monotonic()
        while time.monotonic() < deadline:
            done = offsets.end(scored_topic)
            if time.monotonic() - last_rss >= 1.0:
                last_rss = time.monotonic()
                rss.append((done, w.rss_mb()))
                if whole and (not by_process or done >= by_process[-1][0] + sent / 10):
                    by_process.append((done, w.rss_by_process()))
            if first is None and done > 0:
                first = (time.monotonic(), done, env_.cpu_seconds(pid))
                others_cpu0 = {k: env_.cpu_seconds(p) for k, p in others.items()}
                version0 = model_version(w.url)
                if profile_s and out is not None:
                    py_spy = str(Path(sys.executable).parent / "py-spy")
                    spy = subprocess.Popen([py_spy, "record", "-d", str(int(profile_s)), "-r",
                                            "100", "-p", str(w.stage_pid(profiled)), "-o", str(out), "--nonblocking",
                                            "-f", "raw" if out.suffix == ".txt" else "flamegraph"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            if done >= sent:
                break
            time.sleep(0.1)
        assert first is not None, "nothing scored"
        t, cpu = time.monotonic(), env_.cpu_seconds(pid)
        took = done - first[1]
        r.update(scored=done, seconds=round(t - first[0], 2),
                 rate=round(took / (t - first[0]), 1),
                 cpu_ms_per_record=round((cpu - first[2]) * 1000 / took, 3),
                 rss_mb=round(w.rss_mb(), 1))  # fmt: skip
        if whole:
            r["rss_by_process_mb"] = w.rss_by_process()
            r["rss_by_process_trace"] = [[n, mb] for n, mb in by_process]
        if others_cpu0:
            r["cpu_ms_per_record_by_process"] = {
                k: round((env_.cpu_seconds(others[k]) - c0) * 1000 / took, 3)
                for k, c0 in others_cpu0.items()
            }
        r.update(rss_trend([*rss, (done, w.rss_mb())]))
        version = model_version(w.url)
        if version is not None and version0 is not None:  # texts the model learned meanwhile
            r["learned"] = int(version - version0)
            r["learned_per_s"] = round((version - version0) / (t - first[0]), 1)
        r["records_by_topic"] = written(offsets, prefix)
        if spy is not None:
            spy.wait(60)
    finally:
        offsets.close()
        w.stop()
    return r


def model_version(url: str) -> float | None:
    """The score stage's `pronto_sentiment_model_version`: one step per text learned."""
    found = [
        v for k, v in env_.scrape(url).items() if k.startswith("pronto_sentiment_model_version")
    ]
    return max(found) if found else None


def written(offsets: env_.Offsets, prefix: str) -> dict[str, int]:
    """Records in each of the run's topics (changelogs included): what each feedback cost
    the broker, in records."""
    topics = sorted(t for t in offsets.topics() if t.startswith(prefix))
    counts = {t.removeprefix(prefix): offsets.end(t) for t in topics}
    return {t: n for t, n in counts.items() if n}


def rss_trend(samples: list[tuple[int, float]]) -> dict[str, Any]:
    """RSS at the start and at each tenth of the drain, and its growth per 100k records fitted
    over the second half (the first holds the warm-up: caches and tables filling).

    >>> rss_trend([(0, 100.0), (0, 120.0), (50, 130.0), (100, 131.0), (150, 132.0)])["rss_trace"]
    [[0, 100.0], [50, 130.0], [100, 131.0], [150, 132.0]]
    """
    from pipeline.devtools import bench_stats as st

    end = samples[-1][0]
    trace: list[list[float]] = []
    for done, mb in samples:
        if not trace or done >= trace[-1][0] + end / 10 or (done == end and trace[-1][0] != end):
            trace.append([done, round(mb, 1)])
    tail = [s for s in samples if s[0] >= end / 2]
    xs, ys = [float(s[0]) for s in tail], [s[1] for s in tail]
    growth = st.slope(xs, ys) * 100_000 if len(tail) >= 2 and xs[-1] > xs[0] else None
    return {
        "rss_start_mb": round(samples[0][1], 1),
        "rss_trace": trace,
        "rss_growth_mb_per_100k_2nd_half": None if growth is None else round(growth, 1),
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="score_drain", description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=60_000)
    p.add_argument("--locations", type=int, default=1_000)
    p.add_argument("--broker", default="", help="kafka://host:port (default: start one)")
    p.add_argument("--code", default="", help="run the worker from this source tree")
    p.add_argument(
        "--stages",
        default="score",
        help=f"the worker's stages, or {WHOLE_WORKER!r}: its default processes",
    )
    p.add_argument("--profile", type=float, default=0.0, help="py-spy seconds")
    p.add_argument("--out", default="", help="py-spy output (.svg, or .txt for raw)")
    p.add_argument(
        "--profile-stage", default="score", help="the stage whose process py-spy records"
    )
    p.add_argument("--env", action="append", default=[], help="PRONTO_X=value for the worker")
    args = p.parse_args(argv)
    if args.code:
        os.environ["PRONTO_BENCH_WORKER_CODE"] = args.code
    work = Path(tempfile.mkdtemp(prefix="score-drain-"))
    kafka = None
    try:
        broker = args.broker
        if not broker:
            jars = Path(os.environ.get("PRONTO_HOME", ".pronto")).resolve()
            kafka = LocalKafka(work, free_port(), name="drain-broker", jars_home=jars)
            broker = f"kafka://{kafka.start()}"
        out = Path(args.out) if args.out else None
        extra = dict(kv.split("=", 1) for kv in args.env)
        r = drain(
            broker,
            work,
            args.n,
            args.locations,
            args.profile,
            out,
            args.stages,
            extra,
            kafka.pid() if kafka is not None else None,
            args.profile_stage,
        )
        r["env"] = extra
        r["code"] = args.code or "this tree"
        print(json.dumps(r), flush=True)
    finally:
        if kafka is not None:
            kafka.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
