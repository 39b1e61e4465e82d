"""The simulator's feedback mix: reproducible, realistic proportions, and honest about scores."""

from __future__ import annotations

import random
from collections import Counter
from itertools import islice

import pytest

from pipeline.alerts.replies import parse_follow_up
from pipeline.alerts.rules import evaluate_feedback, safety_keyword
from pipeline.config import Location, load_venues
from pipeline.devtools.feedback_mix import (
    DISSATISFIED_SHARE,
    HOME_LANG_SHARE,
    SimMessage,
    burst,
    customer_pool,
    follow_up_text,
    generate,
)
from pipeline.kafka_local import deploy_dir
from pipeline.scoring.extract import extract_score

VENUES = load_venues(deploy_dir() / "pronto.demo.toml").locations
N = 4000


def sample(seed: int, n: int = N, venues: tuple[Location, ...] = VENUES) -> list[SimMessage]:
    return list(islice(generate(seed, venues), n))


def test_the_same_seed_gives_the_same_messages_and_another_seed_does_not() -> None:
    assert sample(11, 300) == sample(11, 300)
    assert [m.text for m in sample(11, 300)] != [m.text for m in sample(12, 300)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_about_fifteen_percent_are_dissatisfied(seed: int) -> None:
    msgs = sample(seed)
    share = sum(m.dissatisfied for m in msgs) / len(msgs)
    assert share == pytest.approx(DISSATISFIED_SHARE, abs=0.025)


def test_a_dissatisfied_score_opens_an_alert_and_a_satisfied_one_does_not() -> None:
    by_id = {loc.id: loc for loc in VENUES}
    for m in sample(4):
        if m.score is None or m.safety:
            continue
        decision = evaluate_feedback(by_id[m.location_id], m.score, m.scale, m.text, None)
        assert (decision is not None) == m.dissatisfied, m


def test_language_follows_the_venue_about_seventy_thirty() -> None:
    for loc in VENUES:
        msgs = sample(5, 3000, (loc,))
        home = sum(m.lang == loc.lang for m in msgs) / len(msgs)
        assert home == pytest.approx(HOME_LANG_SHARE, abs=0.04), loc.id
    assert {m.lang for m in sample(5, 500)} == {"es", "en"}


def test_the_mix_has_the_textures_of_real_sms() -> None:
    msgs = sample(6)
    texts = " ".join(m.text for m in msgs)
    for token in (" q ", "xq", "tb", "pls", "★", "/10", "/5", "nueve", "un "):
        assert token in texts, token
    assert any(c in texts for c in "😍🙂😞👍"), "no emoji"
    assert any(c in texts for c in "áéíóúñ"), "no accents"
    assert 0.08 < sum(m.score is None for m in msgs) / len(msgs) < 0.25  # text-only messages
    safety = [m for m in msgs if m.safety]
    assert 0 < len(safety) < 0.03 * len(msgs)
    assert all(safety_keyword(m.text) for m in safety), [m.text for m in safety]


def test_customers_come_from_a_fixed_pool_and_some_write_twice() -> None:
    pool = {p for p, _ in customer_pool(7)}
    msgs = sample(7, 1000)
    phones = Counter(m.phone for m in msgs)
    assert set(phones) <= pool
    assert max(phones.values()) >= 2
    supervisors = {s.phone for loc in VENUES for s in loc.supervisors}
    assert not pool & supervisors, "a fake customer must never look like a supervisor"


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_the_extractor_finds_exactly_the_score_the_generator_wrote(seed: int) -> None:
    by_id = {loc.id: loc for loc in VENUES}
    msgs = sample(seed) + [m for loc in VENUES for m in burst(seed, loc, 40)]
    mismatches = []
    for m in msgs:
        found = extract_score(m.text, by_id[m.location_id].scale)
        got = (found.score, found.scale) if found else None
        want = (m.score, m.scale) if m.score is not None else None
        if got != want:
            mismatches.append((m.text, want, got))
    assert mismatches == []


def test_a_burst_is_many_customers_on_one_issue_at_one_venue() -> None:
    bus = next(loc for loc in VENUES if loc.kind == "bus")
    msgs = burst(3, bus, 12)
    assert {m.location_id for m in msgs} == {bus.id}
    assert len({m.phone for m in msgs}) >= 8
    assert all(m.burst and m.dissatisfied for m in msgs)
    words = " ".join(m.comment.lower() for m in msgs)
    assert "aire" in words or "ac" in words


def test_follow_up_answers_parse_as_the_outcome_they_mean() -> None:
    rng = random.Random(1)
    for lang in ("es", "en"):
        for recovered in (True, False):
            for _ in range(30):
                answer = parse_follow_up(follow_up_text(rng, lang, recovered))
                assert answer is not None and answer.recovered == recovered
