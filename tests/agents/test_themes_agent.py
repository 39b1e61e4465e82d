"""Themes in the alert desk's agent (Faust `test_context`, no broker), with a fake tagger."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from pipeline.app import Pronto
from pipeline.records import ScoredFeedback
from tests.agents import test_agents as base
from tests.agents.test_agents import agent, feedback

ctx = base.ctx  # the fixture

BUS_THEMES = ("cleanliness", "crowding", "price", "punctuality", "safety", "staff", "temperature")


class FakeTagger:
    """Tags a word it knows; a correction teaches it every word of the text."""

    def __init__(self) -> None:
        self.words: dict[str, dict[str, list[str]]] = {}
        self.loaded: list[str] = []

    def theme_ids(self, kind: str, location_id: str) -> tuple[str, ...]:
        return BUS_THEMES

    def tag(self, text: str, *, kind: str, lang: str, location_id: str) -> tuple[str, ...]:
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


def scored(fid: str, score: int | None, text: str, label: str = "negative") -> bytes:
    fb = feedback(fid, score, text)
    return ScoredFeedback(feedback=fb.to_dict(), sentiment_negative=0.9, sentiment_label=label,
                          model_version=1, scored_at=time.time(), scores={}).to_json()  # fmt: skip


def install(ctx: Pronto) -> FakeTagger:
    assert ctx.themes is not None
    tagger = FakeTagger()
    ctx.themes.tagger = tagger
    return tagger


async def test_the_page_names_the_theme_and_each_feedback_counts_once(ctx: Pronto) -> None:
    install(ctx)
    async with agent(ctx, "alert_desk").test_context() as a:
        await a.put(key=b"bus-42", value=scored("f1", 2, "otra vez tarde"), partition=1)
        await a.put(key=b"bus-42", value=scored("f1", 2, "otra vez tarde"), partition=1)  # a copy
        await a.put(key=b"bus-42", value=scored("f2", 9, "limpio pero tarde", "positive"))
    (page,) = [m for m in ctx.topics["outbox"].values() if m["kind"] == "page"]  # type: ignore[attr-defined]
    assert "tema: puntualidad" in page["body"]
    assert ctx.tables["alerts"][page["ref"]]["themes"] == ["punctuality"]
    assert ctx.themes is not None
    counts = ctx.themes.counts
    got = {k.split("|")[1] + "|" + k.split("|")[3]: v[0] for k, v in counts.items()}
    assert got == {"5m|punctuality:negative": 1, "1h|punctuality:negative": 1,
                   "24h|punctuality:negative": 1, "5m|punctuality:positive": 1,
                   "1h|punctuality:positive": 1, "24h|punctuality:positive": 1}  # fmt: skip
    sample = ctx.registry.get_sample_value(
        "pronto_feedback_themes_total",
        {"location": "bus-42", "theme": "punctuality", "sentiment": "negative"},
    )
    assert sample == 1.0
    assert ctx.themes.top_themes("bus-42") == ("punctuality",)


async def test_a_drift_notice_names_the_top_negative_theme_of_the_last_hour(ctx: Pronto) -> None:
    install(ctx)
    drift = {"schema": 1, "type": "drift", "location_id": "bus-42", "at": time.time(),
             "before": 0.8, "after": 0.4, "n": 40}  # fmt: skip
    async with agent(ctx, "alert_desk").test_context() as a:
        for i in range(3):
            await a.put(key=b"bus-42", value=scored(f"f{i}", 9, "llego tarde", "negative"))
        await a.put(key=b"bus-42", value=scored("g", 9, "sucio", "negative"))
        await a.put(key=b"bus-42", value=json.dumps(drift).encode())
    (notice,) = [m for m in ctx.topics["outbox"].values() if m["kind"] == "manager"]  # type: ignore[attr-defined]
    assert "mas quejas: puntualidad" in notice["body"], notice["body"]


async def test_a_console_correction_is_learned_at_once_and_kept_for_the_location(
    ctx: Pronto,
) -> None:
    tagger = install(ctx)
    async with agent(ctx, "alert_desk").test_context() as a:
        await a.put(key=b"bus-42", value=scored("f1", 1, "va hasta los topes"))
        await asyncio.sleep(0.05)  # the agent finishes the record
        (page,) = ctx.topics["outbox"].values()  # type: ignore[attr-defined]
        assert "tema" not in page["body"]
        cmd = {"schema": 1, "type": "set_themes", "ref": page["ref"], "themes": ["crowding"],
               "by": "Ana", "channel": "console"}  # fmt: skip
        await a.put(key=b"bus-42", value=json.dumps(cmd).encode())
        await a.put(key=b"bus-42", value=scored("f2", 2, "HASTA LOS TOPES otra vez"))
    events = ctx.topics["events"].values()  # type: ignore[attr-defined]
    (fix,) = [e for e in events if e["event"] == "themes_corrected"]
    assert (fix["before"], fix["after"], fix["by"]) == ([], ["crowding"], "Ana")
    opened = [e["alert"] for e in events if e["event"] == "opened"]
    assert opened[-1]["feedback_ids"] == ["f2"]
    assert opened[-1]["themes"] == ["crowding"]  # the next message with those words
    assert ctx.tables["theme_vocab"]["bus-42"] == tagger.vocab("bus-42")
    # After a restart (or a rebalance) the location's vocabulary comes back from the table.
    fresh = install(ctx)
    assert ctx.themes is not None
    ctx.themes.on_assigned()
    assert ctx.themes.tag(ctx.venues.by_id("bus-42"), feedback("f3", None, "a los topes")) == (  # type: ignore[arg-type]
        "crowding",
    )
    assert fresh.loaded == ["bus-42"]
