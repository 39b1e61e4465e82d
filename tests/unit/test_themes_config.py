"""Venue themes in the venues file: `[locations.themes]`, validated with clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.config import ConfigError, load_venues, parse_venues
from pipeline.settings import deploy_dir
from pipeline.themes import ThemeTagger, custom_themes


def _venues(themes: Any) -> dict[str, Any]:
    loc: dict[str, Any] = {
        "id": "bus-42",
        "kind": "bus",
        "supervisors": [{"name": "A", "phone": "+1"}, {"name": "B", "phone": "+2"}],
        "escalation": {"chain": ["A", "B"], "manager": "B"},
    }
    if themes is not None:
        loc["themes"] = themes
    return {"locations": [loc]}


def test_themes_are_optional() -> None:
    assert parse_venues(_venues(None)).locations[0].themes == {}


def test_themes_parse_into_tuples() -> None:
    loc = parse_venues(_venues({"accessibility": ["rampa", "silla de ruedas"]})).locations[0]
    assert loc.themes == {"accessibility": ("rampa", "silla de ruedas")}


@pytest.mark.parametrize(
    ("themes", "message"),
    [
        (["rampa"], "a table"),
        ({"Access": ["rampa"]}, "theme id 'Access'"),
        ({"a": ["rampa"]}, "theme id 'a'"),
        ({"x" * 32: ["rampa"]}, "must match"),
        ({"accessibility": []}, "non-empty list"),
        ({"accessibility": "rampa"}, "non-empty list"),
        ({"accessibility": ["  "]}, "non-empty strings"),
        ({"accessibility": [3]}, "non-empty strings"),
        ({"accessibility": ["ab*"]}, "prefix"),
        ({f"t{i:02d}": ["x"] for i in range(21)}, "at most 20"),
    ],
)
def test_bad_themes_name_the_field(themes: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        parse_venues(_venues(themes))
    assert "locations[0].themes" in str(err.value)


def test_the_demo_file_s_themes_reach_the_tagger() -> None:
    venues = load_venues(deploy_dir() / "pronto.demo.toml")
    tagger = ThemeTagger(custom_themes(venues.locations))
    assert "accessibility" in tagger.theme_ids("bus", "bus-42")
    assert tagger.tag("no bajaron la rampa", kind="bus", location_id="bus-42") == ("accessibility",)
    assert "pool" in tagger.theme_ids("hotel", "hotel-mar")
