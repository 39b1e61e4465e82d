"""The effect of supervisor corrections on a venue's own phrase: `eval-themes --venue-demo`.

At the bus line `bus-42`, passengers say "no para en Cibeles" (the bus skips the Cibeles stop):
a `punctuality` complaint in words the lexicon does not know. A supervisor corrects the themes
of 50 alerts there: 40 with the phrase (to `punctuality`) and 10 others that also mention
Cibeles (a full bus, a kind driver... confirmed as they are). A held-out set of 60 other
messages (40 with the phrase, some in wordings no correction used; 20 that name Cibeles about
something else, or about nothing) measures `punctuality` at `bus-42` before any correction,
after 5, 10, 20 and 50, and at `bus-43`, which got no correction. Seeded and deterministic.

What it shows, honestly: the learner keys on "no para" (and on the negated verb in any form:
"ni para", "no ha parado", "sin parar"), not on "Cibeles", which its other corrections name
too; so "bajé en Cibeles, ok" is not tagged, and neither are the new wordings that share
nothing but the place name with the corrections ("se salta Cibeles", "ni se detuvo").
"""

from __future__ import annotations

import logging
import random
import statistics
import time
from typing import Any

from pipeline.themes.evaluate import score
from pipeline.themes.tagger import ThemeTagger

logger = logging.getLogger(__name__)

VENUE, OTHER, KIND = "bus-42", "bus-43", "bus"
THEME = "punctuality"
CHECKPOINTS = (0, 5, 10, 20, 50)

_OPENERS = ("la 42", "el 42", "otra vez la 42", "el bus", "la linea 42", "hoy la 42",
            "el autobus", "", "de nuevo el 42", "la 42 de las 8")  # fmt: skip
_PHRASES = ("no para en Cibeles", "no paró en Cibeles", "no ha parado en Cibeles",
            "no para en cibeles", "NO PARA EN CIBELES", "no para en la parada de Cibeles",
            "tampoco paró en Cibeles", "ni para en Cibeles", "no paro en cibeles")  # fmt: skip
# Said only in the held-out messages: wordings no correction used.
_NEW_PHRASES = ("pasa por Cibeles sin parar", "en Cibeles ni se detuvo", "se salta Cibeles",
                "no se detiene en Cibeles", "en Cibeles pasó sin abrir")  # fmt: skip
_TAILS = ("", "!!", " otra vez", " 😡", ", tuve que bajarme en Colón", ", y eso que pulsé el botón",
          ". Vergüenza", " y el conductor ni caso", ", qué desastre", " como siempre", " ??")  # fmt: skip
_OTHERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("en Cibeles se subió muchísima gente, iba lleno", ("crowding",)),
    ("el conductor muy amable en Cibeles", ("staff",)),
    ("en Cibeles subió un borracho gritando", ("safety",)),
    ("la 42 olía fatal desde Cibeles", ("cleanliness",)),
    ("hace un calor horrible en la 42 pasado Cibeles", ("temperature",)),
    ("la 42 bien, gracias", ()),
    ("en la parada de Cibeles había mucha gente", ("crowding",)),
    ("de Cibeles a Atocha muy rapido, bien", ()),
    ("el billete en Cibeles me lo cobraron dos veces", ("price",)),
    ("asientos sucios en la 42 al pasar por Cibeles", ("cleanliness",)),
    ("la conductora de la 42 un encanto, me ayudó en Cibeles", ("staff",)),
    ("la 42 llena hasta Cibeles", ("crowding",)),
)
# Held-out messages that mention Cibeles about something else: none of them is corrected.
_OTHERS_HELD_OUT: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("a la altura de Cibeles iba a reventar", ("crowding",)),
    ("el chofer super majo, me esperó en Cibeles", ("staff",)),
    ("en Cibeles frenazo brutal, casi me caigo", ("safety",)),
    ("olor a tabaco desde Cibeles", ("cleanliness",)),
    ("frío horrible en la 42, de Cibeles a Sol", ("temperature",)),
    ("buen viaje hasta Cibeles, gracias", ()),
    ("de pie desde Cibeles hasta el final", ("crowding",)),
    ("me subí en Cibeles y todo perfecto", ()),
    ("en Cibeles la máquina no me dio el billete", ("price",)),
    ("el suelo pegajoso, cogí la 42 en Cibeles", ("cleanliness",)),
    ("muy amable la conductora que sube por Cibeles", ("staff",)),
    ("en Cibeles subió un grupo gritando y molestando", ("safety",)),
    ("calor insoportable en la 42 por Cibeles", ("temperature",)),
    ("gente apretada en la puerta desde Cibeles", ("crowding",)),
    ("bajé en Cibeles, ok", ()),
    ("en Cibeles se subieron unos chicos muy maleducados con el conductor", ("staff",)),
    ("Cibeles precioso desde la ventana", ()),
    ("precio del billete caro, lo pagué en Cibeles", ("price",)),
    ("basura en los asientos, subí en Cibeles", ("cleanliness",)),
    ("tranquilo hasta Cibeles", ()),
)


def _phrase_message(rng: random.Random, phrases: tuple[str, ...] = _PHRASES) -> str:
    opener, phrase, tail = rng.choice(_OPENERS), rng.choice(phrases), rng.choice(_TAILS)
    return f"{opener} {phrase}{tail}".strip()


def make_sets(
    seed: int,
) -> tuple[list[tuple[str, tuple[str, ...]]], list[tuple[str, tuple[str, ...]]]]:
    """(50 corrections, 60 held-out messages), disjoint texts, both in a seeded order."""
    rng = random.Random(seed)
    train: list[tuple[str, tuple[str, ...]]] = []
    seen: set[str] = set()
    while len(train) < 40:
        text = _phrase_message(rng)
        if text not in seen:
            seen.add(text)
            train.append((text, (THEME,)))
    others = list(_OTHERS)
    rng.shuffle(others)
    train += others[:10]
    rng.shuffle(train)
    test: list[tuple[str, tuple[str, ...]]] = []
    while len(test) < 40:
        text = _phrase_message(rng, _PHRASES + _NEW_PHRASES)
        if text not in seen:
            seen.add(text)
            test.append((text, (THEME,)))
    test += _OTHERS_HELD_OUT
    return train, test


def _measure(
    tagger: ThemeTagger, test: list[tuple[str, tuple[str, ...]]], loc: str
) -> dict[str, Any]:
    pairs = [(gold, tagger.tag(text, kind=KIND, location_id=loc)) for text, gold in test]
    s = score(pairs)
    theme = s["themes"].get(THEME, {"precision": 0.0, "recall": 0.0})
    return {"recall": theme["recall"], "precision": theme["precision"], "micro_f1": s["micro_f1"]}


def run_demo(seed: int = 16) -> dict[str, Any]:
    """Train one tagger with the corrections in order and measure at each checkpoint."""
    train, test = make_sets(seed)
    tagger = ThemeTagger()
    steps: list[dict[str, Any]] = []
    done = 0
    for checkpoint in CHECKPOINTS:
        for text, themes in train[done:checkpoint]:
            tagger.learn(text, themes, kind=KIND, location_id=VENUE)
        done = checkpoint
        steps.append({"corrections": checkpoint, VENUE: _measure(tagger, test, VENUE),
                      OTHER: _measure(tagger, test, OTHER)})  # fmt: skip
    exact = all(tagger.tag(t, kind=KIND, location_id=VENUE) == g for t, g in train)
    clock = time.perf_counter_ns
    samples = []
    for _ in range(5):
        for text, _gold in test:
            t0 = clock()
            tagger.tag(text, kind=KIND, location_id=VENUE)
            samples.append((clock() - t0) / 1000)
    return {"seed": seed, "train": len(train), "held_out": len(test),
            "held_out_phrase": sum(1 for _, g in test if g == (THEME,)),
            "steps": steps, "corrected_texts_exact": exact,
            "learned_features": len(tagger.vocab(VENUE)["features"]),
            "us_median_taught": round(statistics.median(samples), 1)}  # fmt: skip


def render_demo(demo: dict[str, Any]) -> str:
    lines = [
        f"Venue demo (seed {demo['seed']}): {demo['train']} corrections at {VENUE}, "
        f"held-out {demo['held_out']} messages ({demo['held_out_phrase']} say "
        f"'no para en Cibeles' in new messages, some in wordings no correction used; "
        f"the rest mention Cibeles about other themes)",
        f"{'corrections':>11}  {VENUE + ' ' + THEME + ' recall':>26}{'precision':>11}{'micro-F1':>10}"
        f"  {OTHER + ' recall':>14}{'micro-F1':>10}",
    ]
    for s in demo["steps"]:
        a, b = s[VENUE], s[OTHER]
        lines.append(f"{s['corrections']:>11}  {a['recall']:>26.3f}{a['precision']:>11.3f}"
                     f"{a['micro_f1']:>10.3f}  {b['recall']:>14.3f}{b['micro_f1']:>10.3f}")  # fmt: skip
    lines.append(f"every corrected text tags exactly as corrected: {demo['corrected_texts_exact']}; "
                 f"learned features at {VENUE}: {demo['learned_features']}; tag() there "
                 f"{demo['us_median_taught']} µs/message median")  # fmt: skip
    return "\n".join(lines)
