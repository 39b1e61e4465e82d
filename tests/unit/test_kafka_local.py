"""The local Kafka launcher: clear errors when a tool is missing, a config that is KRaft."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.kafka_local import KafkaSetupError, LocalKafka, provision_jars


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
