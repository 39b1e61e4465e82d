"""A stage process whose table recovery stops making progress stops itself, to be restarted."""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from pipeline import recovery_watch
from pipeline.recovery_watch import StallWatch
from pipeline.settings import Settings


class FakeRecovery:
    """The part of Faust's `Recovery` service that the watch reads."""

    def __init__(self) -> None:
        self.in_recovery = True
        self._recovery_started_at: float | None = 1000.0
        self.remaining = Counter({TP("pronto-score-rolling-changelog", 1): 40})

    def active_remaining(self) -> Counter[TP]:
        return self.remaining

    def active_remaining_total(self) -> int:
        return sum(self.remaining.values())


def run(recovery: FakeRecovery, watch: StallWatch, ticks: list[float]) -> list[float]:
    """The times at which `check` says the recovery stalled."""
    return [at for at in ticks if recovery_watch.check(recovery, watch, at)]


def test_a_recovery_without_progress_is_a_stall(caplog: pytest.LogCaptureFixture) -> None:
    recovery = FakeRecovery()
    assert run(recovery, StallWatch(30.0), [0.0, 10.0, 20.0, 29.0, 31.0]) == [31.0]
    assert "pronto-score-rolling-changelog[1]: 40" in caplog.text


def test_a_slow_recovery_that_progresses_is_left_alone() -> None:
    recovery = FakeRecovery()
    watch = StallWatch(30.0)
    tp = next(iter(recovery.remaining))
    for step in range(40):
        recovery.remaining[tp] = 400 - step
        assert not recovery_watch.check(recovery, watch, step * 10.0)


def test_a_new_recovery_starts_the_clock_again() -> None:
    recovery = FakeRecovery()
    watch = StallWatch(30.0)
    assert run(recovery, watch, [0.0, 25.0]) == []
    recovery.in_recovery = False  # done, then a rebalance starts another one
    assert run(recovery, watch, [26.0]) == []
    recovery.in_recovery, recovery._recovery_started_at = True, 2000.0
    assert run(recovery, watch, [27.0, 50.0, 58.0]) == [58.0]


async def test_the_watch_stops_the_process_once(monkeypatch: pytest.MonkeyPatch) -> None:
    stops: list[str] = []
    monkeypatch.setattr(recovery_watch, "CHECK_EVERY_S", 0.001)
    monkeypatch.setattr(recovery_watch, "stop_self", lambda: stops.append("stop"))
    await asyncio.wait_for(recovery_watch.watch_forever(FakeRecovery(), StallWatch(0.01)), 5)
    assert stops == ["stop"]


@pytest.mark.parametrize(("stall_s", "watched"), [(0.0, False), (30.0, True)])
def test_the_watch_starts_on_assignment_unless_turned_off(stall_s: float, watched: bool) -> None:
    connected: list[Any] = []
    app: Any = SimpleNamespace(on_partitions_assigned=SimpleNamespace(connect=connected.append))
    recovery_watch.register(SimpleNamespace(app=app, settings=Settings(recovery_stall_s=stall_s)))  # type: ignore[arg-type]
    assert bool(connected) is watched


def test_nothing_left_is_not_a_stall() -> None:
    w = StallWatch(stall_s=1.0)
    assert not w.observe(0.0, 5.0, 3)
    assert not w.observe(10.0, 5.0, 0)
    assert not w.observe(20.0, 5.0, 0)
