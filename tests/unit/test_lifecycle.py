"""The alert state machine: transitions, the audit trail, refs, timers, serialisation."""

from __future__ import annotations

import json
import pickle

import pytest

from pipeline.alerts.lifecycle import (
    Alert,
    Due,
    Outcome,
    State,
    TransitionError,
    acknowledge,
    dismiss,
    due_timers,
    escalate,
    expire,
    follow_up,
    join,
    make_ref,
    notify_manager,
    open_alert,
    page,
    resolve,
)

T0 = 1_700_000_000.0


def opened(**kw: object) -> Alert:
    a, _ = open_alert(
        "4821", "bus-42", "cust-1", "fb-1", "low_score", False, T0,
        text="muy lento", score=3, scale="nps10", channel="sms", contact="enc", lang="es",
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    return a


def test_happy_path_records_every_step() -> None:
    a = opened()
    assert a.state == State.OPENED and a.is_open
    a, ev = page(a, "Ana", T0 + 1)
    assert (a.state, a.paged_at, a.recipients) == (State.PAGED, T0 + 1, ("Ana",))
    assert [e.kind for e in ev] == ["paged"]
    a, _ = acknowledge(a, "Ana", T0 + 20)
    assert (a.state, a.acked_at, a.acked_by) == (State.ACKNOWLEDGED, T0 + 20, "Ana")
    a, _ = resolve(a, "Ana", T0 + 50)
    assert (a.state, a.resolved_at) == (State.RESOLVED, T0 + 50)
    assert not a.is_open
    a, ev = follow_up(a, True, T0 + 200)
    assert (a.state, a.outcome) == (State.FOLLOWED_UP, Outcome.RECOVERED)
    assert [h[1] for h in a.history] == [
        "opened", "paged", "acknowledged", "resolved", "followed_up",
    ]  # fmt: skip
    assert [h[0] for h in a.history] == [T0, T0 + 1, T0 + 20, T0 + 50, T0 + 200]
    assert ev[0].ref == "4821" and ev[0].location_id == "bus-42"


def test_transitions_do_not_mutate_the_input() -> None:
    a = opened()
    b, _ = page(a, "Ana", T0 + 1)
    assert a.state == State.OPENED and a.history != b.history and a.recipients == ()


def test_opened_at_can_be_the_customers_message_time() -> None:
    a, _ = open_alert("1", "x", "c", "f", "safety", True, T0 + 2, opened_at=T0)
    assert a.opened_at == T0 and a.history[0][0] == T0 + 2


def test_escalation_raises_the_level_and_repages() -> None:
    a, _ = page(opened(), "Ana", T0 + 1)
    a, ev = escalate(a, "Luis", T0 + 61)
    assert (a.state, a.level, a.last_paged_at, a.paged_at) == (State.ESCALATED, 1, T0 + 61, T0 + 1)
    assert a.recipients == ("Ana", "Luis") and "Luis" in ev[0].detail
    a, _ = escalate(a, "Marta", T0 + 121)
    assert a.level == 2 and a.recipients[-1] == "Marta"
    a, _ = acknowledge(a, "Marta", T0 + 130)
    assert a.acked_by == "Marta"


def test_resolve_without_ack_acknowledges_too() -> None:
    a, _ = page(opened(), "Ana", T0 + 1)
    a, ev = resolve(a, "Ana", T0 + 40)
    assert [e.kind for e in ev] == ["acknowledged", "resolved"]
    assert a.acked_at == T0 + 40 and a.resolved_by == "Ana"


@pytest.mark.parametrize(
    "bad",
    [
        lambda a: acknowledge(resolve(a, "Ana", T0 + 5)[0], "Ana", T0 + 6),  # ack after resolve
        lambda a: follow_up(a, True, T0 + 5),  # follow-up before resolve
        lambda a: page(page(a, "Ana", T0 + 1)[0], "Ana", T0 + 2),  # paged twice
        lambda a: escalate(a, "Luis", T0 + 5),  # escalate before any page
        lambda a: join(resolve(a, "Ana", T0 + 5)[0], "fb-2", "x", T0 + 6),
        lambda a: expire(expire(a, T0 + 5)[0], T0 + 6),
        lambda a: notify_manager(notify_manager(a, T0 + 5)[0], T0 + 6),
        lambda a: resolve(dismiss(a, "Ana", T0 + 5)[0], "Ana", T0 + 6),
    ],
)
def test_invalid_transitions_raise(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TransitionError):
        bad(opened())


def test_follow_up_not_recovered() -> None:
    a, _ = resolve(opened(), "Ana", T0 + 5)
    a, _ = follow_up(a, False, T0 + 100)
    assert a.outcome == Outcome.NOT_RECOVERED and a.followed_up_at == T0 + 100


def test_join_adds_the_message_once_and_can_make_it_urgent() -> None:
    a, _ = page(opened(), "Ana", T0 + 1)
    a, ev = join(a, "fb-2", "y ahora hay humo", T0 + 10, p_negative=0.9, urgent=True)
    assert a.feedback_ids == ("fb-1", "fb-2")
    assert a.text == "y ahora hay humo" and a.urgent and a.p_negative == 0.9
    assert a.score == 3  # no new score: the old one stays
    assert [e.kind for e in ev] == ["joined", "urgent"]
    again, ev2 = join(a, "fb-2", "y ahora hay humo", T0 + 11)
    assert again == a and ev2 == []
    a, _ = join(a, "fb-3", "", T0 + 12, score=1, scale="nps10")
    assert (a.score, a.text) == (1, "y ahora hay humo")


def test_dict_and_json_round_trip() -> None:
    a, _ = page(opened(), "Ana", T0 + 1)
    a, _ = join(a, "fb-2", "más", T0 + 3)
    d = json.loads(json.dumps(a.to_dict()))
    assert d["state"] == "paged"
    assert Alert.from_dict(d) == a
    assert Alert.from_dict({**d, "from_a_newer_writer": 1}) == a
    assert pickle.loads(pickle.dumps(a)) == a


def test_make_ref_is_short_stable_and_avoids_collisions() -> None:
    ref = make_ref("fb-1", lambda r: False)
    assert len(ref) == 4 and ref.isdigit()
    assert make_ref("fb-1", lambda r: False) == ref
    taken = {ref}
    other = make_ref("fb-1", taken.__contains__)
    assert other != ref and len(other) == 4


def test_make_ref_grows_when_four_digits_keep_colliding() -> None:
    ref = make_ref("seed", lambda r: len(r) == 4)
    assert len(ref) == 5


def test_make_ref_spreads_refs() -> None:
    refs = {make_ref(f"fb-{i}", lambda r: False) for i in range(200)}
    assert len(refs) > 180  # a few birthday collisions among 10,000 values, no more


def test_due_timers_escalate_after_the_ack_timeout_until_the_top_level() -> None:
    a, _ = page(opened(), "Ana", T0 + 1)
    assert due_timers(a, T0 + 60, 60, 600) == []
    assert due_timers(a, T0 + 61, 60, 600) == [Due.ESCALATE]
    a, _ = escalate(a, "Luis", T0 + 61)
    assert due_timers(a, T0 + 100, 60, 600) == []  # the timer restarts at the new page
    assert due_timers(a, T0 + 121, 60, 600) == [Due.ESCALATE]
    a, _ = escalate(a, "Marta", T0 + 121)
    assert due_timers(a, T0 + 300, 60, 600, max_level=2) == []  # the manager has it


def test_due_timers_notify_the_manager_once_when_overdue() -> None:
    a, _ = acknowledge(page(opened(), "Ana", T0 + 1)[0], "Ana", T0 + 10)
    assert due_timers(a, T0 + 599, 60, 600) == []
    assert due_timers(a, T0 + 600, 60, 600) == [Due.NOTIFY_MANAGER]
    a, _ = notify_manager(a, T0 + 600)
    assert due_timers(a, T0 + 900, 60, 600) == []


def test_due_timers_expire() -> None:
    a, _ = page(opened(), "Ana", T0 + 1)
    assert due_timers(a, T0 + 7200, 60, 600, expire_after_s=7200) == [Due.EXPIRE]
    a, _ = expire(a, T0 + 7200, "customer gone")
    assert a.state == State.EXPIRED and due_timers(a, T0 + 9999, 60, 600) == []
    r, _ = resolve(opened(), "Ana", T0 + 10)
    assert due_timers(r, T0 + 1000, 60, 600, follow_up_timeout_s=3600) == []
    assert due_timers(r, T0 + 3610, 60, 600, follow_up_timeout_s=3600) == [Due.EXPIRE]


def test_the_alerts_table_keeps_an_alert_as_its_changelog_bytes() -> None:
    """The alert stage stores compact JSON: the same bytes Faust's JSON codec wrote for the
    dict before (so a changelog written by the previous release replays), in a fraction of
    the memory of the decoded dict."""
    import gc
    import tracemalloc

    import orjson
    from faust.serializers import codecs

    from pipeline.alerts.stage import loaded, stored

    a, _ = page(opened(themes=("cleanliness",)), "Ana", T0 + 1)
    a, _ = join(a, "fb-2", "y el baño sucio", T0 + 3)
    assert stored(a) == codecs.dumps("json", a.to_dict())  # the previous release's value
    assert loaded(stored(a)) == a
    gc.collect()
    sizes = []
    raw = stored(a)
    for keep in (lambda: orjson.loads(raw), lambda: stored(a)):  # before (replayed), now
        tracemalloc.start()
        kept = [keep() for _ in range(1_000)]
        sizes.append(tracemalloc.get_traced_memory()[0] / len(kept))
        tracemalloc.stop()
        del kept
    as_dict, as_bytes = sizes
    assert as_bytes < as_dict / 3, sizes  # 736 bytes against 3,016 measured
