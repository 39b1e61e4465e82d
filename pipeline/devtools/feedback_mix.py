"""Realistic customer messages for the simulator and the demo. Pure: a seed in, messages out.

What a day of feedback looks like: Spanish and English mixed by the venue's language (about
70/30), SMS spelling ("q", "xq", "tb", "pls"), accents dropped or kept, emoji, a score written
many ways ("8", "un 9", "4/5", "★★★★", "nueve"), some messages with no score at all, about 15%
dissatisfied customers, rare safety messages, and a fixed pool of fake customers so that some
of them write twice. `burst` makes many customers complain of one thing at once ("el aire
acondicionado no funciona"), and `follow_up_text` is a customer answering "did we fix it?".

Every message says which score it wrote (`score`, `scale`), so a test can check that the
extractor finds exactly that.
"""

from __future__ import annotations

import logging
import random
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pipeline.config import Location

logger = logging.getLogger(__name__)

DISSATISFIED_SHARE = 0.15
SAFETY_SHARE = 0.01
TEXT_ONLY_SHARE = 0.15
HOME_LANG_SHARE = 0.70


@dataclass(frozen=True)
class SimMessage:
    """One message a customer sends. `score`/`scale`: the score written in `text`, if any."""

    seq: int
    location_id: str
    to: str  # the venue's number the customer texts
    phone: str  # the customer's (fake) number
    lang: str  # es | en
    text: str  # the whole SMS
    comment: str  # the words without the score: what a web form's comment box would get
    score: int | None
    scale: str | None
    dissatisfied: bool = False
    safety: bool = False
    burst: bool = False


def customer_pool(seed: int = 0, n_es: int = 60, n_en: int = 40) -> list[tuple[str, str]]:
    """Fake customers as (phone, lang): Spanish mobiles (+34 6x, never a demo supervisor's
    +34 600...) and UK numbers from Ofcom's drama range (+44 7700 900xxx).

    >>> pool = customer_pool()
    >>> len(pool), pool == customer_pool(), all(p.startswith(("+346", "+447700900")) for p, _ in pool)
    (100, True, True)
    """
    rng = random.Random(f"pool-{seed}")
    es = {f"+346{rng.randint(1, 9)}{rng.randint(0, 9_999_999):07d}" for _ in range(n_es * 2)}
    en = {f"+447700900{i:03d}" for i in rng.sample(range(1000), n_en)}
    return [(p, "es") for p in sorted(es)[:n_es]] + [(p, "en") for p in sorted(en)]


# Comments by venue kind, language and mood. No digit in them may read as a score: the
# numbers that are there ("20 minutos", "habitación 214") are the extractor's distractors.
_COMMENTS: dict[tuple[str, str, str], tuple[str, ...]] = {
    ("bus", "es", "pos"): ("el conductor muy amable", "puntual y limpio", "todo perfecto, gracias",
        "muy buen servicio", "el conductor me esperó, genial", "cómodo y con wifi que funciona",
        "genial porque el conductor me esperó", "limpio y también puntual"),
    ("bus", "es", "neg"): ("llegó 20 minutos tarde", "el conductor fue muy borde",
        "iba lleno y no paró en mi parada, fatal", "esperé 15 min en la parada y nada",
        "el bus estaba sucio", "frenazos todo el rato, fatal",
        "no vuelvo porque nunca llega a su hora"),
    ("bus", "en", "pos"): ("driver was really friendly", "on time and clean", "great service thanks",
        "smooth ride, lovely driver"),
    ("bus", "en", "neg"): ("bus was 20 minutes late", "driver was rude to me",
        "too crowded, it skipped my stop and kept going", "dirty seats and it smells"),
    ("restaurant", "es", "pos"): ("la comida buenísima", "el camarero muy atento", "todo riquísimo",
        "repetiremos seguro", "la paella espectacular",
        "volveremos porque se come muy bien"),
    ("restaurant", "es", "neg"): ("la comida llegó fría", "mesa 12 lleva mucho esperando",
        "el camarero ni nos miró", "nos cobraron de más", "la sopa salada, incomible",
        "la carne cruda y también el pescado"),
    ("restaurant", "en", "pos"): ("food was delicious", "lovely staff", "great paella",
        "will come back for sure"),
    ("restaurant", "en", "neg"): ("food came cold", "waited ages for the bill",
        "waiter ignored us", "overcharged on the bill"),
    ("hotel", "es", "pos"): ("la habitación muy limpia", "el desayuno genial",
        "personal encantador", "vistas preciosas"),
    ("hotel", "es", "neg"): ("la habitación 214 estaba sucia", "no hay toallas",
        "mucho ruido por la noche", "el wifi no funciona"),
    ("hotel", "en", "pos"): ("room was spotless", "breakfast was great", "lovely staff",
        "amazing view from our room, loved it"),
    ("hotel", "en", "neg"): ("room 214 was dirty", "no towels at all", "very noisy at night",
        "wifi keeps dropping"),
}  # fmt: skip
_GENERIC = {("es", "pos"): ("todo muy bien", "muy contentos"), ("es", "neg"): ("muy mal servicio",),
            ("en", "pos"): ("all good", "very happy"), ("en", "neg"): ("really bad service",)}  # fmt: skip
_SAFETY: dict[str, tuple[str, ...]] = {
    "es": ("hay una pelea al fondo", "huele a humo, corred", "me han robado la cartera",
           "un señor se ha desmayado, necesitamos ayuda"),
    "en": ("there is a fight at the back", "I can smell smoke", "my bag was stolen",
           "a man fainted, please send help"),
}  # fmt: skip
_BURST: dict[str, dict[str, tuple[str, ...]]] = {
    "bus": {"es": ("el aire acondicionado no funciona", "q calor!! el aire no va",
                   "sin aire acondicionado otra vez"),
            "en": ("the AC is not working", "so hot, air con broken pls fix")},
    "restaurant": {"es": ("llevamos mucho esperando la comida", "la cocina va lentísima"),
                   "en": ("still waiting for our food", "kitchen is so slow tonight")},
    "hotel": {"es": ("no hay agua caliente", "la ducha sale fría"),
              "en": ("no hot water in the shower", "the shower is freezing")},
}  # fmt: skip
_FOLLOW = {
    ("es", True): ("5", "sí, gracias", "4", "5, muy rápidos", "cinco"),
    ("es", False): ("2", "3", "no mucho la verdad", "1"),
    ("en", True): ("5", "yes, thanks!", "4", "five"),
    ("en", False): ("2", "3", "no, not really", "1"),
}  # fmt: skip
_SMS = {"es": (("porque", "xq"), ("que ", "q "), ("también", "tb"), ("por favor", "porfa")),
        "en": (("please", "pls"), ("thanks", "thx"), ("you", "u"), ("great", "gr8"))}  # fmt: skip
_WORDS = {
    "es": (
        "cero",
        "uno",
        "dos",
        "tres",
        "cuatro",
        "cinco",
        "seis",
        "siete",
        "ocho",
        "nueve",
        "diez",
    ),
    "en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
}
_EMOJI_CSAT = {1: "😡", 2: "😞", 3: "😐", 4: "🙂", 5: "😍"}
_EMOJI_NPS = {0: "😡", 3: "😞", 5: "😐", 8: "🙂", 10: "😍"}
_DECOR = {"pos": ("👍", "😊", "🙌", "!!"), "neg": ("😠", "👎", "!!", "...")}


def _score_text(rng: random.Random, n: int, scale: str, lang: str) -> tuple[str, str]:
    """`n` written one of many ways, and the scale the extractor should read it on."""
    word = _WORDS[lang][n] if n <= 10 else str(n)
    emoji = (_EMOJI_CSAT if scale == "csat5" else _EMOJI_NPS).get(n)
    top = 5 if scale == "csat5" else 10
    forms = [str(n), f"{n}/{top}", word if n > 1 else str(n)]
    if lang == "es":
        forms += [f"un {n}", f"{n} de {top}", f"le doy un {n}", f"nota: {n}", f"un {word}"]
        if scale == "csat5":
            forms += ["★" * n, f"{n} estrella{'s' if n > 1 else ''}"]
    else:
        forms += [f"{'an' if n == 8 else 'a'} {n}", f"{n} out of {top}", f"I'd give it a {n}"]
        if scale == "csat5":
            forms += ["★" * n, f"{n} star{'s' if n > 1 else ''}"]
    if emoji:
        forms.append(emoji)
    return rng.choice(forms), scale


def _smsify(rng: random.Random, text: str, lang: str) -> str:
    """Phone spelling: abbreviations, no accents, lower case, now and then."""
    if rng.random() < 0.4:
        for full, short in _SMS[lang]:
            text = text.replace(full, short)
    if lang == "es" and rng.random() < 0.3:
        text = "".join(
            c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn"
        )
    return text.lower() if rng.random() < 0.3 else text[:1].upper() + text[1:]


def _pick_lang(rng: random.Random, loc: Location) -> str:
    home = loc.lang if loc.lang in ("es", "en") else "es"
    return home if rng.random() < HOME_LANG_SHARE else ("en" if home == "es" else "es")


def _comment(rng: random.Random, kind: str, lang: str, mood: str) -> str:
    return rng.choice(_COMMENTS.get((kind, lang, mood)) or _GENERIC[(lang, mood)])


def _compose(rng: random.Random, comment: str, score_text: str) -> str:
    if not comment:
        return score_text
    if rng.random() < 0.5:
        return f"{score_text}{rng.choice([', ', '. ', ' - ', '! '])}{comment}"
    return f"{comment}{rng.choice(['. ', ', ', '! '])}{score_text}"


def _pick_score(rng: random.Random, scale: str, unhappy: bool) -> int:
    if scale == "nps10":
        return (
            rng.choice([0, 2, 3, 4, 5, 5, 6, 6]) if unhappy else rng.choice([7, 8, 8, 9, 9, 10, 10])
        )
    return rng.choice([1, 1, 2, 2, 2]) if unhappy else rng.choice([3, 4, 4, 5, 5, 5])


def make_message(rng: random.Random, seq: int, loc: Location, customers: Sequence[tuple[str, str]],
                 *, unhappy: bool, text_only: bool = False, safety: bool = False,
                 comment: str | None = None, burst: bool = False,
                 lang: str | None = None) -> SimMessage:  # fmt: skip
    """One message at `loc`, in the customer's language; `comment` overrides the words."""
    lang = lang or _pick_lang(rng, loc)
    phone = rng.choice([p for p, lg in customers if lg == lang] or [p for p, _ in customers])
    mood = "neg" if unhappy or safety else "pos"
    words = comment if comment is not None else (
        rng.choice(_SAFETY[lang]) if safety else _comment(rng, loc.kind, lang, mood))  # fmt: skip
    words = _smsify(rng, words, lang)
    score: int | None = None
    scale: str | None = None
    if text_only or safety:
        text = words
    else:
        score = _pick_score(rng, loc.scale, unhappy)
        written, scale = _score_text(rng, score, loc.scale, lang)
        text = _compose(rng, words if rng.random() > 0.1 else "", written)
        if rng.random() < 0.25 and not any(e in written for e in _EMOJI_CSAT.values()):
            text = f"{text} {rng.choice(_DECOR[mood])}"  # the written score outranks emoji
    return SimMessage(seq=seq, location_id=loc.id, to=loc.numbers[0] if loc.numbers else "",
                      phone=phone, lang=lang, text=text, comment=words, score=score, scale=scale,
                      dissatisfied=unhappy and not safety, safety=safety, burst=burst)  # fmt: skip


def generate(seed: int, venues: Sequence[Location]) -> Iterator[SimMessage]:
    """An endless, reproducible stream of customer messages spread over `venues`.

    >>> from pipeline.config import Location
    >>> bus = Location(id="bus-42", name="Línea 42", kind="bus", scale="nps10", numbers=("+1",))
    >>> a = [m.text for _, m in zip(range(5), generate(7, [bus]))]
    >>> a == [m.text for _, m in zip(range(5), generate(7, [bus]))]
    True
    """
    if not venues:
        raise ValueError("generate: at least one venue")
    rng = random.Random(seed)
    customers = customer_pool(seed)
    seq = 0
    while True:
        loc = rng.choice(venues)
        roll = rng.random()
        safety = roll < SAFETY_SHARE
        unhappy = not safety and roll < SAFETY_SHARE + DISSATISFIED_SHARE
        text_only = not safety and rng.random() < TEXT_ONLY_SHARE
        yield make_message(rng, seq, loc, customers, unhappy=unhappy, text_only=text_only,
                           safety=safety)  # fmt: skip
        seq += 1


def burst(seed: int, loc: Location, size: int, start_seq: int = 0) -> list[SimMessage]:
    """`size` customers at `loc` complaining of the same thing at once (most with a score).

    >>> from pipeline.config import Location
    >>> bus = Location(id="bus-42", name="Línea 42", kind="bus", scale="nps10", numbers=("+1",))
    >>> msgs = burst(1, bus, 4)
    >>> len(msgs), all(m.burst and m.dissatisfied for m in msgs), len({m.phone for m in msgs}) > 1
    (4, True, True)
    """
    rng = random.Random(f"burst-{seed}-{loc.id}")
    customers = customer_pool(seed)
    issues = _BURST.get(loc.kind, _BURST["bus"])
    out = []
    for i in range(size):
        lang = _pick_lang(rng, loc)
        msg = make_message(rng, start_seq + i, loc, customers, unhappy=True,
                           text_only=rng.random() < 0.3, comment=rng.choice(issues[lang]),
                           burst=True, lang=lang)  # fmt: skip
        out.append(msg)
    return out


def follow_up_text(rng: random.Random, lang: str, recovered: bool) -> str:
    """A customer's answer to "did we fix it? reply 1-5".

    >>> follow_up_text(random.Random(1), "es", True) in _FOLLOW[("es", True)]
    True
    """
    return rng.choice(_FOLLOW[(lang if lang in ("es", "en") else "es", recovered)])
