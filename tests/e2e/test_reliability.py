"""Issue 10: nothing accepted is lost and nobody is paged twice, whatever fails.

Real Kafka, real `pronto worker` processes, SIGKILL. Each test prints what it measured (run
with `-s` to see it): accepted, scored by id, duplicates, table counts against the expected
ones, complaints against pages, and the timings.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pipeline.kafka_local import LocalKafka
from pipeline.records import Feedback
from tests.support.http import post_sms, request, sms_params
from tests.support.kafka import Worker, start_broker, worker_env
from tests.support.reliability import (
    SUPERVISORS,
    TwilioLog,
    expected_counts,
    first_pages,
    get_json,
    is_complaint,
    make_load,
    merged_counts,
    opened_alerts,
    page_covering,
    page_id_of,
    produce_steady,
    reliability_env,
    spill_table_drift,
    stored_feedback,
    topic_values,
    wait_scored,
    write_venues,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SEED = 20240610


def report(name: str, figures: dict[str, Any]) -> None:
    print(f"\n[{name}] " + json.dumps(figures, sort_keys=True))


def wait_pages(twilio: TwilioLog, bootstrap: str, prefix: str, complaints: set[str],
               timeout_s: float, quiet_s: float = 6.0) -> None:  # fmt: skip
    """Wait until every complaint's alert is open and the page covering it has gone out
    (bursts are paged 30 s after their leader), then `quiet_s` more with nothing new: the
    room a duplicate needs to show up."""
    deadline = time.monotonic() + timeout_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = len(twilio.sent())
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > quiet_s:
            opened = opened_alerts(bootstrap, f"{prefix}alerts.events")
            sent = first_pages(twilio)
            if all(f in opened and all(page_covering(r, b) in sent for r, b in opened[f].items())
                   for f in complaints):  # fmt: skip
                return
        time.sleep(1.0)


def check_pages(bootstrap: str, prefix: str, twilio: TwilioLog,
                complaints: set[str]) -> dict[str, Any]:  # fmt: skip
    """Every complaint opened one alert, and the page that covers it (its own first page, or
    the grouped page of the burst it joined) went out exactly once; no message went twice."""
    opened = opened_alerts(bootstrap, f"{prefix}alerts.events")
    pages = first_pages(twilio)
    by_id = Counter(page_id_of(m["body"]) for m in twilio.sent())
    covering = {f: {page_covering(r, b) for r, b in opened.get(f, {}).items()} for f in complaints}
    figures = {
        "complaints": len(complaints),
        "alerts_opened_for_complaints": sum(1 for f in complaints if f in opened),
        "complaints_with_two_alerts": sorted(f for f in complaints if len(opened.get(f, {})) > 1),
        "complaints_paged_alone": sum(1 for c in covering.values() if any("-p0" in p for p in c)),
        "complaints_in_bursts": sum(1 for c in covering.values() if any("-g0" in p for p in c)),
        "first_pages_sent": sum(pages.values()),
        "first_pages_distinct": len(pages),
        "messages_sent_twice": sorted(p for p, n in by_id.items() if n > 1),
        "alerts_for_non_complaints": sorted(set(opened) - complaints)[:10],
        "complaints_without_page": sorted(
            f for f, c in covering.items() if not c or any(pages.get(p) != 1 for p in c))[:10],
    }  # fmt: skip
    return figures


def assert_pages_exact(figures: dict[str, Any]) -> None:
    assert figures["alerts_opened_for_complaints"] == figures["complaints"], figures
    assert figures["complaints_with_two_alerts"] == [], figures
    assert figures["complaints_without_page"] == [], figures
    assert figures["messages_sent_twice"] == [], figures
    assert figures["alerts_for_non_complaints"] == [], figures


def http_load(url: str, locations: list[tuple[str, str]], n: int, stop: threading.Event,
              accepted: list[Feedback], rng: random.Random) -> None:  # fmt: skip
    """POST /api/v1/feedback with an Idempotency-Key, retried until 201 as a client would:
    a retry after a lost answer must not count twice."""
    for i in range(n):
        loc_id, scale = locations[i % len(locations)]
        bad = rng.random() < 0.15
        score = (rng.randint(0, 6) if bad else rng.randint(7, 10)) if scale == "nps10" else (
            rng.randint(1, 2) if bad else rng.randint(4, 5))  # fmt: skip
        key = f"http-{SEED}-{i:04d}"
        body = {"location_id": loc_id, "score": score, "comment": "via la API",
                "phone": f"+3462{i:07d}"}  # fmt: skip
        while True:
            try:
                status, _ = request("POST", f"{url}/api/v1/feedback", body,
                                    {"Idempotency-Key": key})  # fmt: skip
            except OSError:
                status = 0
            if status == 201:
                accepted.append(Feedback(id=f"api-{key}", received_at=0.0, channel="api",
                                         location_id=loc_id, score=score, scale=scale))  # fmt: skip
                break
            if stop.is_set():
                return
            time.sleep(0.3)
        time.sleep(0.25)


def test_sigkill_five_times_under_load_loses_nothing_and_pages_once(
    make_worker: Any, bootstrap: str, twilio: TwilioLog, tmp_path: Path
) -> None:
    t0 = time.monotonic()
    locations = write_venues(tmp_path / "venues.toml", 8)
    env = worker_env(bootstrap, tmp_path / "home", PRONTO_PARTITIONS="8",
                     **reliability_env(twilio, tmp_path / "venues.toml"))  # fmt: skip
    prefix = env["PRONTO_TOPIC_PREFIX"]
    w: Worker = make_worker(env)
    started_s = time.monotonic() - t0
    load = make_load(5000, locations, 0.15, SEED)
    accepted: list[Feedback] = []
    http_accepted: list[Feedback] = []
    stop = threading.Event()

    def kafka_load() -> None:
        accepted.extend(produce_steady(bootstrap, f"{prefix}feedback.raw", load, rate_per_s=60))

    threads = [threading.Thread(target=kafka_load),
               threading.Thread(target=http_load, args=(w.url, locations, 150, stop,
                                                        http_accepted, random.Random(SEED)))]  # fmt: skip
    for t in threads:
        t.start()
    rng = random.Random(SEED)
    kills: list[dict[str, float]] = []
    for _ in range(5):
        time.sleep(rng.uniform(2.0, 9.0))
        at = time.monotonic() - t0
        w.kill()
        w.start()
        kills.append(
            {"killed_at_s": round(at, 1), "back_in_s": round(time.monotonic() - t0 - at, 1)}
        )
    threads[0].join()
    load_done_s = time.monotonic() - t0
    stop.set()
    threads[1].join(timeout=60)
    # What a request was told is not all that was stored: a worker killed after Kafka's ack
    # and before its answer stored a record that the client saw fail (and retried).
    everything = stored_feedback(bootstrap, f"{prefix}feedback.raw")
    accepted_ids = {fb.id for fb in accepted + http_accepted}
    wanted = {fb.id for fb in everything}
    ids = wait_scored(bootstrap, f"{prefix}feedback.scored", wanted, timeout_s=150)
    caught_up_s = time.monotonic() - t0
    complaints = {fb.id for fb in everything if is_complaint(fb)}
    wait_pages(twilio, bootstrap, prefix, complaints, timeout_s=90)
    counts, _ = merged_counts([w.url], "15m")
    expected = expected_counts(everything)
    pages = check_pages(bootstrap, prefix, twilio, complaints)
    dup = Counter(ids)
    figures = {
        "accepted_kafka": len(accepted),
        "accepted_http": len(http_accepted),
        "accepted_missing_from_raw": len(accepted_ids - wanted),
        "stored": len(wanted),
        "scored_distinct": len(set(ids) & wanted),
        "missing_from_scored": len(wanted - set(ids)),
        "scored_records": len(ids),
        "scored_duplicates": sum(n - 1 for n in dup.values() if n > 1),
        "table_n": counts,
        "expected_n": expected,
        "kills": kills,
        "worker_start_s": round(started_s, 1),
        "load_done_s": round(load_done_s, 1),
        "caught_up_s": round(caught_up_s, 1),
        "total_s": round(time.monotonic() - t0, 1),
        **pages,
    }
    missing = wanted - set(ids)
    if missing:  # where did they go: marked seen by the dedupe table, yet never scored?
        figures["missing_sample"] = sorted(missing)[:5]
        figures["missing_in_seen_changelog"] = changelog_has(
            bootstrap, f"{env['PRONTO_APP_ID']}-seen-feedback-changelog", missing)  # fmt: skip
        figures["raw_lag"] = group_lag(bootstrap, env["PRONTO_APP_ID"], f"{prefix}feedback.raw")
        figures["worker_alive"] = w.proc is not None and w.proc.poll() is None
    # The alert process's tables, kept across the five kills, hold exactly a prefix of their
    # changelogs: never a write whose changelog record a kill lost.
    app_id = env["PRONTO_APP_ID"]
    tabledir = tmp_path / "home" / "faust" / app_id / "v1" / "tables"
    figures["spill_tables"] = drift = [
        spill_table_drift(bootstrap, tabledir, app_id, table, raw_values=table == "alerts")
        for table in ("alerts", "alerts-open-index", "sent-pages")
    ]
    report("crash", figures)
    assert all(d["partitions"] and d["keys"] and not d["differ"] for d in drift), drift
    assert len(accepted) == 5000
    assert accepted_ids <= wanted, figures
    assert wanted <= set(ids), figures
    assert counts == expected, figures
    assert_pages_exact(pages)


def test_broker_outage_gets_503_never_200_and_catches_up_alone(
    make_worker: Any, twilio: TwilioLog, tmp_path: Path
) -> None:
    broker: LocalKafka = start_broker(tmp_path / "outage-kafka")
    try:
        _outage(make_worker, broker, twilio, tmp_path)
    finally:
        broker.stop()


def _outage(make_worker: Any, broker: LocalKafka, twilio: TwilioLog, tmp_path: Path) -> None:
    locations = [loc for loc in write_venues(tmp_path / "venues.toml", 4) if loc[1] == "nps10"]
    env = worker_env(broker.bootstrap, tmp_path / "home", PRONTO_INGEST_TIMEOUT_S="2",
                     **reliability_env(twilio, tmp_path / "venues.toml"))  # fmt: skip
    prefix = env["PRONTO_TOPIC_PREFIX"]
    w: Worker = make_worker(env)
    numbers = {loc_id: f"+3491{int(loc_id[-2:]):07d}" for loc_id, _ in locations}
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    stop = threading.Event()
    t0 = time.monotonic()

    def one(i: int) -> None:
        loc_id = locations[i % len(locations)][0]
        sid = f"SM{SEED:08d}{i:024d}"
        sent = time.monotonic() - t0
        try:
            status, _ = post_sms(w.url, sms_params(sid, f"+3463{i:07d}", numbers[loc_id],
                                                   "Un 9 de 10, muy puntual"))  # fmt: skip
        except OSError as e:
            status = -1
            print("webhook failed:", e)
        with lock:
            results.append({"i": i, "fid": f"sms-{sid}", "loc": loc_id, "status": status,
                            "sent": sent, "answered": time.monotonic() - t0})  # fmt: skip

    def load() -> None:
        with ThreadPoolExecutor(4) as pool:
            i = 0
            while not stop.is_set():
                pool.submit(one, i)
                i += 1
                time.sleep(0.1)

    loader = threading.Thread(target=load)
    loader.start()
    time.sleep(5)
    down_begin = time.monotonic() - t0
    broker.stop()
    down_done = time.monotonic() - t0
    time.sleep(10)
    assert w.proc is not None and w.proc.poll() is None, "the worker died with the broker"
    up_begin = time.monotonic() - t0
    broker.start()
    up_done = time.monotonic() - t0
    # Recovery is the worker's own business: nobody restarts or touches it.
    deadline = time.monotonic() + 90
    first_ok_after = None
    while time.monotonic() < deadline and first_ok_after is None:
        with lock:
            oks = [r for r in results if r["status"] == 200 and r["sent"] > up_done]
        if oks:
            first_ok_after = min(r["answered"] for r in oks) - up_done
        time.sleep(0.5)
    time.sleep(5)
    stop.set()
    loader.join()
    during = [r for r in results if r["sent"] >= down_done and r["answered"] <= up_begin]
    accepted = [r for r in results if r["status"] == 200]
    wanted = {r["fid"] for r in accepted}
    ids = wait_scored(broker.bootstrap, f"{prefix}feedback.scored", wanted, timeout_s=90)
    counts, _ = merged_counts([w.url], "15m")
    # A 503 says "not acknowledged", not "not stored": the producer may still deliver the
    # record once the broker is back. A client retries with the same id, which is stored once.
    stored = {json.loads(v)["id"]: json.loads(v)["location_id"]
              for v in topic_values(broker.bootstrap, f"{prefix}feedback.raw")}  # fmt: skip
    expected = dict(Counter(stored.values()))
    refused = {r["fid"] for r in results if r["status"] == 503}
    figures = {
        "requests": len(results),
        "status": dict(Counter(str(r["status"]) for r in results)),
        "during_outage": dict(Counter(str(r["status"]) for r in during)),
        "accepted": len(accepted),
        "accepted_missing_from_scored": len(wanted - set(ids)),
        "accepted_missing_from_raw": len(wanted - set(stored)),
        "refused_503_yet_stored": len(refused & set(stored)),
        "stored_missing_from_scored": len(set(stored) - set(ids)),
        "scored_duplicates": len(ids) - len(set(ids)),
        "table_n": counts,
        "expected_n": expected,
        "broker_stop_s": round(down_done - down_begin, 1),
        "broker_start_s": round(up_done - up_begin, 1),
        "first_200_after_restart_s": first_ok_after and round(first_ok_after, 1),
    }
    report("outage", figures)
    assert during and all(r["status"] == 503 for r in during), figures
    assert not [r for r in results if r["status"] not in (200, 503)], figures
    assert first_ok_after is not None, figures
    assert wanted <= set(stored) and set(stored) <= set(ids), figures
    assert counts == expected, figures


def test_scale_out_three_workers_kill_one_moves_partitions_and_state(
    make_worker: Any, bootstrap: str, twilio: TwilioLog, tmp_path: Path
) -> None:
    t0 = time.monotonic()
    locations = write_venues(tmp_path / "venues.toml", 16)
    workers, prefix = worker_group(bootstrap, twilio, tmp_path, 3)
    try:
        _scale_out(workers, bootstrap, twilio, locations, prefix, t0)
    finally:
        for w in workers:
            w.stop()


def worker_group(bootstrap: str, twilio: TwilioLog, tmp_path: Path,
                 n: int) -> tuple[list[Worker], str]:  # fmt: skip
    """`n` workers (not started) of one group over 8 partitions, each with its own home and
    port, reading `tmp_path / "venues.toml"`; and their topic prefix."""
    base = worker_env(bootstrap, tmp_path / "home0", PRONTO_PARTITIONS="8",
                      **reliability_env(twilio, tmp_path / "venues.toml"))  # fmt: skip
    envs = [base] + [
        {**base, "PRONTO_HOME": str(tmp_path / f"home{i}"),
         "PRONTO_WEB_PORT": worker_env(bootstrap, tmp_path)["PRONTO_WEB_PORT"]}
        for i in range(1, n)
    ]  # fmt: skip
    workers = [Worker(env=e, port=int(e["PRONTO_WEB_PORT"]), log=tmp_path / f"worker{i}.log")
               for i, e in enumerate(envs)]  # fmt: skip
    return workers, base["PRONTO_TOPIC_PREFIX"]


def start_all(workers: list[Worker]) -> None:
    with ThreadPoolExecutor(len(workers)) as pool:
        list(pool.map(lambda w: w.start(), workers))


def steady_load(bootstrap: str, prefix: str, locations: list[tuple[str, str]],
                seed: int) -> tuple[threading.Thread, list[Feedback]]:  # fmt: skip
    """2,400 feedback (15% complaints) into `feedback.raw` at 80/s, from a started thread;
    the list fills with what Kafka acknowledged."""
    load = make_load(2400, locations, 0.15, seed)
    accepted: list[Feedback] = []
    produced = threading.Thread(target=lambda: accepted.extend(
        produce_steady(bootstrap, f"{prefix}feedback.raw", load, rate_per_s=80)))  # fmt: skip
    produced.start()
    return produced, accepted


def settle(bootstrap: str, twilio: TwilioLog, prefix: str, accepted: list[Feedback],
           survivors: list[Worker]) -> tuple[dict[str, Any], dict[str, int]]:  # fmt: skip
    """Wait until every stored feedback is scored and paged; the figures every multi-worker
    test reports, and the owners of each location."""
    stored = stored_feedback(bootstrap, f"{prefix}feedback.raw")
    wanted = {fb.id for fb in stored}
    assert {fb.id for fb in accepted} <= wanted
    ids = wait_scored(bootstrap, f"{prefix}feedback.scored", wanted, timeout_s=120)
    complaints = {fb.id for fb in stored if is_complaint(fb)}
    wait_pages(twilio, bootstrap, prefix, complaints, timeout_s=90)
    counts, owners = merged_counts([w.url for w in survivors], "15m")
    figures = {
        "accepted": len(accepted),
        "missing_from_scored": len(wanted - set(ids)),
        "scored_duplicates": len(ids) - len(set(ids)),
        "table_n": counts,
        "expected_n": expected_counts(stored),
        **check_pages(bootstrap, prefix, twilio, complaints),
    }
    return figures, owners


def assert_exact(figures: dict[str, Any], owners: dict[str, int],
                 locations: list[tuple[str, str]]) -> None:  # fmt: skip
    assert all(owners.get(loc) == 1 for loc, _ in locations), figures
    assert figures["missing_from_scored"] == 0, figures
    assert figures["table_n"] == figures["expected_n"], figures
    assert_pages_exact(figures)


def _scale_out(workers: list[Worker], bootstrap: str, twilio: TwilioLog,
               locations: list[tuple[str, str]], prefix: str, t0: float) -> None:  # fmt: skip
    start_all(workers)
    started_s = time.monotonic() - t0
    produced, accepted = steady_load(bootstrap, prefix, locations, SEED + 1)
    time.sleep(10)
    victim = workers[1]
    owned_by_victim = sorted(get_json(f"{victim.url}/api/v1/scores")["locations"])
    kill_at = time.monotonic() - t0
    victim.kill()
    survivors = [workers[0], workers[2]]
    moved_s = None
    while moved_s is None and time.monotonic() - t0 < kill_at + 60:
        try:
            _, owners = merged_counts([s.url for s in survivors], "15m")
        except OSError:
            owners = {}
        if all(owners.get(loc) == 1 for loc, _ in locations):
            moved_s = time.monotonic() - t0 - kill_at
        time.sleep(0.5)
    produced.join()
    figures, owners = settle(bootstrap, twilio, prefix, accepted, survivors)
    figures |= {
        "victim_owned": owned_by_victim,
        "owners_per_location": owners,
        "workers_up_s": round(started_s, 1),
        "partitions_moved_s": moved_s and round(moved_s, 1),
    }
    report("scale-out", figures)
    assert owned_by_victim, "the victim owned no location: nothing was tested"
    assert_exact(figures, owners, locations)


def test_a_rolling_restart_under_load_keeps_totals_exact_and_pages_once(
    make_worker: Any, bootstrap: str, twilio: TwilioLog, tmp_path: Path
) -> None:
    """The graceful path a deploy takes: a worker joins and another leaves by SIGTERM, while
    the load runs. Both rebalances revoke partitions from a live worker mid-stream."""
    t0 = time.monotonic()
    locations = write_venues(tmp_path / "venues.toml", 8)
    workers, prefix = worker_group(bootstrap, twilio, tmp_path, 3)
    try:
        start_all(workers[:2])
        produced, accepted = steady_load(bootstrap, prefix, locations, SEED + 3)
        time.sleep(8)
        joined_at = time.monotonic() - t0
        workers[2].start()  # joins: partitions move away from two live workers
        time.sleep(6)
        left_at = time.monotonic() - t0
        workers[0].stop()  # SIGTERM: a graceful leave, its partitions move to the others
        produced.join()
        figures, owners = settle(bootstrap, twilio, prefix, accepted, workers[1:])
        figures |= {"joined_at_s": round(joined_at, 1), "left_at_s": round(left_at, 1),
                    "total_s": round(time.monotonic() - t0, 1)}  # fmt: skip
        report("rolling", figures)
        assert_exact(figures, owners, locations)
    finally:
        for w in workers:
            w.stop()


def group_lag(bootstrap: str, group: str, topic: str) -> dict[int, tuple[int | None, int]]:
    """{partition: (committed offset, end offset)} of `group` on `topic`."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = consumer.end_offsets(tps)
        return {tp.partition: (consumer.committed(tp), ends[tp]) for tp in tps}
    finally:
        consumer.close()


def changelog_has(bootstrap: str, topic: str, ids: set[str]) -> int:
    """How many of `ids` appear as keys of a table's changelog."""
    out = kcat(bootstrap, "-C", "-t", topic, "-e", "-q", "-f", "%k\n")
    return len(
        ids & {line.strip().strip('"') for line in out.decode(errors="replace").splitlines()}
    )


def kcat(bootstrap: str, *args: str, data: bytes | None = None) -> bytes:
    exe = shutil.which("kcat") or shutil.which("kafkacat")
    assert exe, "kcat is not installed (make provision installs it)"
    done = subprocess.run([exe, "-b", bootstrap, *args], input=data, capture_output=True,
                          timeout=60, check=True)  # fmt: skip
    return done.stdout


def test_poison_records_from_kcat_go_to_the_dlq_and_the_agents_keep_going(
    make_worker: Any, bootstrap: str, twilio: TwilioLog, tmp_path: Path
) -> None:
    locations = write_venues(tmp_path / "venues.toml", 2)
    env = worker_env(bootstrap, tmp_path / "home",
                     **reliability_env(twilio, tmp_path / "venues.toml"))  # fmt: skip
    prefix = env["PRONTO_TOPIC_PREFIX"]
    w: Worker = make_worker(env)
    good = make_load(2, locations, 0.0, SEED + 2)
    bad_fb = {**good[0].to_dict(), "id": "poison-scale", "scale": "bogus"}
    raw_garbage = [
        b"\xff\xfe\x00garbage \xc3\x28 not utf-8",
        b"this is not json",
        b"[1, 2, 3]",
        b'{"schema": 1, "id": "x"}',
        b'{"schema": 99, "id": "future", "location_id": "loc-00", "received_at": 1}',
        json.dumps(bad_fb).encode(),
        json.dumps({**bad_fb, "id": "poison-score", "scale": "csat5", "score": 99}).encode(),
    ]
    kcat(bootstrap, "-P", "-t", f"{prefix}feedback.raw", "-k", "loc-00",
         data=b"\n".join(raw_garbage) + b"\n")  # fmt: skip
    kcat(bootstrap, "-P", "-t", f"{prefix}feedback.scored", "-k", "loc-00",
         data=b'{"feedback": "nope"}\n')  # fmt: skip
    kcat(bootstrap, "-P", "-t", f"{prefix}pages.outbox", "-k", "loc-00", data=b'{"kind": 1}\n')
    kcat(bootstrap, "-P", "-t", f"{prefix}feedback.raw", "-k", good[1].location_id,
         data=good[1].to_json() + b"\n")  # fmt: skip
    ids = wait_scored(bootstrap, f"{prefix}feedback.scored", {good[1].id}, timeout_s=60)
    deadline = time.monotonic() + 30
    dlq: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(dlq) < len(raw_garbage) + 2:
        out = kcat(bootstrap, "-C", "-t", f"{prefix}feedback.dlq", "-e", "-q", "-f", "%s\n")
        dlq = [json.loads(line) for line in out.splitlines() if line.strip()]
        time.sleep(1)
    stages = Counter(d["stage"] for d in dlq)
    report("poison", {"dlq": len(dlq), "stages": dict(stages),
                      "reasons": [d["reason"][:80] for d in dlq]})  # fmt: skip
    assert good[1].id in ids, "the agent stopped after the poison records"
    assert stages["score"] == len(raw_garbage), dlq
    assert stages["alert"] == 1 and stages["notify"] == 1, dlq
    assert all(d["reason"] for d in dlq), dlq
    assert w.proc is not None and w.proc.poll() is None
    assert get_json(f"{w.url}/readyz")["ready"] is True


def phone_forms(number: str) -> set[str]:
    """The ways a number may leak: +34..., 34..., the national digits, and spaced."""
    digits = number.lstrip("+")
    national = digits[2:]
    spaced = f"{national[:3]} {national[3:6]} {national[6:]}"
    return {number, digits, national, spaced}


def test_privacy_no_phone_number_in_logs_metrics_or_topics(
    make_worker: Any, bootstrap: str, twilio: TwilioLog, tmp_path: Path
) -> None:
    write_venues(tmp_path / "venues.toml", 3)
    env = worker_env(bootstrap, tmp_path / "home", PRONTO_LOG_LEVEL="DEBUG",
                     **reliability_env(twilio, tmp_path / "venues.toml"))  # fmt: skip
    prefix = env["PRONTO_TOPIC_PREFIX"]
    w: Worker = make_worker(env)
    venue = "+34910000000"  # loc-00's number
    sms_customer, api_customer, form_customer, leaver = (
        "+34699887766", "+34655443322", "+34644112233", "+34677001122")  # fmt: skip
    status, _ = post_sms(w.url, sms_params("SM" + "c" * 32, sms_customer, venue,
                                           "Un 2 de 10, el camarero fue muy borde"))  # fmt: skip
    assert status == 200
    status, _ = request(
        "POST",
        f"{w.url}/api/v1/feedback",
        {"location_id": "loc-02", "score": 1, "comment": "fatal", "phone": "+34 655 44 33 22"},
    )
    assert status == 201
    import urllib.parse

    form = urllib.parse.urlencode({"score": "1", "comment": "horrible", "phone": form_customer})
    status, _ = request("POST", f"{w.url}/f/loc-01", form.encode(),
                        {"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert status == 200
    assert post_sms(w.url, sms_params("SM" + "d" * 32, leaver, venue, "STOP"))[0] == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(first_pages(twilio)) < 3:
        time.sleep(0.5)
    pages = [m for m in twilio.sent() if page_id_of(m["body"]).endswith("-p0")]
    assert len(pages) == 3, twilio.sent()
    # Ana acknowledges the SMS customer's alert: the customer is told, on their own number.
    sms_page = next(m for m in pages if "borde" in m["body"])
    ref = sms_page["body"].split("OK ")[1].split()[0]
    sup = next(m["to"] for m in pages)
    assert post_sms(w.url, sms_params("SM" + "e" * 32, sup, venue, f"OK {ref}"))[0] == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not [m for m in twilio.sent() if m["to"] == sms_customer]:
        time.sleep(0.5)
    assert [m for m in twilio.sent() if m["to"] == sms_customer], "the customer was not told"
    time.sleep(3)  # the last events reach their topics
    metrics = urllib_get(f"{w.url}/metrics")
    topics = [t for t in kcat(bootstrap, "-L", "-J").decode().split('"topic":"')[1:]]
    names = sorted({t.split('"', 1)[0] for t in topics if t.startswith(prefix)})
    for short in ("feedback.raw", "feedback.scored", "alerts.events", "pages.outbox",
                  "feedback.dlq"):  # fmt: skip
        assert f"{prefix}{short}" in names
    haystacks = {"worker log": w.log.read_text(errors="replace"), "/metrics": metrics}
    for name in names:
        haystacks[name] = b"\n".join(topic_values(bootstrap, name)).decode("utf-8", "replace")
    numbers = [sms_customer, api_customer, form_customer, leaver, *SUPERVISORS.values()]
    leaks = [(where, form) for where, text in haystacks.items()
             for n in numbers for form in phone_forms(n) if form in text]  # fmt: skip
    report("privacy", {"searched": {k: len(v) for k, v in haystacks.items()}, "leaks": leaks})
    assert sum(len(v) for v in haystacks.values()) > 10_000  # the run did write something
    assert leaks == []


def urllib_get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as r:
        return str(r.read().decode())
