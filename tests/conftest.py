"""Shared fixtures. The broker is real Kafka, started once per session on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.kafka_local import LocalKafka
from tests.support.kafka import Worker, start_broker, worker_env

pytest_plugins = ["tests.support.twilio"]


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A real single-node KRaft broker. If it cannot start, every test using it fails."""
    broker = start_broker(tmp_path_factory.mktemp("kafka"))
    yield broker
    broker.stop()


@pytest.fixture
def bootstrap(kafka: LocalKafka) -> str:
    return kafka.bootstrap


@pytest.fixture
def make_worker(kafka: LocalKafka, tmp_path: Path) -> Iterator[object]:
    """Start `pronto worker` processes with their own topics; stopped after the test."""
    started: list[Worker] = []

    def make(env: dict[str, str] | None = None, **overrides: str) -> Worker:
        env = env or worker_env(kafka.bootstrap, tmp_path / f"home{len(started)}", **overrides)
        w = Worker(
            env=env, port=int(env["PRONTO_WEB_PORT"]), log=tmp_path / f"worker{len(started)}.log"
        )
        started.append(w)
        return w.start()

    yield make
    for w in started:
        w.stop()
