"""Send an agent's output, in one place, so the delivery policy is decided once.

The output goes to the producer and the agent moves on; Faust flushes the producer before it
commits the input's offset. Waiting for the broker's ack of each output inside the agent was
tried and measured: under SIGKILL and rebalance tests it lost more records, not fewer (slower
agents hold more fetched records when a rebalance starts; see issue 10's notes), so it is not done.
"""

from __future__ import annotations

from typing import Any


async def deliver(topic: Any, key: bytes, value: bytes) -> Any:
    """Hand `value` to the producer for `topic`, keyed by `key`; returns what the topic's
    `send` returns (Faust's `FutureMessage`: awaited, the broker's `RecordMetadata`)."""
    return await topic.send(key=key, value=value)
