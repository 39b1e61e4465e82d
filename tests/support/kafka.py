"""Session fixtures: a real broker on a free port, and workers started as real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from pipeline.kafka_local import LocalKafka, free_port

ROOT = Path(__file__).resolve().parents[2]


def start_broker(tmp: Path) -> LocalKafka:
    """A broker of our own; the jars come from the shared cache (PRONTO_HOME)."""
    jars = Path(os.environ.get("PRONTO_HOME", ROOT / ".pronto")).resolve()
    kafka = LocalKafka(tmp, free_port(), name="test-broker", jars_home=jars)
    kafka.start()  # fails loudly if Maven or java is missing: never a skip
    return kafka


@dataclass
class Worker:
    """A `pronto worker` process with its own topics and port."""

    env: dict[str, str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 90.0) -> Worker:
        out = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker"], env=self.env,
                                     stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        out.close()
        self.wait_ready(timeout_s)
        return self

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as r:
                    if r.status == 200:
                        return
            except Exception as e:
                last = str(e)
            time.sleep(0.5)
        raise RuntimeError(f"worker not ready in {timeout_s}s ({last}):\n{self.tail()}")

    def tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


def worker_env(bootstrap: str, home: Path, **overrides: str) -> dict[str, str]:
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRONTO_")}
    env.update({
        "PRONTO_BROKER": f"kafka://{bootstrap}",
        "PRONTO_HOME": str(home),
        "PRONTO_WEB_PORT": str(free_port()),
        "PRONTO_TOPIC_PREFIX": prefix,
        "PRONTO_APP_ID": f"{prefix}pronto",
        "PRONTO_TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
        "PRONTO_PUBLIC_URL": "https://pronto.example.test",
        "PRONTO_SECRET_KEY": "test-secret",
        "PRONTO_LOG_LEVEL": "INFO",
        "PRONTO_PARTITIONS": "4",
        "PRONTO_INGEST_TIMEOUT_S": "15",  # a shared 2-core box under load is slow, not down
    })  # fmt: skip
    env.update(overrides)
    return env


def new_topic(bootstrap: str, prefix: str, partitions: int) -> str:
    """A topic of its own for one test: `prefix-<random>`, with `partitions` partitions."""
    from kafka.admin import KafkaAdminClient, NewTopic

    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()
    return topic


def read_topic(
    bootstrap: str, topic: str, timeout_s: float = 20.0, min_records: int = 1
) -> list[bytes]:
    """All records of `topic`, waiting until at least `min_records` are there."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=500)  # fmt: skip
    out: list[bytes] = []
    try:
        deadline = time.monotonic() + timeout_s
        parts = None
        while time.monotonic() < deadline and not parts:
            parts = consumer.partitions_for_topic(topic)
            if not parts:
                time.sleep(0.3)
        if not parts:
            return []
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        while time.monotonic() < deadline:
            for rec in consumer:
                out.append(rec.value)
            if len(out) >= min_records:
                break
        return out
    finally:
        consumer.close()


def read_json(bootstrap: str, topic: str, **kw: Any) -> list[dict[str, object]]:
    return [json.loads(v) for v in read_topic(bootstrap, topic, **kw)]
