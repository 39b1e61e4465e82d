"""`pronto eval-complaints`: before/after precision and recall on a labelled TSV."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.devtools import eval_complaints

ROWS = """venue\tlang\tcomplaint\tcase\tsplit\ttext
bus-42\tes\t0\twrong_scale\ttune\t5, muy rápidos
bus-42\tes\t1\tagree_low\ttune\tun 2 de 10, el aire roto
bus-42\tes\t1\thigh_angry\tholdout\t10!! nunca más
bus-42\tes\t0\tlow_happy\tholdout\t2, genial el conductor
hotel-mar\ten\t1\tsafety\ttune\t5/5 but there is smoke in the corridor
"""


def test_before_and_after_on_the_tricky_cases(tmp_path: Path) -> None:
    path = tmp_path / "c.tsv"
    path.write_text(ROWS, encoding="utf-8")
    lines: list[str] = []
    assert eval_complaints.main([str(path), "--json"], out=lines.append) == 0
    r = json.loads(lines[0])
    all_ = r["splits"]["all"]
    assert all_["n"] == 5 and all_["asked"] == 1
    # before: "5, muy rápidos" and "2, genial" page falsely, "10!! nunca más" is missed
    assert (all_["before"]["fp"], all_["before"]["fn"]) == (2, 1)
    assert all_["after_no_answer"] == {"precision": 1.0, "recall": 1.0, "tp": 3, "fp": 0,
                                       "fn": 0, "tn": 2}  # fmt: skip
    assert r["splits"]["holdout"]["n"] == 2
    text = eval_complaints.render(str(path), r, verbose=True)
    assert "questions asked" in text and "low_score_happy_text" in text


def test_the_shipped_set_is_big_enough_and_has_both_languages() -> None:
    rows = eval_complaints.read_rows(Path(__file__).parents[1] / "data" / "complaints.tsv")
    assert len(rows) >= 220
    assert {r.lang for r in rows} == {"es", "en"}
    assert {"tune", "holdout"} == {r.split for r in rows}
