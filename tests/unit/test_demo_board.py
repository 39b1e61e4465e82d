"""The demo's board and simulated people, driven by hand-made lifecycle events."""

from __future__ import annotations

import asyncio
from typing import Any

from pipeline.config import load_venues
from pipeline.devtools.demo_people import Behaviour, People
from pipeline.devtools.demo_view import Board
from pipeline.devtools.feedback_mix import SimMessage
from pipeline.kafka_local import deploy_dir

VENUES = load_venues(deploy_dir() / "pronto.demo.toml")
BUS = VENUES.by_id("bus-42")
CUSTOMER = SimMessage(seq=0, location_id="bus-42", to="+34910000042", phone="+34612345678",
                      lang="es", text="un 2, llegó tarde", comment="llegó tarde", score=2,
                      scale="nps10", dissatisfied=True)  # fmt: skip


def ev(event: str, ref: str = "4821", **extra: Any) -> dict[str, Any]:
    return {"event": event, "ref": ref, "location_id": "bus-42", "at": 1.0, **extra}


def test_the_board_counts_each_event_once_and_only_this_runs_alerts() -> None:
    board = Board()
    opened = ev("opened", alert={"feedback_ids": ["sms-SM1"]})
    for e in (opened, opened, ev("paged", detail="Ana"), ev("escalated", detail="level 1: Luis",
              missed_by="Ana"), ev("page_sent", page_id="P4821-p0", kind="page", to_name="Ana",
              latency_s=0.04), ev("page_sent", page_id="P4821-p1", kind="page", to_name="Luis",
              latency_s=20.1), ev("acknowledged", detail="Luis"), ev("resolved", detail="Luis"),
              ev("followed_up", detail="recovered"), ev("escalated", ref="9999")):  # fmt: skip
        board.on_event(e)
    board.feedback = 10
    assert board.funnel() == {"feedback": 10, "alerts": 1, "paged": 1, "acknowledged": 1,
                              "resolved": 1, "recovered": 1}  # fmt: skip
    assert (board.pages_sent, board.escalations, board.acks) == (2, 1, 1)
    assert board.latencies == [0.04]  # the escalated page waited on purpose
    assert board.earlier_events == 1
    assert any("Ana missed it -> Luis" in line for line in board.pages)


async def test_people_acknowledge_resolve_and_the_customer_answers() -> None:
    sent: list[tuple[str, str, str]] = []

    async def send(sender: str, to: str, body: str) -> int:
        sent.append((sender, to, body))
        return 200

    quick = Behaviour(miss_share=0.0, ack_delay_s=(0, 0), resolve_delay_s=(0, 0),
                      answer_delay_s=(0, 0), recovered_share=1.0)  # fmt: skip
    people = People(VENUES, send, behaviour=quick)
    people.remember(CUSTOMER, "sms", "sms-SM1", 200)
    people.on_event(ev("opened", alert={"feedback_ids": ["sms-SM1"], "text": CUSTOMER.text}))
    people.on_event(ev("paged"))
    people.on_event(ev("page_sent", page_id="P4821-p0", kind="page", to_name="Ana"))
    await asyncio.sleep(0.05)
    ana = BUS.supervisor("Ana").phone  # type: ignore[union-attr]
    assert sent[0] == (ana, "+34910000042", "OK 4821")
    people.on_event(ev("acknowledged"))
    await asyncio.sleep(0.05)
    assert sent[1] == (ana, "+34910000042", "DONE 4821")
    people.on_event(ev("resolved"))
    await asyncio.sleep(0.05)
    assert sent[2][:2] == (CUSTOMER.phone, CUSTOMER.to)
    await people.close()
    assert people.replies == 3 and people.reply_errors == 0


async def test_a_missed_page_gets_no_reply() -> None:
    sent: list[str] = []

    async def send(sender: str, to: str, body: str) -> int:
        sent.append(body)
        return 200

    people = People(VENUES, send, behaviour=Behaviour(miss_share=1.0))
    people.on_event(ev("opened", alert={}))
    people.on_event(ev("page_sent", page_id="P4821-p0", kind="page", to_name="Ana"))
    await asyncio.sleep(0.05)
    await people.close()
    assert sent == []
