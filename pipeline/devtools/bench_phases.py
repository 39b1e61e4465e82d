"""The saturation run: a backlog in `feedback.raw`, a worker started on it, and what it shows.

It measures the score stage's drain (records reaching `feedback.scored` a second, once the
first one is there), the pipeline rate (the records the alert rules took a second, from the
commits of their reader of `feedback.scored`), the worker's RSS as it goes (the leak check
fits a line through RSS against messages processed; RSS is the sum over the worker's
processes), the sentiment model's share of the time (from `pronto_model_seconds`), and, with
py-spy installed, the hottest frames of the worker's score process under that load.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.devtools import bench_env as env_
from pipeline.devtools import bench_stats as st

logger = logging.getLogger(__name__)

LEAK_HORIZON = 1_000_000
WARM_UP_SHARE = 0.6  # the leak fit starts past this share of the saturation run's records
SCRAPE_EVERY_S = 5.0  # the worker refreshes its lag gauge every 5 s
EARLY_SAMPLE_S = 0.25  # how often the drain is sampled while the worker starts


@dataclass
class Saturation:
    result: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def hotspots(raw: str, top: int = 8) -> list[dict[str, Any]]:
    """The frames with the most samples *inside* them (inclusive), from py-spy's raw output,
    leaving out the event loop and the worker's entry points that every sample holds.

    >>> raw = "main (a.py:1);run (b.py:2);score (pipeline/s.py:3) 3\\nmain (a.py:1);idle (c.py:9) 1"
    >>> hotspots(raw, 2)
    [{'frame': 'score (pipeline/s.py:3)', 'share': 0.75}, {'frame': 'run (b.py:2)', 'share': 0.75}]
    """
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        total += int(n)
        frames = stack.split(";")
        for f in set(frames):
            incl[f] += int(n)
    common = {f for f, n in incl.items() if n == total}
    plumbing = (
        "asyncio",
        "runpy",
        "threading.py",
        "mode/",
        "pipeline/cli.py",
        "pipeline/worker.py",
        "_execute_actor",
    )  # every sample's frames, not a hotspot
    ranked = [(f, n) for f, n in incl.items()
              if f not in common and not any(p in f for p in plumbing)]  # fmt: skip
    # Ties go to our own code: it is what a fix would change.
    ranked.sort(key=lambda fn: (-fn[1], "pipeline/" not in fn[0], fn[0]))
    return [{"frame": f, "share": round(n / total, 3)} for f, n in ranked[:top]]


def profile(pid: int, seconds: float, out: Path) -> list[dict[str, Any]]:
    """py-spy on the worker for `seconds` (empty if py-spy is missing or not allowed)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return []
    done = subprocess.run([spy, "record", "-d", str(int(seconds)), "-r", "50", "-p", str(pid),
                           "-f", "raw", "-o", str(out), "--nonblocking"],
                          capture_output=True, text=True, timeout=seconds + 30, check=False)  # fmt: skip
    if done.returncode != 0 or not out.exists():
        logger.warning("py-spy failed: %s", done.stderr[-500:])
        return []
    return hotspots(out.read_text())


def saturate(w: env_.WorkerProc, bootstrap: str, prefix: str, backlog: int, window_s: float,
             profile_s: float, work: Path, alert_group: str = "") -> Saturation:  # fmt: skip
    """Start `w` on a backlog of `backlog` records and measure it for at most `window_s`.
    `alert_group`: the group whose commits on `feedback.scored` say how far the alert rules
    are (the alert process's own reader of that topic, `side_feed.py`)."""
    sat = Saturation()
    scored_topic = f"{prefix}feedback.scored"
    offsets = env_.Offsets(bootstrap)
    # The score process works as soon as it is ready, before the worker is: a quick run's
    # backlog can be scored by then, so the drain is sampled from the spawn.
    early: list[tuple[float, int]] = []  # (monotonic, processed)

    def sample_early() -> None:
        if not early or time.monotonic() - early[-1][0] >= EARLY_SAMPLE_S:
            early.append((time.monotonic(), offsets.end(scored_topic)))

    w.start(on_poll=sample_early)
    sat.result["cold_start_s"] = round(w.readiness[-1][0] - w.spawned, 2)
    sat.result["cold_recovery_s"] = round(w.recovery_s(), 2)
    samples: list[tuple[float, int, float]] = []  # (monotonic, processed, rss MB)
    by_process: list[dict[str, float]] = []  # each sample's RSS MB per process
    through: list[tuple[float, float]] = []  # (monotonic, records past the alert rules)
    alerted: list[tuple[float, int]] = []  # (monotonic, records the alert rules committed)
    lag_key = f'pronto_consumer_lag_messages{{reason="{scored_topic}"}}'
    profiled = False
    metrics: dict[str, float] = {}
    score_pid = w.stage_pid("score")
    cpu0: tuple[int, float] | None = None  # (processed, score process CPU seconds)
    try:
        t0 = last_scrape = time.monotonic()
        while time.monotonic() - t0 < window_s:
            done = offsets.end(scored_topic)
            by_process.append(w.rss_by_process())
            samples.append((time.monotonic(), done, sum(by_process[-1].values())))
            if alert_group:
                alerted.append((time.monotonic(), offsets.committed(alert_group, scored_topic)))
            if cpu0 is None and done > 0:
                cpu0 = (done, env_.cpu_seconds(score_pid))
            if time.monotonic() - last_scrape >= SCRAPE_EVERY_S:
                last_scrape = time.monotonic()
                metrics = env_.scrape(w.url)
                lag = metrics.get(lag_key)
                if lag is not None:
                    through.append((last_scrape, done - lag))
                    if done >= backlog and lag == 0:
                        break
            if profile_s and not profiled and done > 0 and w.proc is not None:
                profiled = True
                sat.result["hotspots"] = profile(score_pid, profile_s, work / "profile.txt")
                continue
            time.sleep(0.5)
        metrics = env_.scrape(w.url) or metrics
        # The lag gauge said 0 (it is refreshed every 5 s); the last commit may be on its way.
        settle = time.monotonic() + 5.0
        while alerted and alerted[-1][1] < backlog and time.monotonic() < settle:
            time.sleep(0.25)
            alerted.append((time.monotonic(), offsets.committed(alert_group, scored_topic)))
        if cpu0 is not None:
            # The score process's CPU per record: the figure a busy shared host blurs least.
            took = offsets.end(scored_topic) - cpu0[0]
            cpu_ms = (env_.cpu_seconds(score_pid) - cpu0[1]) * 1000
            sat.result["score_cpu_ms_per_record"] = round(cpu_ms / took, 3) if took > 0 else None
    finally:
        offsets.close()
    busy = [s for s in samples if s[1] > 0] or samples
    started = next((i for i, s in enumerate(samples) if s[1] > 0), 0)
    first, last = samples[max(started - 1, 0)], samples[-1]
    sat.result["score_rate"] = round(st.drain_rate(early + [s[:2] for s in samples]), 1)
    moving = [p for p in through if p[1] > 0]
    # The alert rules are the end of the pipeline: its rate is how fast they consume.
    # (The lag gauge is a few seconds old: a stage that barely moves can read slightly negative.)
    rate = st.rate(moving[-1][1] - moving[0][1], moving[-1][0] - moving[0][0]) if moving else 0.0
    by_lag = round(max(0.0, rate) if moving else sat.result["score_rate"], 1)
    sat.result["pipeline_rate_lag"] = by_lag
    # The same from the alert rules' commits, sampled with the rest (every 0.5 s): the lag
    # gauge moves every 5 s, so a run of 20-30 s read it to within a step of 5 s.
    if alerted and alerted[-1][1] > 0:
        sat.result["pipeline_rate"] = round(st.drain_rate(alerted), 1)
        sat.result["pipeline_rate_source"] = "commits"
    else:  # a worker whose alert rules read through Faust (`PRONTO_SCORED_FEED=false`)
        sat.result["pipeline_rate"] = by_lag
        sat.result["pipeline_rate_source"] = "lag"
    sat.result["processed"] = last[1]
    sat.result["saturation_s"] = round(last[0] - first[0], 1)
    sat.result["alert_stage_lag"] = metrics.get(lag_key)
    # Every process warms up in its first minute, whatever it is given: the score process's
    # caches, memtables and model fill (alone on a 300k backlog it rose 65 MB over the first
    # ~95k records, then 1 MB per 100k), the web process swaps model snapshots. A fit over
    # that warm-up reads as growth, so it covers only the records past `WARM_UP_SHARE` of the
    # run, and the warm-up is reported beside it.
    done_n = busy[-1][1]
    tail = [s for s in busy if s[1] >= done_n * WARM_UP_SHARE]
    tail = tail if len(tail) >= 4 else busy[len(busy) // 2 :] if len(busy) >= 4 else busy
    xs, ys = [float(s[1]) for s in tail], [s[2] for s in tail]
    growth = st.slope(xs, ys) * 100_000
    # The same fit for each process: which one grows.
    rss_at = {s[0]: p for s, p in zip(samples, by_process, strict=True)}
    fitted = [rss_at[s[0]] for s in tail]
    sat.result["rss_growth_by_process_mb_per_100k"] = {
        name: round(st.slope(xs, [f.get(name, 0.0) for f in fitted]) * 100_000, 1)
        for name in fitted[-1]
    }
    sat.result["rss_mb"] = round(ys[-1], 1)
    sat.result["rss_by_process_mb"] = w.rss_by_process()
    # Beside RSS (the target's measure), PSS: shared libraries counted once, not per process.
    pss = w.pss_by_process()
    sat.result["pss_mb"] = round(sum(pss.values()), 1)
    sat.result["pss_by_process_mb"] = pss
    sat.result["rss_growth_mb_per_100k"] = round(growth, 1)
    sat.result["rss_growth_stderr_mb_per_100k"] = round(st.slope_stderr(xs, ys) * 100_000, 1)
    sat.result["rss_warmup_mb"] = round(ys[0] - busy[0][2], 1)
    sat.result["rss_fit_from"] = int(xs[0])
    sat.result["rss_at_1m_mb"] = round(st.extrapolate(xs, ys, LEAK_HORIZON), 1)
    sat.notes.append(
        f"leak check: RSS fitted over messages {int(xs[0]):,}..{int(xs[-1]):,} of the saturation "
        f"run (after a warm-up of {sat.result['rss_warmup_mb']} MB), extrapolated to "
        f"{LEAK_HORIZON:,}: 1 M messages do not fit in the time bound at this rate. Flat within "
        "noise: |growth| under about two of its standard errors."
    )
    model_sum = metrics.get("pronto_model_seconds_sum")
    model_n = metrics.get("pronto_model_seconds_count")
    if model_sum is not None and model_n:
        per = model_sum / model_n
        sat.result["sentiment_ms_per_msg"] = round(per * 1000, 3)
        # Its share of the score stage's time, at the rate that stage ran.
        sat.result["sentiment_share"] = st.finite_or_none(per * sat.result["score_rate"], 3)
    return sat
