"""Themes in the agents (Faust `test_context`, no broker), with a fake tagger: the score stage
tags and counts each feedback (its scored record carries the themes), the alert stage tags
only the fast-path copy, and both learn a supervisor's correction at once."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import orjson

from pipeline.app import Pronto
from pipeline.records import ScoredFeedback
from pipeline.scoring import theme_counts as tc
from pipeline.scoring.drift import DriftEvent, DriftMonitor
from pipeline.scoring.location_counts import LocationCounts
from pipeline.themes.venue import CORRECTED
from tests.agents import test_agents as base
from tests.agents.test_agents import agent, feedback

ctx = base.ctx  # the fixture

BUS_THEMES = ("cleanliness", "crowding", "price", "punctuality", "safety", "staff", "temperature")


class FakeTagger:
    """Tags a word it knows; a correction teaches it every word of the text."""

    def __init__(self) -> None:
        self.words: dict[str, dict[str, list[str]]] = {}
        self.loaded: list[str] = []
        self.tagged: list[str] = []  # the texts it was asked to tag

    def theme_ids(self, kind: str, location_id: str) -> tuple[str, ...]:
        return BUS_THEMES

    def tag(self, text: str, *, kind: str, lang: str, location_id: str) -> tuple[str, ...]:
        self.tagged.append(text)
        known = {
            "tarde": ["punctuality"],
            "sucio": ["cleanliness"],
            **self.words.get(location_id, {}),
        }
        return tuple(sorted({t for w in text.lower().split() for t in known.get(w, [])}))

    def learn(self, text: str, themes: tuple[str, ...], *, kind: str, lang: str,
              location_id: str) -> None:  # fmt: skip
        for w in text.lower().split():
            self.words.setdefault(location_id, {})[w] = list(themes)

    def vocab(self, location_id: str) -> dict[str, Any]:
        return {"words": self.words.get(location_id, {})}

    def load_vocab(self, location_id: str, doc: dict[str, Any]) -> None:
        self.loaded.append(location_id)
        self.words[location_id] = dict(doc["words"])


def scored(fid: str, score: int | None, text: str, label: str = "negative",
           themes: list[str] | None = None) -> bytes:  # fmt: skip
    fb = feedback(fid, score, text)
    return ScoredFeedback(feedback=fb.to_dict(), sentiment_negative=0.9, sentiment_label=label,
                          model_version=1, scored_at=time.time(), scores={},
                          themes=themes).to_json()  # fmt: skip


def score_tagger(ctx: Pronto) -> FakeTagger:
    assert ctx.themes is not None
    tagger = FakeTagger()
    ctx.themes.venue.use(tagger)
    return tagger


def alert_tagger(ctx: Pronto) -> FakeTagger:
    assert ctx.alert_themes is not None
    tagger = FakeTagger()
    ctx.alert_themes.venue.use(tagger)
    return tagger


def published(ctx: Pronto) -> list[ScoredFeedback]:
    return [ScoredFeedback.from_dict(v) for v in ctx.topics["scored"].values()]  # type: ignore[attr-defined]


def themes_total(ctx: Pronto, theme: str, sentiment: str) -> float | None:
    return ctx.registry.get_sample_value(
        "pronto_feedback_themes_total",
        {"location": "bus-42", "theme": theme, "sentiment": sentiment},
    )


async def test_the_score_stage_counts_each_feedbacks_themes_once_even_replayed(
    ctx: Pronto,
) -> None:
    score_tagger(ctx)
    f1 = feedback("f1", 2, "otra vez tarde")
    async with agent(ctx, "score").test_context() as a:
        await a.put(key=b"bus-42", value=f1.to_json(), partition=1)
        await asyncio.sleep(0.05)  # the agent finishes the record
        # A crash: the counters' value landed, the dedupe mark did not, and the consumer
        # group resumes at the same offset. The replay is scored again, not counted again.
        del ctx.tables["seen"].data["f1"]
        a.sent_offset -= 1
        await a.put(key=b"bus-42", value=f1.to_json(), partition=1)
        await a.put(key=b"bus-42", value=f1.to_json(), partition=1)  # a retried webhook
        await a.put(key=b"bus-42", value=feedback("f2", 9, "limpio pero tarde").to_json(),
                    partition=1)  # fmt: skip
        await a.put(key=b"bus-42", value=feedback("f3", None, "nada que decir").to_json(),
                    partition=1)  # fmt: skip
    scored = published(ctx)
    assert [s.fb.id for s in scored] == ["f1", "f1", "f2", "f3"]
    assert [s.themes for s in scored] == [["punctuality"], ["punctuality"], ["punctuality"], []]
    assert scored[-1].top_theme == "punctuality"  # for a trend notice to name
    counts = LocationCounts.from_value(ctx.tables["counters"]["bus-42"])
    got = tc.summarize(counts, ctx.windows, time.time())
    for window in ("5m", "1h", "24h"):
        assert got[window] == {"punctuality": {"negative": 1, "neutral": 0, "positive": 1, "n": 2}}
    assert themes_total(ctx, "punctuality", "negative") == 1.0  # the replay: not again
    assert themes_total(ctx, "punctuality", "positive") == 1.0
    # `GET /api/v1/themes` reads the same value, in the shape the console and Grafana know.
    assert ctx.themes is not None
    loc = ctx.venues.by_id("bus-42")
    assert loc is not None
    doc = ctx.themes.location(loc, counts, time.time())
    assert doc["themes"] == list(BUS_THEMES) and set(doc["windows"]) == {"5m", "1h", "24h"}
    assert [(t["theme"], t["negative"], t["n"]) for t in doc["top"]] == [("punctuality", 1, 2)]


class DropOnZero(DriftMonitor):
    """A drift detector that fires on a 0 answer."""

    def update(self, location: str, value: float) -> DriftEvent | None:
        return DriftEvent(location, 0.8, 0.4, 40, 10) if value == 0.0 else None


async def test_a_drift_notice_names_the_top_negative_theme_the_score_stage_counted(
    ctx: Pronto,
) -> None:
    score_tagger(ctx)
    assert ctx.install_model is not None and ctx.model is not None
    ctx.install_model(ctx.model, DropOnZero())
    async with agent(ctx, "score").test_context() as a:
        for i in range(2):
            await a.put(key=b"bus-42", value=feedback(f"f{i}", 2, "llego tarde").to_json())
        await a.put(key=b"bus-42", value=feedback("g", 0, "sucio").to_json())
    (drift,) = ctx.topics["commands"].values()  # type: ignore[attr-defined]
    assert drift["type"] == "drift" and drift["top_theme"] == "punctuality"
    alert_tagger(ctx)
    async with agent(ctx, "alert_desk_urgent").test_context() as a:
        await a.put(key=b"bus-42", value=json.dumps(drift).encode())
    (notice,) = [m for m in ctx.topics["outbox"].values() if m["kind"] == "manager"]  # type: ignore[attr-defined]
    assert "mas quejas: puntualidad" in notice["body"], notice["body"]


async def test_the_score_stage_learns_a_correction_at_once_and_keeps_it(ctx: Pronto) -> None:
    tagger = score_tagger(ctx)
    fix = {"schema": 1, "event": CORRECTED, "ref": "1234", "location_id": "bus-42",
           "at": time.time(), "before": [], "after": ["crowding", "made-up"], "by": "Ana",
           "text": "va hasta los topes", "lang": "es"}  # fmt: skip
    async with agent(ctx, "learn_corrections").test_context() as a:
        await a.put(key=b"bus-42", value=json.dumps(fix).encode())
    assert ctx.tables["score_theme_vocab"]["bus-42"] == tagger.vocab("bus-42")
    async with agent(ctx, "score").test_context() as a:
        await a.put(key=b"bus-42", value=feedback("f2", 2, "HASTA LOS TOPES otra vez").to_json())
    assert published(ctx)[-1].themes == ["crowding"]  # the next message with those words
    # After a restart (or a rebalance) the location's vocabulary comes back from the table.
    fresh = score_tagger(ctx)
    await ctx.app.on_partitions_assigned.send(set())
    assert ctx.themes is not None
    loc = ctx.venues.by_id("bus-42")
    assert loc is not None
    assert ctx.themes.venue.tag(loc, "a los topes", "es") == ("crowding",)
    assert fresh.loaded == ["bus-42"]


async def test_the_alert_stage_takes_the_scored_themes_and_tags_only_the_fast_path_copy(
    ctx: Pronto,
) -> None:
    tagger = alert_tagger(ctx)
    async with agent(ctx, "alert_desk").test_context() as a:
        await a.put(key=b"bus-42", value=scored("f1", 2, "otra vez tarde", themes=["punctuality"]))
    (page,) = [m for m in ctx.topics["outbox"].values() if m["kind"] == "page"]  # type: ignore[attr-defined]
    assert "tema: puntualidad" in page["body"]
    assert orjson.loads(ctx.tables["alerts"][page["ref"]])["themes"] == ["punctuality"]
    assert tagger.tagged == []  # tagged once, by the score stage
    async with agent(ctx, "alert_desk_urgent").test_context() as a:
        await a.put(key=b"bus-42", value=scored("f2", 1, "todo sucio"))  # the fast path's copy
    async with agent(ctx, "alert_desk").test_context() as a:
        await a.put(key=b"bus-42", value=scored("f2", 1, "todo sucio", themes=["cleanliness"]))
        await a.put(key=b"bus-42", value=scored("f3", 1, "tarde"))  # a record from before
    assert tagger.tagged == ["todo sucio", "tarde"]
    events = ctx.topics["events"].values()  # type: ignore[attr-defined]
    opened = {e["alert"]["feedback_ids"][0]: e["alert"]["themes"] for e in events
              if e["event"] == "opened"}  # fmt: skip
    assert opened == {"f1": ["punctuality"], "f2": ["cleanliness"], "f3": ["punctuality"]}


async def test_a_console_correction_is_learned_at_once_by_the_alert_stage_too(
    ctx: Pronto,
) -> None:
    tagger = alert_tagger(ctx)
    async with agent(ctx, "alert_desk").test_context() as a:
        await a.put(key=b"bus-42", value=scored("f1", 1, "va hasta los topes", themes=[]))
        await asyncio.sleep(0.05)  # the agent finishes the record
    (page,) = ctx.topics["outbox"].values()  # type: ignore[attr-defined]
    assert "tema" not in page["body"]
    cmd = {"schema": 1, "type": "set_themes", "ref": page["ref"], "themes": ["crowding"],
           "by": "Ana", "channel": "console"}  # fmt: skip
    async with agent(ctx, "alert_desk_urgent").test_context() as a:
        await a.put(key=b"bus-42", value=json.dumps(cmd).encode())
        await a.put(key=b"bus-42", value=scored("f2", 2, "HASTA LOS TOPES otra vez"))
    events = ctx.topics["events"].values()  # type: ignore[attr-defined]
    (fix,) = [e for e in events if e["event"] == "themes_corrected"]
    assert (fix["before"], fix["after"], fix["by"]) == ([], ["crowding"], "Ana")
    opened = [e["alert"] for e in events if e["event"] == "opened"]
    assert opened[-1]["feedback_ids"] == ["f2"]
    assert opened[-1]["themes"] == ["crowding"]  # the fast-path copy of the next message
    assert ctx.tables["theme_vocab"]["bus-42"] == tagger.vocab("bus-42")
    fresh = alert_tagger(ctx)
    await ctx.app.on_partitions_assigned.send(set())
    assert ctx.alert_themes is not None
    loc = ctx.venues.by_id("bus-42")
    assert loc is not None
    assert ctx.alert_themes.venue.tag(loc, "a los topes", "es") == ("crowding",)
    assert fresh.loaded == ["bus-42"]
