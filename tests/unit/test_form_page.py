"""The QR-code form pages: structure, accessibility hooks, kiosk mode, escaping, language."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from html.parser import HTMLParser

import pytest

from pipeline.config import Location
from pipeline.ingest import form_page

HOSTILE = '<script>alert("x")</script>&"\''


@dataclass
class FieldError:  # what pipeline.ingest.web.ValidationError carries
    field: str
    message: str


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside each element with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]


def parse(html: str) -> Tags:
    p = Tags()
    p.feed(html)
    return p


def loc(scale: str = "csat5", **kw: object) -> Location:
    return replace(Location(id="bus-42", name="Línea 42", scale=scale, lang="es"), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("scale", "values"), [("csat5", range(1, 6)), ("nps10", range(11))])
def test_score_buttons_follow_the_scale_and_each_has_a_label(scale: str, values: range) -> None:
    tags = parse(form_page.render_form(loc(scale), "en", kiosk=False))
    radios = tags.find("input", type="radio", name="score")
    assert [r["value"] for r in radios] == [str(v) for v in values]
    for r in radios:
        assert len(tags.find("label", **{"for": r["id"]})) == 1
    assert tags.find("fieldset") and tags.find("legend")


def test_form_posts_score_comment_phone_to_itself() -> None:
    tags = parse(form_page.render_form(loc(), "es", kiosk=False))
    (form,) = tags.find("form")
    assert form["method"] == "post" and form["action"] == "/f/bus-42"
    assert tags.find("textarea", name="comment")
    (phone,) = tags.find("input", name="phone")
    assert phone["type"] == "tel"
    note = phone["aria-describedby"].split()[0]
    assert tags.find("p", id=note)  # the "only used to reply" note is tied to the field
    for field in ("comment", "phone"):
        assert tags.find("label", **{"for": field})
    assert tags.find("button", type="submit")


def test_nothing_is_loaded_from_elsewhere() -> None:
    html = form_page.render_form(loc(), "en", kiosk=True)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    assert not re.search(r"""<link[^>]+href=["'](?!data:)""", html)


@pytest.mark.parametrize("scale", ["csat5", "nps10"])
def test_kiosk_has_five_faces_on_the_scale_and_no_phone(scale: str) -> None:
    tags = parse(form_page.render_form(loc(scale), "en", kiosk=True))
    radios = tags.find("input", type="radio", name="score")
    assert [int(r["value"]) for r in radios] == list(form_page.FACE_SCORES[scale])
    html = form_page.render_form(loc(scale), "en", kiosk=True)
    assert all(face in html for face in form_page.FACES)
    assert not tags.find("input", name="phone")
    assert tags.find("form")[0]["action"] == "/f/bus-42?kiosk=1"


def test_kiosk_faces_stay_inside_the_scale() -> None:
    assert all(1 <= v <= 5 for v in form_page.FACE_SCORES["csat5"])
    assert all(0 <= v <= 10 for v in form_page.FACE_SCORES["nps10"])
    for values in form_page.FACE_SCORES.values():
        assert list(values) == sorted(set(values))


def test_kiosk_thanks_returns_to_the_form_without_javascript() -> None:
    tags = parse(form_page.render_thanks(loc(), "es", "4821", kiosk=True))
    (meta,) = tags.find("meta", **{"http-equiv": "refresh"})
    delay, _, url = meta["content"].partition(";url=")
    assert 3 <= int(delay) <= 10 and url == "/f/bus-42?kiosk=1"


def test_thanks_shows_the_reference_and_does_not_refresh_off_kiosk() -> None:
    html = form_page.render_thanks(loc(), "en", "4821", kiosk=False)
    tags = parse(html)
    assert not tags.find("meta", **{"http-equiv": "refresh"})
    assert re.search(r'<p class="ref"[^>]*>4821</p>', html)


def test_hostile_text_is_escaped_everywhere() -> None:
    bad = loc(name=HOSTILE, id="x")
    err = FieldError("phone", HOSTILE)
    pages = [
        form_page.render_form(bad, "en", False, err, {"comment": HOSTILE, "phone": HOSTILE}),
        form_page.render_form(bad, "es", True, None, {"score": HOSTILE}),
        form_page.render_thanks(bad, "en", HOSTILE, kiosk=True),
    ]
    for html in pages:
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert" in html


@pytest.mark.parametrize("field", ["score", "comment", "phone"])
def test_validation_error_sits_by_its_field(field: str) -> None:
    html = form_page.render_form(loc(), "en", False, FieldError(field, "bad"))
    tags = parse(html)
    (alert,) = tags.find("p", role="alert")
    assert alert["id"] == f"{field}-error"
    if field != "score":
        (control,) = [a for _, a in tags.tags if a.get("name") == field]
        assert control["aria-invalid"] == "true"
        assert f"{field}-error" in control["aria-describedby"].split()
    else:
        (fieldset,) = tags.find("fieldset")
        assert "score-error" in fieldset["aria-describedby"].split()
    # the message comes after the control it is about
    assert html.index(f'id="{field}-error"') > html.index(f'name="{field}"')


def test_an_error_on_another_field_is_shown_on_top() -> None:
    tags = parse(form_page.render_form(loc(), "en", False, FieldError("body", "nested")))
    assert len(tags.find("p", role="alert")) == 1


def test_values_refill_the_form_after_an_error() -> None:
    values = {"score": "3", "comment": "cold soup", "phone": "+34600"}
    html = form_page.render_form(loc(), "en", False, FieldError("phone", "x"), values)
    (checked,) = [a for a in parse(html).find("input", name="score") if "checked" in a]
    assert checked["value"] == "3"
    assert ">cold soup</textarea>" in html and 'value="+34600"' in html


@pytest.mark.parametrize(
    ("header", "loc_lang", "expected"),
    [
        ("en-US,en;q=0.9", "es", "en"),
        ("es-ES,es;q=0.9,en;q=0.8", "en", "es"),
        ("fr-FR,en;q=0.5,es;q=0.7", "en", "es"),
        ("fr-FR,de;q=0.9", "en", "en"),  # neither: the location's language
        ("", "en", "en"),
        ("en;q=0", "es", "es"),  # q=0 means "not this one"
        ("en;q=bogus,es", "en", "es"),
        ("*", "en", "en"),
        ("EN-gb", "es", "en"),
    ],
)
def test_pick_lang(header: str, loc_lang: str, expected: str) -> None:
    assert form_page.pick_lang(header, loc(lang=loc_lang)) == expected


def test_pick_lang_without_a_location_falls_back_to_the_default() -> None:
    assert form_page.pick_lang("de", None) == form_page.DEFAULT_LANG


@pytest.mark.parametrize("lang", form_page.LANGS)
def test_pages_are_in_the_chosen_language(lang: str) -> None:
    t = form_page.T[lang]
    pages = {
        "send": form_page.render_form(loc(), lang, kiosk=False),
        "thanks": form_page.render_thanks(loc(), lang, "1", kiosk=False),
        "not_found": form_page.not_found(lang),
        "too_many": form_page.too_many(lang),
        "unavailable": form_page.unavailable(lang),
    }
    for key, html in pages.items():
        assert html.startswith(f'<!doctype html><html lang="{lang}">')
        assert t[key] in html


def test_every_language_has_every_message() -> None:
    keys = [set(t) for t in form_page.T.values()]
    assert all(k == keys[0] for k in keys)
