"""A request is answered 2xx only once Kafka has the record: `publish` returns after the ack,
and raises `KafkaUnavailable` when the hand-over or the ack does not come in time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pipeline.ingest.publish import KafkaUnavailable, publish


class Topic:
    """A producer's topic whose hand-over and ack take as long as it is told."""

    def __init__(self, hand_over_s: float = 0.0, ack_s: float = 0.0,
                 error: Exception | None = None) -> None:  # fmt: skip
        self.hand_over_s, self.ack_s, self.error = hand_over_s, ack_s, error
        self.acked: asyncio.Future[Any] | None = None

    async def send(self, *, key: bytes, value: bytes) -> asyncio.Future[Any]:
        await asyncio.sleep(self.hand_over_s)
        loop = asyncio.get_running_loop()
        self.acked = loop.create_future()
        if self.error is not None:
            self.acked.set_exception(self.error)
        else:
            loop.call_later(self.ack_s, self.acked.set_result, (key, value))
        return self.acked


def test_it_returns_once_the_record_is_acknowledged() -> None:
    topic = Topic(ack_s=0.05)
    asyncio.run(publish(topic, "bus-42", b"{}", 1.0))
    assert topic.acked is not None and topic.acked.result() == (b"bus-42", b"{}")


@pytest.mark.parametrize(("hand_over_s", "ack_s"), [(5.0, 0.0), (0.0, 5.0), (0.15, 0.15)])
def test_no_ack_within_the_timeout_is_kafka_unavailable(hand_over_s: float, ack_s: float) -> None:
    async def run() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(KafkaUnavailable):
            await publish(Topic(hand_over_s, ack_s), "bus-42", b"{}", 0.2)
        return loop.time() - start

    assert asyncio.run(run()) < 1.0  # one deadline for both steps, not one each


def test_a_timeout_leaves_the_producers_future_to_the_producer() -> None:
    topic = Topic(ack_s=5.0)

    async def run() -> None:
        with pytest.raises(KafkaUnavailable):
            await publish(topic, "bus-42", b"{}", 0.05)
        assert topic.acked is not None and not topic.acked.cancelled()

    asyncio.run(run())


def test_a_refusal_by_the_client_is_kafka_unavailable_and_anything_else_is_raised() -> None:
    from aiokafka.errors import KafkaTimeoutError

    with pytest.raises(KafkaUnavailable, match="KafkaTimeoutError"):
        asyncio.run(publish(Topic(error=KafkaTimeoutError()), "bus-42", b"{}", 1.0))
    with pytest.raises(ZeroDivisionError):
        asyncio.run(publish(Topic(error=ZeroDivisionError()), "bus-42", b"{}", 1.0))
