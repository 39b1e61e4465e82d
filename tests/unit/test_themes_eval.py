"""`pronto eval-themes`: the figures, the quality bar on the held-out split, and the
corrections demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main as cli_main
from pipeline.themes.evaluate import evaluate, main, read_rows, score
from pipeline.themes.taxonomy import TAXONOMY
from pipeline.themes.venue_demo import THEME, VENUE, make_sets, run_demo

DATA = Path(__file__).resolve().parents[1] / "data" / "themes.tsv"


def test_the_labelled_set_is_large_bilingual_and_covers_every_kind() -> None:
    rows = read_rows(DATA)
    assert len(rows) >= 360
    assert {r.lang for r in rows} == {"es", "en"}
    assert {r.kind for r in rows} == set(TAXONOMY)
    assert {"dev", "test"} <= {r.split for r in rows}
    # Rounds scored before anything was tuned on them (`final` and `final2` were tuned on later).
    held_out = [r for r in rows if r.split in ("test", "final", "final2")]
    assert len(held_out) >= len(rows) // 3
    assert any(not r.themes for r in rows) and any(len(r.themes) >= 3 for r in rows)
    for kind, ids in TAXONOMY.items():  # every theme has examples
        assert set(ids) <= {t for r in rows if r.kind == kind for t in r.themes}


def test_micro_f1_on_the_held_out_split_from_a_fresh_install() -> None:
    result = evaluate(DATA, "test", passes=1)
    assert result["micro_f1"] >= 0.80
    assert result["n"] == len(read_rows(DATA, "test"))


@pytest.mark.parametrize(("split", "first_scored"), [("final", 0.800), ("final2", 0.915)])
def test_no_regression_on_the_final_rounds(split: str, first_scored: float) -> None:
    # Both were scored before anything was tuned on them (`first_scored`), then tuned on
    # (tests/data/README.md): guards, not honest figures.
    assert evaluate(DATA, split, passes=1)["micro_f1"] >= max(first_scored, 0.90)


def test_score_counts_per_theme_and_micro_macro() -> None:
    s = score([(("a", "b"), ("a",)), (("b",), ("b", "c")), ((), ())])
    assert s["themes"]["a"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert s["themes"]["b"]["recall"] == 0.5
    assert s["themes"]["c"]["support"] == 0
    assert s["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1), abs=1e-4)
    assert s["macro_f1"] == pytest.approx((1.0 + 2 / 3) / 2, abs=1e-4)  # c has no support


def test_cli_prints_each_theme_f1_and_timing(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["eval-themes", str(DATA), "--split", "dev", "--passes", "1"]) == 0
    out = capsys.readouterr().out
    for needle in ("punctuality", "breakfast", "micro-F1", "macro-F1", "µs/message", "split=dev"):
        assert needle in out


def test_cli_json_and_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines: list[str] = []
    assert main([str(DATA), "--json", "--passes", "1"], out=lines.append) == 0
    doc = json.loads(lines[0])
    assert doc["n"] == len(read_rows(DATA)) and doc["timing"]["us_median"] > 0
    with pytest.raises(SystemExit) as err:
        main([str(tmp_path / "missing.tsv")])
    assert err.value.code == 2


def test_a_theme_of_another_kind_in_the_file_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("kind\tlang\ttext\tthemes\nbus\tes\thola\tbreakfast\n", encoding="utf-8")
    with pytest.raises(ValueError, match="breakfast"):
        read_rows(bad)


def test_corrections_teach_the_venue_phrase_and_leave_other_venues_alone() -> None:
    demo = run_demo(16)
    by_n = {s["corrections"]: s for s in demo["steps"]}
    assert by_n[0][VENUE]["recall"] == 0.0
    assert by_n[10][VENUE]["recall"] >= 0.75
    assert by_n[20][VENUE]["recall"] >= 0.85 and by_n[20][VENUE]["precision"] >= 0.95
    # "bajé en Cibeles, ok" is not `punctuality`: the place name alone names no theme (it was
    # 0.889 when the learner keyed on "Cibeles"); what is missed says "se salta Cibeles".
    assert by_n[50][VENUE]["recall"] >= 0.9 and by_n[50][VENUE]["precision"] >= 0.95
    assert all(s["bus-43"] == by_n[0]["bus-43"] for s in demo["steps"])
    assert demo["corrected_texts_exact"]
    strip = {"us_median_taught"}  # a timing, not a result
    again = run_demo(16)
    assert {k: v for k, v in again.items() if k not in strip} == {
        k: v for k, v in demo.items() if k not in strip
    }  # seeded


def test_cli_venue_demo_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(DATA), "--split", "test", "--passes", "1", "--venue-demo"]) == 0
    out = capsys.readouterr().out
    assert "Venue demo" in out and "bus-43 recall" in out


def test_the_demo_s_held_out_texts_are_not_corrected_ones() -> None:
    train, test = make_sets(16)
    assert len(train) == 50 and len(test) == 60
    assert not {t for t, _ in train} & {t for t, _ in test}
    assert sum(1 for _, g in test if g == (THEME,)) == 40
