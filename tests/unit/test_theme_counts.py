"""The score stage's theme counts, the pure parts: extra fields of a location's rolling
value, taken once per record under a replay, read back per window, the top themes."""

from __future__ import annotations

from pipeline.config import Location
from pipeline.records import Feedback, ScoredFeedback
from pipeline.scoring import theme_counts as tc
from pipeline.scoring.location_counts import LocationCounts
from pipeline.scoring.windows import parse_windows
from pipeline.themes.venue import CORRECTED, VenueThemes, make_tagger

WINDOWS = parse_windows("5m,1h,24h")


def test_counts_take_each_record_once_and_read_back_per_window() -> None:
    counts, now = LocationCounts(), 100_000.0

    def count(themes: tuple[str, ...], sentiment: str, offset: int, at: float) -> bool:
        incs = tc.increments(themes, sentiment, tc.event_time(at, now, 120.0), WINDOWS)
        return counts.add_once(incs, 0, offset)

    assert count(("food", "wait"), "negative", 1, now - 10)
    assert not count(("food", "wait"), "negative", 1, now - 10)  # replayed after a crash
    assert count(("food",), "positive", 2, now - 2000)  # scored late: in a bucket still open
    assert count(("noise",), "neutral", 3, now - 7200)
    assert tc.increments(("noise",), "made-up", now, WINDOWS) == []  # not a sentiment
    # The value (one table record) round-trips, mark and theme counts together.
    got = tc.summarize(LocationCounts.from_value(counts.to_value()), WINDOWS, now)
    assert got["5m"]["food"] == {"negative": 1, "neutral": 0, "positive": 1, "n": 2}
    assert got["1h"]["wait"]["n"] == 1 and got["24h"]["noise"]["n"] == 1
    assert [t["theme"] for t in tc.top_themes(got, WINDOWS)] == ["food", "wait", "noise"]
    assert tc.top_negative(counts, WINDOWS, now) == ("food",)  # a tie: the first by name


def test_theme_counts_live_beside_the_scores_and_expire_with_their_windows() -> None:
    counts, now = LocationCounts(), 100_000.0
    counts.add_once(
        [("5m", "csat_n", 99_990, 1), *tc.increments(["food"], "negative", now, WINDOWS)], 0, 1
    )
    assert counts.totals(WINDOWS[0], now, ("csat_n",)) == {"csat_n": 1}  # the scores read as before
    counts.prune(now + 2 * 86_400, WINDOWS, 120.0)
    assert counts.buckets == {} and tc.summarize(counts, WINDOWS, now + 2 * 86_400) == {}


def test_a_shared_tagger_learns_a_correction_and_keeps_it_in_its_table() -> None:
    loc = Location(id="resto-sol", name="Sol", kind="restaurant")
    vocab: dict[str, object] = {}
    first = VenueThemes(make_tagger([loc]), vocab)
    text = "las avispas de la terraza"
    assert "cleanliness" not in first.tag(loc, text, "es")
    ev = {"event": CORRECTED, "text": text, "after": ["cleanliness", "made-up"], "lang": "es"}
    assert first.learn(loc, ev)
    assert first.tag(loc, text, "es") == ("cleanliness",)
    assert not first.learn(loc, {**ev, "text": ""})  # a trend alert: no customer words
    second = VenueThemes(make_tagger([loc]), vocab)  # another stage, or after a restart
    assert second.tag(loc, text, "es") == ("cleanliness",)


def test_a_scored_record_carries_its_themes_and_one_without_them_still_decodes() -> None:
    fb = Feedback("f1", 1.0, "sms", "bus-42", text="tarde")
    sf = ScoredFeedback(fb.to_dict(), 0.9, "negative", 1, 2.0, themes=["punctuality"],
                        top_theme="punctuality")  # fmt: skip
    back = ScoredFeedback.from_json(sf.to_json())
    assert (back.themes, back.top_theme) == (["punctuality"], "punctuality")
    old = {k: v for k, v in sf.to_dict().items() if k not in ("themes", "top_theme")}
    assert ScoredFeedback.from_dict(old).themes is None
