"""`pronto demo --duration 60` end to end: a real worker, real Kafka, simulated people."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from pipeline.kafka_local import LocalKafka, free_port
from tests.support.http import request

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def scores(port: int) -> dict[str, Any] | None:
    try:
        status, body = request("GET", f"http://127.0.0.1:{port}/api/v1/scores")
    except (urllib.error.URLError, OSError):
        return None
    return json.loads(body) if status == 200 else None


def processes_with(marker: str) -> list[int]:
    """Processes whose environment holds `marker` (our run's topic prefix)."""
    found = []
    for p in psutil.process_iter(["pid"]):
        try:
            if any(marker in v for v in p.environ().values()):
                found.append(p.pid)
        except (psutil.Error, OSError):
            continue
    return found


def test_demo_pages_escalates_and_reports_the_scores_it_served(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    port = free_port()
    prefix = f"t{uuid.uuid4().hex[:8]}-demo-"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRONTO_")}
    env.update({
        "PRONTO_BROKER": f"kafka://{kafka.bootstrap}",
        "PRONTO_TOPIC_PREFIX": prefix,
        "PRONTO_APP_ID": f"{prefix}pronto",
        "PRONTO_HOME": str(tmp_path / "home"),
        "PRONTO_PARTITIONS": "4",
    })  # fmt: skip
    frame = tmp_path / "frame.svg"
    out_path, err_path = tmp_path / "demo.out", tmp_path / "demo.err"
    cmd = [sys.executable, "-m", "pipeline.cli", "demo", "--duration", "60", "--port", str(port),
           "--seed", "7", "--record", str(frame)]  # fmt: skip
    t0 = time.monotonic()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        last = None
        ready_at = None
        try:
            while proc.poll() is None and time.monotonic() - t0 < 400:
                now = scores(port)
                if now is not None:
                    last = now
                    ready_at = ready_at or time.monotonic() - t0
                time.sleep(0.5)
        finally:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(60)
    total = time.monotonic() - t0
    stdout, stderr = out_path.read_text(), err_path.read_text()
    print(f"demo: worker answered after {ready_at}s, exited after {total:.1f}s\n{stdout}")
    assert proc.returncode == 0, f"{stdout}\n{stderr}"
    final = json.loads(stdout.strip().splitlines()[-1])
    assert final["pages_sent"] >= 1, final
    assert final["escalations"] >= 1, final
    assert final["acks"] >= 1, final
    assert final["simulator"]["errors"] == 0, final["simulator"]
    funnel = final["funnel"]
    assert funnel["feedback"] >= funnel["alerts"] >= funnel["acknowledged"] >= 1
    # What the demo printed is what the worker served just before it stopped.
    assert last is not None
    assert final["scores"]["locations"] == last["locations"]
    answered = sum(loc["windows"]["5m"]["n"] for loc in last["locations"].values())
    assert answered > 0
    assert frame.read_text().lstrip().startswith("<svg")
    # A clean exit leaves nothing behind: no worker, and nobody on the port.
    assert processes_with(prefix) == []
    assert scores(port) is None
