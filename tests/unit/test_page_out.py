"""The pages go by a producer of their own, acknowledged before the desk goes on."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.alerts import page_out
from pipeline.alerts.page_out import PageWriter
from pipeline.settings import Settings


class FakeProducer:
    """aiokafka's `send`: the record is queued, then acknowledged when the test says so."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.acks: list[asyncio.Future[Any]] = []
        self.stopped = False

    async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[Any]:
        self.sent.append((topic, key, value))
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack

    async def stop(self) -> None:
        self.stopped = True


class FaustTopic:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    def get_topic_name(self) -> str:
        return "t-pages.outbox"

    async def send(self, *, key: bytes, value: bytes) -> str:
        self.sent.append((key, value))
        return "faust's future"


def ctx_for(**settings: Any) -> Any:
    topic = FaustTopic()
    s = Settings(secret_key="k", **settings)
    app = SimpleNamespace(producer=object())  # not one `send_now` knows: it does nothing
    return SimpleNamespace(settings=s, topic=lambda name: {"outbox": topic}[name], app=app)


@pytest.fixture
def producers(monkeypatch: pytest.MonkeyPatch) -> list[FakeProducer]:
    made: list[FakeProducer] = []

    async def start_producer(bootstrap_servers: str) -> FakeProducer:
        made.append(FakeProducer())
        return made[-1]

    monkeypatch.setattr(page_out, "start_producer", start_producer)
    return made


async def test_a_page_is_acknowledged_before_the_write_returns(
    producers: list[FakeProducer],
) -> None:
    writer = PageWriter(ctx_for())
    assert writer.own
    write = asyncio.ensure_future(writer.write(b"loc-1", b"{}"))
    await asyncio.sleep(0.01)
    assert not write.done()  # sent, not yet acknowledged
    [producer] = producers
    assert producer.sent == [("t-pages.outbox", b"loc-1", b"{}")]
    producer.acks[0].set_result("metadata")
    written = await asyncio.wait_for(write, 1)
    assert await written == "metadata"
    second = asyncio.ensure_future(writer.write(b"loc-2", b"[]"))
    await asyncio.sleep(0.01)
    producer.acks[1].set_result("metadata 2")
    await asyncio.wait_for(second, 1)
    assert len(producers) == 1 and len(producer.sent) == 2  # one producer for every page


async def test_a_failed_page_raises_in_the_desk(producers: list[FakeProducer]) -> None:
    writer = PageWriter(ctx_for())
    write = asyncio.ensure_future(writer.write(b"loc-1", b"{}"))
    await asyncio.sleep(0.01)
    producers[0].acks[0].set_exception(RuntimeError("broker gone"))
    with pytest.raises(RuntimeError, match="broker gone"):
        await asyncio.wait_for(write, 1)


async def test_no_page_is_written_once_stopped(producers: list[FakeProducer]) -> None:
    writer = PageWriter(ctx_for())
    write = asyncio.ensure_future(writer.write(b"loc-1", b"{}"))
    await asyncio.sleep(0.01)
    producers[0].acks[0].set_result("metadata")
    await write
    await writer.stop()
    assert producers[0].stopped
    with pytest.raises(RuntimeError, match="stopped"):
        await writer.write(b"loc-1", b"{}")
    assert len(producers) == 1


@pytest.mark.parametrize("settings", [{"page_producer": False},
                                      {"processing_guarantee": "exactly_once"}])  # fmt: skip
async def test_otherwise_faust_s_producer_writes_the_pages(producers: list[FakeProducer],
                                                           settings: dict[str, Any]) -> None:  # fmt: skip
    ctx = ctx_for(**settings)
    writer = PageWriter(ctx)
    assert not writer.own
    assert await writer.write(b"loc-1", b"{}") == "faust's future"
    writer.done()
    assert ctx.topic("outbox").sent == [(b"loc-1", b"{}")] and producers == []
