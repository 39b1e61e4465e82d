"""Issue 4, end to end: rolling scores and the model survive a worker restart."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline.model_store import published_snapshot_of
from pipeline.topics import LOCAL_COPY_MAX_AGE_S
from tests.support.http import request
from tests.support.kafka import read_json, read_topic

pytestmark = pytest.mark.kafka


def scores(url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}/api/v1/scores", timeout=10) as r:
        return json.loads(r.read())["locations"]


def model_version(url: str, name: str = "pronto_sentiment_model_version") -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
    raise AssertionError(f"no {name} metric")


def test_triage_takes_up_what_the_model_learned_within_seconds(make_worker, bootstrap):
    """The score stage publishes its model's snapshot to `pronto.snapshot` once it has learned,
    and ingest's triage judges with it seconds later, long before the next full save (30 s)."""
    w = make_worker(PRONTO_SNAPSHOT_INTERVAL_S="1", PRONTO_SNAPSHOT_REFRESH_S="1")
    started = model_version(w.url)
    for i, (s, text) in enumerate([(1, "la cucaracha en el plato"), (5, "todo perfecto"),
                                   (2, "el baño sucio otra vez"), (4, "muy amables")]):  # fmt: skip
        status, body = request("POST", f"{w.url}/api/v1/feedback", {
            "location_id": "resto-sol", "score": s, "comment": f"{text} ({i})"})  # fmt: skip
        assert status == 201, body
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        learned = model_version(w.url)
        if learned > started and model_version(w.url, "pronto_triage_model_version") == learned:
            break
        time.sleep(0.3)
    else:
        raise AssertionError(
            f"triage still at {model_version(w.url, 'pronto_triage_model_version')}"
        )
    prefix = w.env["PRONTO_TOPIC_PREFIX"]
    published = read_topic(bootstrap, f"{prefix}pronto.snapshot")
    assert published_snapshot_of(published[-1]).version == learned
    assert not read_topic(bootstrap, f"{prefix}pronto.model", timeout_s=1)  # no full save yet


def age_score_tables(home: Path, seconds: float) -> int:
    """Make every file of the score process's RocksDB tables `seconds` old; how many."""
    files = [f for f in (home / "faust").glob("*score*/**/*.db/*") if f.is_file()]
    then = time.time() - seconds
    for f in files:
        os.utime(f, (then, then))
    return len(files)


@pytest.mark.parametrize("left_for", [0.0, LOCAL_COPY_MAX_AGE_S + 3600], ids=["now", "13h"])
def test_restart_keeps_tables_and_model(make_worker, bootstrap, tmp_path, left_for):
    """A restart reads the changelogs' tail past the tables' local copies; copies left longer
    than half the deletes' retention are rebuilt from the changelog instead, to the same
    scores."""
    w = make_worker(PRONTO_MODEL_SAVE_INTERVAL_S="1")
    answers = [5, 4, 4, 2, 1, 5, 3, 4]  # csat5 at resto-sol: 5 satisfied of 8
    for i, s in enumerate(answers):
        status, body = request("POST", f"{w.url}/api/v1/feedback", {
            "location_id": "resto-sol", "score": s, "comment": f"comentario número {i}: {'genial' if s > 3 else 'mal'}"})  # fmt: skip
        assert status == 201, body
    prefix = w.env["PRONTO_TOPIC_PREFIX"]
    assert len(
        read_json(bootstrap, f"{prefix}feedback.scored", min_records=len(answers), timeout_s=30)
    ) == len(answers)
    before = scores(w.url)["resto-sol"]["windows"]["1h"]
    assert (before["csat_n"], before["csat"]) == (8, 5 / 8)
    version = model_version(w.url)
    time.sleep(3)  # past one model save
    w.stop()
    if left_for:
        assert age_score_tables(Path(w.env["PRONTO_HOME"]), left_for) > 0
    w2 = make_worker(dict(w.env))  # same group, same tables: a restart
    after = scores(w2.url)["resto-sol"]["windows"]["1h"]
    assert after == before
    rebuilt = "rebuilding it from the changelog" in w2.log.read_text()
    assert rebuilt == bool(left_for)
    assert model_version(w2.url) == version  # the model was restored, not re-seeded
    status, _ = request(
        "POST", f"{w2.url}/api/v1/feedback", {"location_id": "resto-sol", "score": 1}
    )
    assert status == 201
    deadline = time.monotonic() + 20
    while (
        time.monotonic() < deadline and scores(w2.url)["resto-sol"]["windows"]["1h"]["csat_n"] != 9
    ):
        time.sleep(0.3)
    assert scores(w2.url)["resto-sol"]["windows"]["1h"]["csat_n"] == 9
