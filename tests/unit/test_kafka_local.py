"""The local Kafka launcher: clear errors when a tool is missing, a config that is KRaft."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pipeline.cli import main
from pipeline.kafka_local import BrokerState, KafkaSetupError, LocalKafka, provision_jars


def test_missing_maven_or_java_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRONTO_KAFKA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # neither java nor mvn on it
    with pytest.raises(KafkaSetupError, match=r"java.*JDK 17"):
        provision_jars(tmp_path)
    with pytest.raises(KafkaSetupError, match="java"):
        LocalKafka(tmp_path, 1).start()


def test_a_kafka_home_without_jars_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRONTO_KAFKA_HOME", str(tmp_path))
    with pytest.raises(KafkaSetupError, match="libs/kafka_"):
        provision_jars(tmp_path)


def test_the_broker_config_is_single_node_kraft_on_loopback(tmp_path: Path) -> None:
    props = LocalKafka(tmp_path, 19092)._properties(19093)
    assert "process.roles=broker,controller" in props
    assert "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093" in props
    assert "zookeeper" not in props


def test_stop_without_a_broker_is_harmless(tmp_path: Path) -> None:
    assert LocalKafka(tmp_path, 1).stop() is False


# `status` and `down` find the broker `up` started (issue 17). A sleeping Python process whose
# command line says `kafka.Kafka` stands in for the JVM: the pid checks look for that word.


@pytest.fixture
def fake_broker() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "kafka.Kafka"],
        start_new_session=True,  # like the real broker: `down` signals its process group
    )
    # Popen returns once the exec began; the new command line shows a moment later.
    deadline = time.monotonic() + 10
    while "kafka.Kafka" not in psutil.Process(proc.pid).cmdline():
        assert time.monotonic() < deadline, "the stand-in broker did not start"
        time.sleep(0.01)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


@pytest.fixture
def probed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The bootstraps `status` asks for metadata; every broker answers."""
    seen: list[str] = []

    def answers(self: LocalKafka) -> bool:
        seen.append(self.bootstrap)
        return True

    monkeypatch.setattr(LocalKafka, "answers_metadata", answers)
    return seen


def pronto_kafka(*args: str) -> tuple[int, str]:
    """`pronto kafka ARGS` in this process: (exit code, what it printed)."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = main(["kafka", *args])
    return rc, stdout.getvalue()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PRONTO_HOME for `pronto kafka`."""
    monkeypatch.setenv("PRONTO_HOME", str(tmp_path))
    return tmp_path


def gone(pid: int) -> bool:
    with contextlib.suppress(psutil.NoSuchProcess):
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    return True


def test_up_records_pid_port_and_bootstrap_atomically(
    home: Path, fake_broker: subprocess.Popen[bytes]
) -> None:
    kafka = LocalKafka(home, 19092)
    kafka.dir.mkdir(parents=True)
    kafka._record(fake_broker.pid)
    state = json.loads(kafka.state_file.read_text())
    assert state == {"pid": fake_broker.pid, "port": 19092, "bootstrap": "127.0.0.1:19092"}
    assert sorted(p.name for p in kafka.dir.iterdir()) == ["broker.json"]  # no temp file left
    assert kafka.running() == BrokerState(fake_broker.pid, 19092)


def test_status_and_down_use_the_port_up_recorded(
    home: Path, fake_broker: subprocess.Popen[bytes], probed: list[str]
) -> None:
    up = LocalKafka(home, 19092)
    up.dir.mkdir(parents=True)
    up._record(fake_broker.pid)

    rc, out = pronto_kafka("status")
    assert (rc, probed) == (0, ["127.0.0.1:19092"])
    assert f"Kafka is up at 127.0.0.1:19092 (pid {fake_broker.pid}" in out
    assert "export PRONTO_BROKER=kafka://127.0.0.1:19092\n" in out

    rc, out = pronto_kafka("status", "--port", "19999")  # --port still wins
    assert (rc, probed[-1]) == (0, "127.0.0.1:19999")
    assert "export PRONTO_BROKER=kafka://127.0.0.1:19999\n" in out

    assert pronto_kafka("down") == (0, "Kafka at 127.0.0.1:19092 stopped\n")
    assert gone(fake_broker.pid)
    assert not up.state_file.exists()
    assert pronto_kafka("status") == (3, "Kafka is down\n")


def test_up_refuses_another_port_while_the_broker_runs(
    home: Path, fake_broker: subprocess.Popen[bytes]
) -> None:
    running = LocalKafka(home, 19092)
    running.dir.mkdir(parents=True)
    running._record(fake_broker.pid)
    assert LocalKafka.for_home(home).port == 19092
    with pytest.raises(KafkaSetupError, match=r"already runs at 127\.0\.0\.1:19092"):
        LocalKafka(home, 19999).start()
    assert fake_broker.poll() is None


@pytest.mark.parametrize("owner", ["exited", "another program"])
def test_a_stale_pid_file_reads_as_down_and_is_removed(home: Path, owner: str) -> None:
    # The broker is gone, or (after a reboot) its pid now belongs to a process that is not Kafka.
    other = subprocess.Popen(["sleep", "0" if owner == "exited" else "60"], start_new_session=True)
    if owner == "exited":
        other.wait()
    kafka = LocalKafka(home, 19092)
    try:
        kafka.dir.mkdir(parents=True)
        kafka._record(other.pid)
        assert pronto_kafka("status") == (3, "Kafka is down\n")
        assert not kafka.state_file.exists()
        kafka._record(other.pid)
        assert pronto_kafka("down") == (0, "Kafka was not running\n")
        assert not kafka.state_file.exists()
        assert other.poll() is None or owner == "exited"  # never signalled
    finally:
        other.kill()
        other.wait()


def test_a_plain_pid_file_from_an_earlier_version_still_works(
    home: Path, fake_broker: subprocess.Popen[bytes], probed: list[str]
) -> None:
    kafka = LocalKafka(home, 19092)
    kafka.dir.mkdir(parents=True)
    (kafka.dir / "server.properties").write_text(kafka._properties(19093))
    kafka.pid_file.write_text(str(fake_broker.pid))
    assert kafka.running() == BrokerState(fake_broker.pid, 19092)

    rc, out = pronto_kafka("status")
    assert (rc, probed) == (0, ["127.0.0.1:19092"])
    assert "export PRONTO_BROKER=kafka://127.0.0.1:19092\n" in out
    assert pronto_kafka("down") == (0, "Kafka at 127.0.0.1:19092 stopped\n")
    assert gone(fake_broker.pid)
    assert not kafka.pid_file.exists()
