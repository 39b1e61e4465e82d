"""`pronto kafka up --port N`, then `status` and `down` without `--port` (issue 17): the real
broker, started by the command itself, on a port that is not 9092."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from pipeline.kafka_local import free_port, provision_jars

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]


def gone(pid: int) -> bool:
    with contextlib.suppress(psutil.NoSuchProcess):
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    return True


def tail(log: Path, n: int = 3000) -> str:
    return log.read_text(errors="replace")[-n:] if log.exists() else ""


def test_status_and_down_find_the_broker_up_started_on_its_port(tmp_path: Path) -> None:
    # The jars come from the shared cache (provisioned there on first use, loudly, never a
    # skip); everything else of this broker lives in a PRONTO_HOME of its own.
    libs = provision_jars(Path(os.environ.get("PRONTO_HOME", ROOT / ".pronto")).resolve())
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRONTO_")}
    env.update({"PRONTO_HOME": str(home), "PRONTO_KAFKA_HOME": str(libs.parent)})
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    state_file = home / "kafka" / "broker" / "broker.json"

    def pronto_kafka(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pipeline.cli", "kafka", *args], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=180, check=False)  # fmt: skip

    try:
        up = pronto_kafka("up", "--port", str(port))
        assert up.returncode == 0, up.stdout + up.stderr + tail(state_file.parent / "server.log")
        assert f"export PRONTO_BROKER=kafka://{bootstrap}\n" in up.stdout
        state = json.loads(state_file.read_text())
        pid = state["pid"]
        assert state == {"pid": pid, "port": port, "bootstrap": bootstrap}

        status = pronto_kafka("status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"Kafka is up at {bootstrap} (pid {pid}" in status.stdout
        assert f"export PRONTO_BROKER=kafka://{bootstrap}\n" in status.stdout

        down = pronto_kafka("down")
        assert (down.returncode, down.stdout) == (0, f"Kafka at {bootstrap} stopped\n"), down.stderr
        assert gone(pid)
        assert not state_file.exists()
        status = pronto_kafka("status")
        assert (status.returncode, status.stdout) == (3, "Kafka is down\n"), status.stderr
    finally:
        # A failed or timed-out step must not leave a JVM behind.
        with contextlib.suppress(OSError, ValueError, KeyError):
            leftover = int(json.loads(state_file.read_text())["pid"])
            if not gone(leftover):
                os.killpg(leftover, signal.SIGKILL)
