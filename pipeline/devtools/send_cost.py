"""`python -m pipeline.devtools.send_cost [--sends N] [--in-flight K]`: the CPU that the worker's
Twilio sender spends on one page, against the benchmark's Twilio stand-in (no latency) on
127.0.0.1. Prints one JSON line: CPU ms per send (this process, all threads) and the wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline.alerts.senders import Page, TwilioSender
from pipeline.devtools.bench import ACCOUNT_SID
from pipeline.devtools.twilio_standin import TwilioStandin

WARM_UP = 50


async def measure(base_url: str, sends: int, in_flight: int) -> dict[str, Any]:
    sender = TwilioSender(ACCOUNT_SID, "token", "+34910000099", base_url,
                          "https://pronto.test/sms/status", concurrency=in_flight)  # fmt: skip
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        page = Page(f"PCOST{i}-p0", "+34600000001", f"Table {i} unhappy. Reply OK COST{i}", "page")
        async with gate:
            result = await sender.send(page)
        if not result.ok:
            raise RuntimeError(f"the stand-in refused a send: {result.error}")

    try:
        await asyncio.gather(*(one(-i - 1) for i in range(WARM_UP)))
        t0, cpu0 = time.monotonic(), time.process_time()
        await asyncio.gather(*(one(i) for i in range(sends)))
        cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    finally:
        await sender.aclose()
    return {"sends": sends, "in_flight": in_flight, "cpu_ms_per_send": round(cpu / sends * 1000, 3),
            "wall_s": round(wall, 2)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.devtools.send_cost")
    p.add_argument("--sends", type=int, default=1000)
    p.add_argument("--in-flight", type=int, default=16)
    args = p.parse_args(argv)
    import uvloop  # the loop the worker's processes run on

    with tempfile.TemporaryDirectory(prefix="pronto-send-cost-") as tmp:
        standin = TwilioStandin(Path(tmp), 0)
        base = standin.start()
        try:
            result = uvloop.run(measure(base, args.sends, args.in_flight))
        finally:
            standin.stop()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
