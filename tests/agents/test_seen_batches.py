"""The dedupe table's batch records: what the score agent writes, and what a restart rebuilds
from them (the memory store replays the changelog; RocksDB replays its tail the same way)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson

from pipeline.app import Pronto
from pipeline.scoring.seen_batches import BATCH_PREFIX
from tests.agents.test_agents import agent, ctx, feedback

__all__ = ["ctx"]


def changelog_event(key: str, value: Any, partition: int, offset: int) -> Any:
    """A changelog record as Faust's recovery hands it to the table."""
    raw = None if value is None else orjson.dumps(value)
    tp = SimpleNamespace(topic="seen-feedback-changelog", partition=partition)
    message = SimpleNamespace(key=orjson.dumps(key), value=raw, partition=partition,
                              offset=offset, tp=tp)  # fmt: skip
    return SimpleNamespace(key=key, value=value, message=message)


async def test_a_batch_is_one_changelog_key_and_a_restart_still_drops_a_retry(ctx: Pronto) -> None:
    seen = ctx.tables["seen"]
    async with agent(ctx, "score").test_context() as a:
        await a.put(key=b"bus-42", value=feedback("f1", 3, "tarde").to_json(), partition=2)
        await a.put(key=b"bus-42", value=feedback("f2", 9, "bien").to_json(), partition=2)
        await asyncio.sleep(0.05)
    batches = {k: v for k, v in seen.data.items() if str(k).startswith(BATCH_PREFIX)}
    assert sorted(i for v in batches.values() for i, _, _ in v["m"]) == ["f1", "f2"]
    # A restart with an empty local store: the changelog holds only the batch keys.
    records = [changelog_event(k, v, 2, n) for n, (k, v) in enumerate(batches.items())]
    seen.data.clear()
    seen.apply_changelog_batch(records)
    assert {"f1", "f2"} <= set(seen.data)
    sent_before = len(ctx.topics["scored"].values())  # type: ignore[attr-defined]
    async with agent(ctx, "score").test_context() as a:
        a.sent_offset = 100  # another record with the same id: a client's retry
        await a.put(key=b"bus-42", value=feedback("f1", 3, "tarde").to_json(), partition=2)
        await a.put(key=b"bus-42", value=feedback("f3", 8, "vale").to_json(), partition=2)
        await asyncio.sleep(0.05)
    scored = ctx.topics["scored"].values()[sent_before:]  # type: ignore[attr-defined]
    assert [s["feedback"]["id"] for s in scored] == ["f3"]
    # The batch aged out: its tombstone deletes its ids too, on recovery as at run time.
    key = next(iter(batches))
    seen.apply_changelog_batch([changelog_event(key, None, 2, 50)])
    assert key not in seen.data
    assert not {i for i, _, _ in batches[key]["m"]} & set(seen.data)
