"""`python -m pipeline.devtools.vocab_probe`: the sentiment model's memory over a long stream of
labelled text that keeps bringing new terms, with its vocabulary bounded and without.

The bench's messages come from a fixed set of phrases (`feedback_mix.py`), so its model never
meets a new word and cannot show this. Real feedback does: names, places, typos. Here each
message is a labelled sentence (the seed corpus and the files given, SemEval and Yelp by
default) in which each word gets a typo with probability `--typo`, and a made-up name is added
with probability `--names`. Both models learn the same stream; every `--every` messages the
probe prints their vocabulary and the memory they hold (tracemalloc), one JSON line each.

`--eval` instead runs progressive validation, as `pronto eval-sentiment` does, on each file
with each bound of `--bounds` (0: none), and prints macro-F1 and how many terms were dropped.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import pickle
import random
import string
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from pipeline.scoring.evaluate import progressive, read_rows
from pipeline.scoring.seed_cache import seeded_model
from pipeline.scoring.sentiment import MAX_TERMS, SentimentModel
from pipeline.seed_corpus import read_seed_corpus

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
FILES = [DATA / "restaurants_semeval16_train.csv", DATA / "yelp_sentences.csv"]


def typo(rng: random.Random, word: str) -> str:
    """`word` with one letter dropped, doubled, swapped with the next or replaced."""
    if len(word) < 3:
        return word
    i = rng.randrange(len(word) - 1)
    op = rng.randrange(4)
    if op == 0:
        return word[:i] + word[i + 1 :]
    if op == 1:
        return word[: i + 1] + word[i:]
    if op == 2:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + rng.choice(string.ascii_lowercase) + word[i + 1 :]


def name(rng: random.Random) -> str:
    """A made-up name of two or three syllables."""
    syllables = [
        rng.choice("bcdfgklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 3))
    ]
    return "".join(syllables).capitalize()


def stream(rows: list[tuple[str, str]], seed: int, typo_p: float, names_p: float
           ) -> Iterator[tuple[str, str]]:  # fmt: skip
    """Endless (text, label): the rows in a shuffled cycle, each with fresh typos and names."""
    rng = random.Random(seed)
    order = list(rows)
    for _ in itertools.count():
        rng.shuffle(order)
        for text, label in order:
            words = [typo(rng, w) if rng.random() < typo_p else w for w in text.split()]
            if rng.random() < names_p:
                words.insert(rng.randrange(len(words) + 1), name(rng))
            yield " ".join(words), label


def held_mb(model: SentimentModel) -> float:
    """The memory that `model` holds, as tracemalloc counts it: a copy is made and measured."""
    blob = pickle.dumps(model)
    tracemalloc.start()
    copy = pickle.loads(blob)
    gc.collect()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del copy
    return round(size / 1e6, 1)


def bounded(seeded: bytes, bound: int) -> SentimentModel:
    """A copy of the pickled model `seeded`, its vocabulary bounded at `bound` (0: none)."""
    model: SentimentModel = pickle.loads(seeded)
    model.max_terms = bound or sys.maxsize
    return model


def run_stream(args: argparse.Namespace) -> None:
    rows = [(t, lab) for t, lab, _ in read_seed_corpus()]
    for f in args.files:
        rows += [(r.text, r.label) for r in read_rows(f)]
    seeded = pickle.dumps(seeded_model())
    models = {bound or "none": bounded(seeded, bound) for bound in args.bounds}
    t0 = time.monotonic()
    for i, (text, label) in enumerate(stream(rows, args.seed, args.typo, args.names), 1):
        for m in models.values():
            m.learn(text, label)
        if i % args.every == 0 or i == args.messages:
            line = {"messages": i, "seconds": round(time.monotonic() - t0, 1)}
            for key, m in models.items():
                line[f"terms_{key}"] = m.n_terms
                line[f"mb_{key}"] = held_mb(m)
                line[f"pruned_{key}"] = m.terms_pruned
            print(json.dumps(line), flush=True)
        if i >= args.messages:
            break


def run_eval(args: argparse.Namespace) -> None:
    seeded = pickle.dumps(seeded_model())
    for f in args.files:
        rows = read_rows(f)
        for bound in args.bounds:
            m = bounded(seeded, bound)
            scores = progressive(m, rows)
            print(json.dumps({"file": Path(f).name, "bound": bound, "rows": len(rows),
                              "macro_f1": scores["macro_f1"], "terms": m.n_terms,
                              "dropped": m.terms_pruned}), flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.devtools.vocab_probe",
                                description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("--eval", action="store_true", help="progressive validation per bound")
    p.add_argument("--files", nargs="*", default=[str(f) for f in FILES if f.exists()])
    p.add_argument("--bounds", nargs="*", type=int, default=[MAX_TERMS, 0],
                   help="vocabulary bounds to compare (0: none)")  # fmt: skip
    p.add_argument("--messages", type=int, default=200_000)
    p.add_argument("--every", type=int, default=20_000)
    p.add_argument("--typo", type=float, default=0.05, help="chance that a word gets a typo")
    p.add_argument("--names", type=float, default=0.3, help="chance of a made-up name")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    (run_eval if args.eval else run_stream)(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
