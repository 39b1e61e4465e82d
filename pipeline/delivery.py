"""Send an agent's output, in one place, so the delivery policy is decided once.

The output goes to the producer and the agent moves on; Faust flushes the producer before it
commits the input's offset. Waiting for the broker's ack of each output inside the agent was
tried and measured: under SIGKILL and rebalance tests it lost more records, not fewer (slower
agents hold more fetched records when a rebalance starts; see issue 10's notes), so it is not done.
The one exception is the alert process's pages, which go by a producer of their own that Faust
does not flush: each is acknowledged before the desk goes on (`alerts/page_out.py`).
"""

from __future__ import annotations

from typing import Any


async def deliver(topic: Any, key: bytes, value: bytes) -> Any:
    """Hand `value` to the producer for `topic`, keyed by `key`; returns what the topic's
    `send` returns (Faust's `FutureMessage`: awaited, the broker's `RecordMetadata`)."""
    return await topic.send(key=key, value=value)


def send_now(producer: Any) -> bool:
    """Let the records `producer` (Faust's) holds go in the next produce request, without
    waiting out its linger: what `aiokafka`'s `flush_for_commit` does to its batches, without
    waiting for their acks. Returns False (and does nothing) if aiokafka's internals are not
    the ones this was written for (aiokafka 0.14): the records then go after the linger.

    The alert process lingers (`PRONTO_ALERT_LINGER_MS`) so that its changelog, event and
    index records share produce requests; a page must not wait for that, and the notify stage
    calls Twilio only once the broker has its outbox record.

    >>> send_now(object())  # not a producer this knows
    False
    """
    accumulator = getattr(getattr(producer, "_producer", None), "_message_accumulator", None)
    batches = getattr(accumulator, "_batches", None)
    waiter = getattr(accumulator, "_waiter_future", None)
    if not isinstance(batches, dict) or waiter is None:
        return False
    for queued in batches.values():
        for batch in queued:
            batch._builder.close()  # full, as far as the sender can tell: ready at once
    if not waiter.done():
        waiter.set_result(None)  # wake the sender, which is waiting for data or a linger
    return True


async def ebb(producer: Any) -> None:
    """Until the records that table writes queued in `producer`'s buffer (Faust's: a table's
    `__setitem__` cannot await, so its changelog record waits there for a task to send it)
    have gone to the Kafka producer. Faust's conductor waits for that before each record it
    hands an agent (`wait_until_ebb`, past 100 pending); a reader of its own must too, or a
    busy loop outruns the task and the queue grows with every batch."""
    buffer = producer.buffer
    while buffer.size and buffer.state == "running":  # (a stopping buffer sends nothing more)
        await buffer.flush()  # gives up after 0.1 s without a send: hence the loop


async def flushed(producer: Any) -> None:
    """Everything `producer` holds is in Kafka: its buffer emptied (`ebb`), then its batches
    sent and acknowledged. An input's offset is committed only after this; it raises if the
    buffer could not be emptied (the producer is stopping)."""
    await ebb(producer)
    if producer.buffer.size:
        raise RuntimeError(f"{producer.buffer.size} table writes not sent: the producer stopped")
    await producer.flush()
