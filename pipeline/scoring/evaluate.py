"""Progressive validation of the sentiment model on a labelled CSV: `pronto eval-sentiment`.

Each message is predicted first and learned after, from a fresh seeded model, as the pipeline
does in production. Two baselines run over the same rows: a plain river BoW + MultinomialNB
(no seed) and VADER (English rows only).

`macro_f1` averages F1 over the classes present in the file's labels: a file with no neutral
row (Yelp) would otherwise score a single neutral prediction as a whole class at F1 0.
`macro_f1_river` is river's `MacroF1` (classes seen in labels or predictions) for comparison.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from river import feature_extraction, metrics, naive_bayes

from pipeline.scoring.sentiment import LABELS, SentimentModel, label_from_score

logger = logging.getLogger(__name__)

COLD_START = 200
VADER_THRESHOLD = 0.05


@dataclass(frozen=True)
class Row:
    text: str
    label: str
    lang: str


@dataclass
class Scores:
    """Accuracy and macro-F1 of a stream of (truth, prediction) pairs."""

    accuracy: metrics.Accuracy = field(default_factory=metrics.Accuracy)
    macro: metrics.MacroF1 = field(default_factory=metrics.MacroF1)

    def update(self, y_true: str, y_pred: str) -> None:
        self.accuracy.update(y_true, y_pred)
        self.macro.update(y_true, y_pred)

    def gold_macro_f1(self) -> float:
        cm = self.macro.cm
        gold = [c for c in cm.classes if cm.sum_row[c]]
        f1s = []
        for c in gold:
            precision = cm[c][c] / cm.sum_col[c] if cm.sum_col[c] else 0.0
            recall = cm[c][c] / cm.sum_row[c]
            f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
        return sum(f1s) / len(f1s) if f1s else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "accuracy": round(float(self.accuracy.get()), 4),
            "macro_f1": round(self.gold_macro_f1(), 4),
            "macro_f1_river": round(float(self.macro.get()), 4),
            "n": int(self.macro.cm.n_samples),
        }


def read_rows(path: str | Path) -> list[Row]:
    """Rows of a CSV with columns text,label[,lang]; numeric labels map through the scale
    that their range implies (any value above 5 means nps10, else csat5)."""
    with open(path, encoding="utf-8", newline="") as f:
        raw = [r for r in csv.DictReader(f) if r.get("text") and r.get("label")]
    labels = [r["label"].strip().lower() for r in raw]
    numeric = [int(x) for x in labels if x.lstrip("-").isdigit()]
    scale = "nps10" if any(v > 5 for v in numeric) else "csat5"
    rows: list[Row] = []
    for r, label in zip(raw, labels, strict=True):
        mapped = label_from_score(int(label), scale) if label.lstrip("-").isdigit() else label
        if mapped not in LABELS:
            logger.warning("skipping a row with label %r", r["label"])
            continue
        rows.append(Row(r["text"], mapped, (r.get("lang") or "").strip()))
    return rows


def _model_scores(rows: list[Row], seed: int) -> dict[str, Any]:
    return progressive(SentimentModel.with_seed_corpus(seed), rows)


def progressive(model: SentimentModel, rows: list[Row]) -> dict[str, Any]:
    """Progressive validation of `model` on `rows`: each predicted, scored, then learned."""
    overall, cold = Scores(), Scores()
    per_lang: dict[str, Scores] = {}
    for i, row in enumerate(rows):
        pred = model.learn_predict(row.text, row.label, row.lang).label
        overall.update(row.label, pred)
        per_lang.setdefault(row.lang or "?", Scores()).update(row.label, pred)
        if i < COLD_START:
            cold.update(row.label, pred)
    result = overall.as_dict()
    result["cold_start_accuracy"] = cold.as_dict()["accuracy"]
    result["per_language"] = {lang: s.as_dict() for lang, s in sorted(per_lang.items())}
    return result


def _bow_mnb(rows: list[Row]) -> dict[str, Any]:
    """River's plain BoW + MultinomialNB, progressive, no seed. Like river's own progressive
    validation, a message that gets no prediction (before anything is learned) is not scored."""
    model = feature_extraction.BagOfWords(on="text") | naive_bayes.MultinomialNB()
    overall, cold = Scores(), Scores()
    for i, row in enumerate(rows):
        pred = model.predict_one({"text": row.text})
        if pred is not None:
            overall.update(row.label, pred)
            if i < COLD_START:
                cold.update(row.label, pred)
        model.learn_one({"text": row.text}, row.label)
    return overall.as_dict() | {"cold_start_accuracy": cold.as_dict()["accuracy"]}


def _vader(rows: Iterable[Row]) -> dict[str, Any]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # a test extra

    analyzer = SentimentIntensityAnalyzer()
    scores = Scores()
    for row in rows:
        if row.lang != "en":
            continue
        compound = analyzer.polarity_scores(row.text)["compound"]
        pred = (
            "positive"
            if compound >= VADER_THRESHOLD
            else "negative"
            if compound <= -VADER_THRESHOLD
            else "neutral"
        )
        scores.update(row.label, pred)
    return scores.as_dict()


def evaluate(path: str | Path, seed: int = 42) -> dict[str, Any]:
    """Progressive validation of the seeded model on the CSV at `path`, with baselines."""
    rows = read_rows(path)
    result = _model_scores(rows, seed)
    result["baselines"] = {"bow_mnb": _bow_mnb(rows), "vader": _vader(rows)}
    return result


def _fmt(name: str, s: dict[str, Any]) -> str:
    cold = s.get("cold_start_accuracy")
    cold_txt = f"  cold-start {cold:.3f}" if cold is not None else ""
    return (
        f"  {name:<14} accuracy {s['accuracy']:.3f}  macro-F1 {s['macro_f1']:.3f}"
        f"  (river {s['macro_f1_river']:.3f})  n={s['n']}{cold_txt}"
    )


def render(path: str, r: dict[str, Any]) -> str:
    """The human-readable report of an `evaluate` result."""
    lines = [f"{path}: progressive validation, {r['n']} messages", _fmt("pronto", r)]
    lines += [_fmt(f"  lang={lang}", s) for lang, s in r["per_language"].items()]
    lines.append("baselines (same run):")
    lines += [_fmt(name, s) for name, s in r["baselines"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    """`pronto eval-sentiment FILE [--json]`."""
    parser = argparse.ArgumentParser(
        prog="pronto eval-sentiment",
        description="Progressive validation of the sentiment model on a labelled CSV.",
    )
    parser.add_argument("file", help="CSV with columns text,label[,lang]")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    try:
        result = evaluate(args.file, args.seed)
    except (OSError, KeyError, ValueError) as e:
        parser.exit(2, f"pronto eval-sentiment: {e}\n")
    out(json.dumps(result, ensure_ascii=False) if args.json else render(args.file, result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
