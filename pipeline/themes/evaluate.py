"""Theme quality on a labelled TSV: `pronto eval-themes FILE [--split NAME|all]`.

Each message is tagged by a fresh `ThemeTagger` (the lexicon only, as after a fresh install).
Per theme id (pooled over venue kinds, as the metrics are): precision, recall, support; then
micro-F1 over every (message, theme) decision and macro-F1 over the theme ids present. The
cost of `tag` is timed per call over several passes; the median is reported.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.themes.tagger import ThemeTagger
from pipeline.themes.taxonomy import TAXONOMY, all_theme_ids

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Row:
    kind: str
    lang: str
    text: str
    themes: tuple[str, ...]
    split: str = ""


def read_rows(path: str | Path, split: str = "all") -> list[Row]:
    """Rows of a TSV with columns kind, lang, text, themes[, split]; `split` filters."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        rows = []
        for n, r in enumerate(reader, 2):
            kind = r["kind"].strip()
            themes = tuple(sorted(t.strip() for t in (r["themes"] or "").split(",") if t.strip()))
            bad = [t for t in themes if t not in TAXONOMY.get(kind, ())]
            if bad:
                raise ValueError(f"{path}:{n}: {bad} not themes of kind {kind!r}")
            rows.append(Row(kind, r["lang"].strip(), r["text"], themes, (r.get("split") or "")))
    return [r for r in rows if split == "all" or r.split == split]


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def f1(self) -> float:
        denom = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denom if denom else 0.0

    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


def score(pairs: Iterable[tuple[tuple[str, ...], tuple[str, ...]]]) -> dict[str, Any]:
    """Per-theme and micro/macro scores of (gold, predicted) theme tuples.

    >>> s = score([(("food",), ("food",)), (("wait",), ("food",)), ((), ())])
    >>> s["micro_f1"], s["themes"]["food"]["precision"], s["themes"]["wait"]["recall"]
    (0.5, 0.5, 0.0)
    """
    per: dict[str, Counts] = {}
    micro = Counts()
    for gold, pred in pairs:
        g, p = set(gold), set(pred)
        for t in g | p:
            c = per.setdefault(t, Counts())
            hit = int(t in g and t in p)
            c.tp += hit
            c.fp += int(t in p and t not in g)
            c.fn += int(t in g and t not in p)
            micro.tp += hit
            micro.fp += int(t in p and t not in g)
            micro.fn += int(t in g and t not in p)
    order = {t: i for i, t in enumerate(all_theme_ids())}
    themes = {
        t: {"precision": round(c.precision(), 3), "recall": round(c.recall(), 3),
            "f1": round(c.f1(), 3), "support": c.tp + c.fn}
        for t, c in sorted(per.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))
    }  # fmt: skip
    gold_ids = [t for t, c in per.items() if c.tp + c.fn]
    macro = sum(per[t].f1() for t in gold_ids) / len(gold_ids) if gold_ids else 0.0
    return {"themes": themes, "micro_f1": round(micro.f1(), 4), "macro_f1": round(macro, 4),
            "micro_precision": round(micro.precision(), 4), "micro_recall": round(micro.recall(), 4)}  # fmt: skip


def time_tagging(tagger: ThemeTagger, rows: list[Row], passes: int = 5) -> dict[str, float]:
    """Median and p99 microseconds per `tag` call, over `passes` passes of `rows`."""
    clock = time.perf_counter_ns
    for r in rows:  # warm the per-kind indexes
        tagger.tag(r.text, kind=r.kind, lang=r.lang)
    samples: list[float] = []
    for _ in range(passes):
        for r in rows:
            t0 = clock()
            tagger.tag(r.text, kind=r.kind, lang=r.lang)
            samples.append((clock() - t0) / 1000)
    samples.sort()
    return {"us_median": round(statistics.median(samples), 1),
            "us_p99": round(samples[int(len(samples) * 0.99) - 1], 1), "calls": len(samples)}  # fmt: skip


def evaluate(path: str | Path, split: str = "all", passes: int = 5) -> dict[str, Any]:
    """Tag every row of `path` (in `split`) with a fresh tagger and score it."""
    rows = read_rows(path, split)
    if not rows:
        raise ValueError(f"{path}: no rows in split {split!r}")
    tagger = ThemeTagger()
    preds = [tagger.tag(r.text, kind=r.kind, lang=r.lang) for r in rows]
    result = score(zip((r.themes for r in rows), preds, strict=True))
    result["n"] = len(rows)
    result["split"] = split
    for field_name, values in (("by_kind", TAXONOMY), ("by_lang", ("es", "en"))):
        result[field_name] = {
            v: score((r.themes, p) for r, p in zip(rows, preds, strict=True)
                     if (r.kind if field_name == "by_kind" else r.lang) == v)["micro_f1"]
            for v in values
        }  # fmt: skip
    result["timing"] = time_tagging(tagger, rows, passes)
    return result


def render(path: str, result: dict[str, Any]) -> str:
    lines = [f"{path}  split={result['split']}  messages={result['n']}", "",
             f"{'theme':<13}{'precision':>10}{'recall':>8}{'f1':>7}{'support':>9}"]  # fmt: skip
    for t, m in result["themes"].items():
        lines.append(
            f"{t:<13}{m['precision']:>10.3f}{m['recall']:>8.3f}{m['f1']:>7.3f}{m['support']:>9}"
        )
    lines += ["",
              f"micro-F1 {result['micro_f1']:.3f} (precision {result['micro_precision']:.3f}, "
              f"recall {result['micro_recall']:.3f})   macro-F1 {result['macro_f1']:.3f}",
              "micro-F1 by kind: " + ", ".join(f"{k} {v:.3f}" for k, v in result["by_kind"].items()),
              "micro-F1 by lang: " + ", ".join(f"{k} {v:.3f}" for k, v in result["by_lang"].items()),
              f"tag(): {result['timing']['us_median']} µs/message median, "
              f"p99 {result['timing']['us_p99']} µs ({result['timing']['calls']} calls)"]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    """`pronto eval-themes FILE [--split NAME|all] [--json] [--venue-demo]`."""
    parser = argparse.ArgumentParser(
        prog="pronto eval-themes",
        description="Precision, recall and F1 of the theme tagger on a labelled TSV.",
    )
    parser.add_argument("file", help="TSV with columns kind, lang, text, themes[, split]")
    parser.add_argument(
        "--split",
        default="all",
        help="a split of the file (dev, test, fresh, final, final2) or all (default)",
    )
    parser.add_argument("--passes", type=int, default=5, help="timing passes (default 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--venue-demo", action="store_true",
                        help="also show 50 supervisor corrections teaching a venue's own phrase")  # fmt: skip
    parser.add_argument("--seed", type=int, default=16, help="seed of the venue demo")
    args = parser.parse_args(argv)
    try:
        result = evaluate(args.file, args.split, args.passes)
    except (OSError, KeyError, ValueError) as e:
        parser.exit(2, f"pronto eval-themes: {e}\n")
    demo: dict[str, Any] | None = None
    if args.venue_demo:
        from pipeline.themes.venue_demo import render_demo, run_demo

        demo = run_demo(args.seed)
        result["venue_demo"] = demo
    if args.json:
        out(json.dumps(result, ensure_ascii=False))
    else:
        out(render(args.file, result))
        if demo is not None:
            out("\n" + render_demo(demo))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
