"""Parsing supervisors' SMS replies and customers' follow-up answers."""

from __future__ import annotations

import pytest

from pipeline.alerts.replies import (
    Action,
    FollowUpAnswer,
    SupervisorReply,
    parse_follow_up,
    parse_supervisor_reply,
)


@pytest.mark.parametrize(
    ("text", "action", "ref"),
    [
        ("OK 4821", Action.ACK, "4821"),
        ("ok", Action.ACK, None),
        ("Ok.", Action.ACK, None),
        ("ACK", Action.ACK, None),
        ("ack 4821", Action.ACK, "4821"),
        ("voy", Action.ACK, None),
        ("Voy 4821", Action.ACK, "4821"),
        ("en camino", Action.ACK, None),
        ("En camino!! 4821", Action.ACK, "4821"),
        ("on my way", Action.ACK, None),
        ("OK4821", Action.ACK, "4821"),
        ("4821 ok", Action.ACK, "4821"),
        ("ok #4821", Action.ACK, "4821"),
        ("DONE 4821", Action.RESOLVE, "4821"),
        ("RESUELTO 4821", Action.RESOLVE, "4821"),
        ("resuelto", Action.RESOLVE, None),
        ("Solucionado, 4821", Action.RESOLVE, "4821"),
        ("NC 4821", Action.NOT_COMPLAINT, "4821"),
        ("nc", Action.NOT_COMPLAINT, None),
        ("no es queja 4821", Action.NOT_COMPLAINT, "4821"),
        ("not a complaint", Action.NOT_COMPLAINT, None),
        ("  ok   4821  ", Action.ACK, "4821"),
    ],
)
def test_supervisor_replies(text: str, action: Action, ref: str | None) -> None:
    assert parse_supervisor_reply(text) == SupervisorReply(action, ref)


@pytest.mark.parametrize(
    "text", ["", "hola", "who is this?", "no voy", "not ok", "4821", "okupa", "STOP"]
)
def test_not_a_supervisor_reply(text: str) -> None:
    assert parse_supervisor_reply(text) is None


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("1", 1),
        ("2", 2),
        ("3", 3),
        ("4", 4),
        ("5", 5),
        (" 5 ", 5),
        ("4/5", 4),
        ("un 3 de 5", 3),
        ("cinco", 5),
        ("Cuatro!", 4),
        ("two", 2),
        ("uno", 1),
        ("👍", 4),
        ("😡", 1),
        ("😍😍", 5),
        ("★★★★★", 5),
        ("⭐⭐⭐", 3),
        ("sí", 4),
        ("no", 2),
    ],
)
def test_follow_up_answers(text: str, score: int) -> None:
    assert parse_follow_up(text) == FollowUpAnswer(score, score >= 4)


@pytest.mark.parametrize(("text", "recovered"), [("1", False), ("3", False), ("4", True)])
def test_recovered_means_four_or_five(text: str, recovered: bool) -> None:
    answer = parse_follow_up(text)
    assert answer is not None and answer.recovered is recovered


@pytest.mark.parametrize("text", ["", "   ", "0", "6", "8", "10", "gracias", "?"])
def test_not_a_follow_up_answer(text: str) -> None:
    assert parse_follow_up(text) is None
