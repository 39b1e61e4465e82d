"""The collector's pauses are measured, and its settings reach the process."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from pipeline import gc_tuning
from pipeline.app import build
from pipeline.settings import Settings


@pytest.fixture
def gc_state() -> Iterator[None]:
    threshold, callbacks = gc.get_threshold(), list(gc.callbacks)
    yield
    gc.set_threshold(*threshold)
    gc.callbacks[:] = callbacks


def test_each_collection_is_timed_by_generation() -> None:
    seen: list[tuple[int, float]] = []
    timer = gc_tuning.PauseTimer(lambda g, secs: seen.append((g, secs)))
    timer("start", {"generation": 2})
    timer("stop", {"generation": 2, "collected": 0})
    timer("stop", {"generation": 1})  # a stop without its start is not a pause
    assert len(seen) == 1 and seen[0][0] == 2 and 0 <= seen[0][1] < 1


def test_a_stage_process_counts_its_pauses_and_takes_its_threshold(tmp_path: Any,
                                                                   gc_state: None) -> None:  # fmt: skip
    s = Settings(broker="kafka://127.0.0.1:1", home=tmp_path, secret_key="k", store="memory",
                 gc_gen0=5_000)  # fmt: skip
    ctx = build(s, registry=CollectorRegistry(), stages=frozenset({"score"}))
    gc_tuning.register(ctx)  # as `run_stages` does
    assert gc.get_threshold()[0] == 5_000
    gc.collect(1)
    count = ctx.registry.get_sample_value("pronto_gc_pause_seconds_count", {"generation": "1"})
    assert count is not None and count >= 1


def test_a_threshold_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="PRONTO_GC_GEN0"):
        Settings(secret_key="k", gc_gen0=0)
