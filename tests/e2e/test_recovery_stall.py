"""A score process whose table recovery stalls restarts, and the worker comes back exact.

The stall is the one seen in the rolling-restart test (about one run in eight): Faust's
recovery waits for changelog records that never reach it. Here it is made on purpose: a
`sitecustomize` in the worker's path withholds one changelog partition from the score
process's recovery, in the first score process only. The watch must see that the recovery
makes no progress, stop that process, and the supervisor must start a new one, which recovers
the tables in full: the worker becomes ready and its counts are exact.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.kafka import worker_env
from tests.support.reliability import (
    TwilioLog,
    expected_counts,
    make_load,
    merged_counts,
    produce_steady,
    reliability_env,
    stored_feedback,
    wait_scored,
    write_venues,
)

pytestmark = pytest.mark.kafka

STALL_S = 8.0
WITHHELD_PARTITION = 1

# Runs at every interpreter start in the worker's processes; acts once, in a score process,
# while the flag file exists (it removes it, so the restarted process is left alone).
SITECUSTOMIZE = f"""
import os

_flag = os.environ.get("STALL_RECOVERY_FLAG", "")
if os.environ.get("PRONTO_STAGES") == "score" and _flag and os.path.exists(_flag):
    os.unlink(_flag)
    from faust.transport import conductor

    _compile = conductor.Conductor._compile_message_handler

    def _compile_withholding(self):
        handler = _compile(self)

        async def on_message(message):
            if message.topic.endswith("-changelog") and message.partition == {WITHHELD_PARTITION}:
                return None  # never delivered: the recovery waits for it
            return await handler(message)

        return on_message

    conductor.Conductor._compile_message_handler = _compile_withholding
"""


def test_a_stalled_table_recovery_restarts_its_process_and_recovers_exactly(
    make_worker: Any, bootstrap: str, twilio: TwilioLog, tmp_path: Path
) -> None:
    locations = write_venues(tmp_path / "venues.toml", 8)
    env = worker_env(bootstrap, tmp_path / "home-a",
                     **reliability_env(twilio, tmp_path / "venues.toml"))  # fmt: skip
    prefix = env["PRONTO_TOPIC_PREFIX"]
    first = make_worker(env)
    load = make_load(1200, locations, 0.0, seed=7)
    sent = list(produce_steady(bootstrap, f"{prefix}feedback.raw", load, rate_per_s=400))
    scored = wait_scored(bootstrap, f"{prefix}feedback.scored", {fb.id for fb in sent}, 90)
    assert {fb.id for fb in sent} <= set(scored)
    first.stop()

    # A new home: its score process has no local tables and replays every changelog.
    fault = tmp_path / "fault"
    fault.mkdir()
    (fault / "sitecustomize.py").write_text(SITECUSTOMIZE)
    flag = fault / "stall-once"
    flag.touch()
    t0 = time.monotonic()
    second = make_worker({**env, "PRONTO_HOME": str(tmp_path / "home-b"),
                          "PRONTO_RECOVERY_STALL_S": str(STALL_S), "PYTHONPATH": str(fault),
                          "STALL_RECOVERY_FLAG": str(flag)})  # fmt: skip
    ready_s = time.monotonic() - t0
    log = second.log.read_text(errors="replace")
    assert not flag.exists(), "the fault never ran: no score process saw the flag"
    assert "table recovery made no progress" in log, second.tail()
    assert "the score process exited" in log, second.tail()
    assert ready_s >= STALL_S  # it could not be ready before the restart
    counts, owners = merged_counts([second.url], "15m")
    assert counts == expected_counts(stored_feedback(bootstrap, f"{prefix}feedback.raw"))
    assert {loc for loc, _ in locations} <= set(owners)
