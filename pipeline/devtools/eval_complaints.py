"""`pronto eval-complaints FILE`: precision and recall of complaint detection, before and after
the conflict rules (`alerts/conflict.py`), on a labelled TSV of our own.

The file's columns: venue (an id of `deploy/pronto.demo.toml`), lang, complaint (1: it must
page), case (what makes it tricky), split (tune | holdout: the thresholds were tuned on `tune`
only), text (the message as a customer texts it, score inside). Every row goes through the same
extraction as ingest (`extract_score`) and the seeded default sentiment model (a snapshot: it
does not learn from the file).

- before: the alert rules alone (`rules.evaluate_feedback`), as ingest and the desk applied
  them before the conflict rules.
- after: `triage.annotate` then `conflict.judge`. A message that asks the customer first is
  counted twice: "no answer" (the timeout decides: not paged) and "answered" (the customer
  says what they meant: paged exactly when the row is a complaint).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.alerts.conflict import Conflict, judge
from pipeline.alerts.rules import evaluate_feedback
from pipeline.config import Venues, load_venues
from pipeline.ingest.triage import annotate
from pipeline.kafka_local import deploy_dir
from pipeline.records import Feedback
from pipeline.scoring.extract import extract_score
from pipeline.scoring.seed_cache import seeded_model
from pipeline.scoring.sentiment import SentimentModel


@dataclass(frozen=True)
class Row:
    venue: str
    lang: str
    complaint: bool
    case: str
    split: str
    text: str


@dataclass(frozen=True)
class Judged:
    row: Row
    before: bool  # paged by the old rules
    now: bool  # paged at once by the new rules
    asked: bool  # the customer is asked first
    kind: str  # the conflict kind


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, truth: bool, paged: bool) -> None:
        if truth:
            self.tp, self.fn = self.tp + paged, self.fn + (not paged)
        else:
            self.fp, self.tn = self.fp + paged, self.tn + (not paged)

    def as_dict(self) -> dict[str, Any]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        return {"precision": round(p, 3), "recall": round(r, 3), "tp": self.tp, "fp": self.fp,
                "fn": self.fn, "tn": self.tn}  # fmt: skip


@dataclass
class Report:
    n: int = 0
    before: Counts = field(default_factory=Counts)
    no_answer: Counts = field(default_factory=Counts)
    answered: Counts = field(default_factory=Counts)
    asked: int = 0
    asked_complaints: int = 0  # true complaints that wait for the customer's answer

    def add(self, j: Judged) -> None:
        truth = j.row.complaint
        self.n += 1
        self.before.add(truth, j.before)
        self.no_answer.add(truth, j.now)
        self.answered.add(truth, j.now or (j.asked and truth))
        self.asked += j.asked
        self.asked_complaints += j.asked and truth

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "before": self.before.as_dict(),
                "after_no_answer": self.no_answer.as_dict(),
                "after_answered": self.answered.as_dict(), "asked": self.asked,
                "asked_share": round(self.asked / self.n, 3) if self.n else 0.0,
                "asked_true_complaints": self.asked_complaints}  # fmt: skip


def read_rows(path: str | Path) -> list[Row]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [Row(r["venue"], r["lang"], r["complaint"].strip() == "1", r["case"],
                    r.get("split") or "tune", r["text"]) for r in reader if r.get("text")]  # fmt: skip


def judge_row(venues: Venues, model: SentimentModel, row: Row, i: int) -> Judged:
    """What the old rules and the new ones do with one row."""
    loc = venues.by_id(row.venue)
    if loc is None:
        raise ValueError(f"unknown venue {row.venue!r}")
    found = extract_score(row.text, loc.scale)
    fb = Feedback(f"eval-{i}", 0.0, "sms", loc.id, customer_ref="c", text=row.text,
                  lang=row.lang, score=found.score if found else None,
                  scale=found.scale if found else None)  # fmt: skip
    p_neg = model.predict(row.text, row.lang).p_negative if row.text.strip() else None
    before = evaluate_feedback(loc, fb.score, fb.scale, fb.text, p_neg) is not None
    after = annotate(loc, fb, model)
    conflict = Conflict.from_meta(after.meta)
    decision, asks = judge(loc, after.score, after.scale, after.text, p_neg, conflict)
    return Judged(row, before, decision is not None and not asks, decision is not None and asks,
                  str(conflict.kind) if conflict else "agree")  # fmt: skip


def evaluate(rows: Iterable[Row], venues: Venues, model: SentimentModel) -> dict[str, Any]:
    reports: dict[str, Report] = {"all": Report()}
    cases: dict[str, Report] = {}
    changed: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        j = judge_row(venues, model, row, i)
        for key in ("all", row.split):
            reports.setdefault(key, Report()).add(j)
        cases.setdefault(row.case, Report()).add(j)
        if j.before != j.now or j.asked:
            changed.append({"text": row.text, "venue": row.venue, "complaint": row.complaint,
                            "before": j.before, "after": "ask" if j.asked else j.now,
                            "kind": j.kind})  # fmt: skip
    return {"splits": {k: r.as_dict() for k, r in reports.items()},
            "cases": {k: r.as_dict() for k, r in sorted(cases.items())}, "changed": changed}  # fmt: skip


def _line(name: str, c: dict[str, Any]) -> str:
    return (f"  {name:<22} precision {c['precision']:.3f}  recall {c['recall']:.3f}  "
            f"(tp {c['tp']} fp {c['fp']} fn {c['fn']} tn {c['tn']})")  # fmt: skip


def render(path: str, r: dict[str, Any], verbose: bool = False) -> str:
    lines = [f"{path}: complaint detection (a complaint must page)"]
    for split, s in r["splits"].items():
        lines.append(f"{split}: {s['n']} messages")
        lines.append(_line("before", s["before"]))
        lines.append(_line("after, no answer", s["after_no_answer"]))
        lines.append(_line("after, answered", s["after_answered"]))
        lines.append(f"  questions asked        {s['asked']} ({s['asked_share']:.1%}), of which "
                     f"true complaints {s['asked_true_complaints']}")  # fmt: skip
    lines.append("by case (before -> after no answer: fp/fn; asked):")
    for case, s in r["cases"].items():
        b, a = s["before"], s["after_no_answer"]
        lines.append(f"  {case:<12} n={s['n']:<3} fp {b['fp']}->{a['fp']}  fn {b['fn']}->{a['fn']}"
                     f"  asked {s['asked']}")  # fmt: skip
    if verbose:
        lines.append("changed or asked:")
        lines += [f"  {c['complaint']:d} {c['before']!s:<5} -> {c['after']!s:<5} {c['kind']:<22} "
                  f"{c['venue']}: {c['text']}" for c in r["changed"]]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    """`pronto eval-complaints FILE [--json] [--verbose]`."""
    parser = argparse.ArgumentParser(
        prog="pronto eval-complaints",
        description="Precision and recall of complaint detection, before and after the "
        "conflict rules, on a labelled TSV.",
    )
    parser.add_argument("file", help="TSV: venue, lang, complaint, case, split, text")
    parser.add_argument("--venues", default=str(deploy_dir() / "pronto.demo.toml"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--verbose", action="store_true", help="list the rows that changed")
    args = parser.parse_args(argv)
    try:
        rows = read_rows(args.file)
        result = evaluate(rows, load_venues(args.venues), seeded_model(args.seed))
    except (OSError, KeyError, ValueError) as e:
        parser.exit(2, f"pronto eval-complaints: {e}\n")
    out(
        json.dumps(result, ensure_ascii=False)
        if args.json
        else render(args.file, result, args.verbose)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
