"""Find the score in a customer's free-text answer, in Spanish or English.

Pure: a string and the location's scale in, an `Extraction` (or None) out.

What counts as a score, in order of preference:

1. An explicit form, which carries its own scale whatever the location asks: "4/5",
   "8 de 10", "9 sobre 10", "6 out of 10", "nueve de diez", "3 stars", "5 estrellas", "5*",
   "★★★★", "★★★☆☆". A scale phrase ("del 1 al 10, un 8", "on a scale of 1-5, 4") makes the
   number after it explicit too. The first explicit form in the text wins.
2. Otherwise the first plausible bare number, on the location's scale: digits ("8", "0", "un 9",
   "le doy un 8", "I'd give it a 7", "7 pts", "nota: 6") or number words ("nueve", "nine",
   "diez", "cero"). A decimal is rounded down ("8,5" -> 8): a half point never lifts a
   customer into a happier band than they chose.
3. Otherwise emoji and emoticons (csat5: 😡=1 😞=2 😐=3 🙂=4 😍=5; on nps10 0/3/5/8/10).
   Several emoji: the most frequent value; a tie goes to the lowest, because missing an
   unhappy customer costs more than paging for a lukewarm one.

Numbers that are not scores (the ambiguity rules):

- a number followed by a unit: "llegó 10 minutos tarde", "2 personas", "20 €", "5 km", "3 pm",
  "2 veces", "10%" (see `_UNITS`);
- an identifier, i.e. a number after "mesa", "table", "habitación", "room", "asiento", "seat",
  "línea", "line", "bus", "#", "nº", "parada", "día", a month name... (see `_IDENT`), or a number
  glued to letters ("B42", "5th", "3º");
- times and dates: "8:30", "20h30", "20.30", "a las 9", "at 10", "12/05/2024", "5 de mayo";
- a count or an amount: "los 2 camareros", "más de 20", "pagué 9", "éramos 4", "para 4",
  and a number followed by a plural noun ("2 pizzas", "3 tries") unless it is capitalised
  (a name: "10 Luis, muy amable");
- a range or an offer: "de 8 a 10", "from 7 to 10", "8-10", "2 for 1";
- a fraction whose numerator exceeds its denominator ("12/10" is a date, not a score);
- a bare number outside the scale's range (12 on nps10, 0 or 7 on csat5).

Number words are riskier than digits ("dos camareros", "the best one"), so a word counts only
after a cue ("un", "a", "nota", "give") or when followed by the end, punctuation, an emoji, or a
word from `_WORD_FOLLOW` ("pero", "but", "muy"...). "uno" and "one" count only after a cue or as
the whole message. A message that is only a number in range is always a score. Negation and
conditionals are not read: "no es un 10" yields 10, and so does "a 10 if the wifi worked, 8 for
now". Input longer than `MAX_CHARS` is cut.

>>> extract_score("Mesa 12: 2/10", "csat5")
Extraction(score=2, scale='nps10', explicit=True)
>>> extract_score("llegó 10 minutos tarde", "nps10") is None
True
>>> extract_score("le doy un nueve", "nps10")
Extraction(score=9, scale='nps10', explicit=False)
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

logger = logging.getLogger(__name__)

MAX_CHARS = 4000  # an SMS is at most 1600; longer input is cut so a paste costs nothing
RANGES: dict[str, tuple[int, int]] = {"csat5": (1, 5), "nps10": (0, 10)}
_TOP = {5: "csat5", 10: "nps10"}


@dataclass(frozen=True)
class Extraction:
    score: int
    scale: str  # csat5 (1-5) or nps10 (0-10)
    explicit: bool  # an explicit form ("4/5", "8 de 10", stars) set the scale itself


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NUMBER_WORDS: dict[str, int] = {
    **dict.fromkeys(("cero", "zero"), 0),
    **dict.fromkeys(("uno", "one"), 1),
    **dict.fromkeys(("dos", "two"), 2),
    **dict.fromkeys(("tres", "three"), 3),
    **dict.fromkeys(("cuatro", "four"), 4),
    **dict.fromkeys(("cinco", "five"), 5),
    **dict.fromkeys(("seis", "six"), 6),
    **dict.fromkeys(("siete", "seven"), 7),
    **dict.fromkeys(("ocho", "eight"), 8),
    **dict.fromkeys(("nueve", "nine"), 9),
    **dict.fromkeys(("diez", "ten"), 10),
}
_WEAK_WORDS = frozenset({"uno", "one"})  # "the best one", "uno de los": need a cue

_UNITS = _words(
    "min mins minuto minutos minute minutes minutitos m h hr hrs hs hora horas hour hours seg "
    "segs segundo segundos sec secs second seconds dia dias day days semana semanas week weeks "
    "mes meses month months ano anos year years noche noches night nights persona personas "
    "people person persons pax adulto adultos adult adults nino ninos kid kids child children "
    "euro euros eur usd dolar dolares dollar dollars bucks libras pounds gbp cent cents "
    "centimos km kms kilometros metros meter meters metre metres millas miles cuadras blocks "
    "calles streets kg kilos g gr l litros am pm p veces vez times time paradas stops stop "
    "plato platos dishes cafe cafes coffees cervezas beers copas drinks maletas bags bultos camas beds habitaciones rooms "
    "mesas tables asientos seats billetes tickets pasajeros passengers clientes customers "
    "camareros waiters buses autobuses pulgares thumbs grados degrees"
)
_MONTHS = _words(
    "enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre "
    "diciembre january february march april may june july august september october november "
    "december jan feb mar apr jun jul aug sep sept oct nov dec"
)
_IDENT = _MONTHS | _words(
    "mesa table tbl habitacion hab room rm asiento seat linea line bus autobus no nº num numero "
    "number nro n planta floor piso puerta gate door parada stop ruta route vuelo flight pedido "
    "order ticket ref referencia terminal coche vagon car carriage platform anden via calle "
    "street avenida dia day codigo code reserva booking reservation factura invoice cama bed "
    "plaza zona zone sala hall caja counter mostrador kilometro version paso step telefono "
    "phone edificio building bloque block portal apartamento apartment apt suite cabina cabin"
)
# A count, an amount, a time or a determiner before the number: "los 2", "pagué 9", "a las 9".
_NOT_SCORE_BEFORE = _words(
    "el la los las lo the this that these those every each cada otro otra otros another some "
    "any which at before after until till by around about approx approximately aprox "
    "aproximadamente hasta desde antes despues tras unos unas casi almost nearly over mas more "
    "menos less than para for por x eramos somos were pague pagamos pagar cobraron cobran "
    "cobro costo cuesta paid pay pays charged charge cost costs top under of from to got had "
    "hay habia quedan quedaban tengo tenia tenemos pedimos ordered bought compramos there"
)
_CUES = _words(
    "un a an nota notas puntuacion puntaje calificacion valoracion rating rate rated score "
    "scored give gave giving doy pongo daria pondria say diria mark marks overall general "
    "total"
)
_WORD_FOLLOW = _words(
    "pero but y e and muy very really super todo everything all excelente excellent genial "
    "great bien good mal bad ok okay vale gracias thanks thank thx grax por for para puntos "
    "points pts ptos pt pto overall general sin definitely definitivamente el la the because "
    "porque xq pq since ya que so asi"
)
_RANGE_WORDS = frozenset({"a", "al", "to", "for", "por", "x", "till", "until", "hasta"})
_NOT_PLURAL = _words(
    "thanks gracias cheers pues despues this plus less always perhaps besides sometimes unless "
    "todos todas muchas muchos besos saludos plis adios guys chicos chicas does goes gets makes "
    "looks seems feels eres estas sois tienes kudos congrats felicidades ellos ellas nosotros "
    "vosotros ustedes tambien mientras entonces"
)
_POINTS = frozenset({"pts", "pt", "pto", "ptos", "puntos", "points"})
# The words a customer uses to give a score and nothing else ("I'd give it a 2", "le doy un
# cinco", "nota: 4", "5 de 10", "cinco estrellas"): see `says_more_than_score`.
_SCORE_PHRASE = (
    _CUES
    | _POINTS
    | frozenset(_NUMBER_WORDS)
    | _words(
        "i id it its this that le lo les eso esto yo me my de del al sobre out of on in scale "
        "escala stars star estrellas estrella would daria dare will ll"
    )
)
# What follows makes it a time, a count or a share: "2 de la tarde", "10 y media", "3 of us".
_NOT_SCORE_AFTER: tuple[tuple[str, ...], ...] = (
    ("de", "los"), ("de", "las"), ("de", "la"), ("de", "nosotros"), ("of", "us"), ("of", "the"),
    ("of", "them"), ("in", "the"), ("y", "media"), ("y", "cuarto"), ("and", "a", "half"),
    ("a", "."), ("o", "'", "clock"), ("o", "clock"),
)  # fmt: skip

_EMOJI_CSAT: dict[str, int] = {
    **dict.fromkeys("😡😠🤬🤮🤢💩😤", 1),
    **dict.fromkeys("😞☹🙁😕😒😟😔😢😭😣😖😫😩👎💔", 2),
    **dict.fromkeys("😐😑😶🤷", 3),
    **dict.fromkeys("🙂👍👌😌☺😉", 4),
    **dict.fromkeys("😊😀😃😄😁😍🤩🥰😘😋❤♥💯🙌👏🎉💕💖", 5),
}
_EMOTICONS: dict[str, int] = {
    ">:(": 1, ":'(": 2, ":-(": 2, ":(": 2, "=(": 2, ":/": 3, ":|": 3,
    ":-)": 4, ":)": 4, "=)": 4, ";)": 4, ":-d": 5, ":d": 5, "<3": 5,
}  # fmt: skip
_EMOJI_NPS = {1: 0, 2: 3, 3: 5, 4: 8, 5: 10}
# Longest first, so ">:(" is not read as ":("; one that ends in a letter needs a boundary (":dos").
_EMOTICON_RE = re.compile(
    "|".join(
        re.escape(e) + (r"(?!\w)" if e[-1].isalnum() else "")
        for e in sorted(_EMOTICONS, key=len, reverse=True)
    )
)

_NUM_WORD_RE = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_NUM = rf"(?<![\w/+#$€£])(?<!\d[.,])(?P<n>\d{{1,2}}(?:[.,]\d)?|{_NUM_WORD_RE})"
_DEN = r"(?P<d>10|5|diez|cinco|ten|five)(?![\w/]|[.,]\d)"
_FRACTION_RE = re.compile(
    rf"{_NUM}(?:\s*/\s*|\s+(?:de|sobre|over|out\s+of|outta|of)\s+){_DEN}(?P<tail>\s*[\w/]*)"
)
_STARS_RE = re.compile(
    rf"{_NUM}[\s-]*(?:stars?|estrellas?|estrelas?|stelle|stella|etoiles?|sterne?|\*|[⭐★🌟]+)(?!\w)"
    rf"|(?:stars?|estrellas?)\s*[:=]?\s*{_NUM.replace('<n>', '<n2>')}(?!\w)"
)
_CATEGORY = ("hotel", "restaurant", "restaurante", "resort")  # "un hotel de 4 estrellas"
_GLYPHS_RE = re.compile(r"[⭐★🌟☆✩]+")
_SCALE_RE = re.compile(
    r"(?P<p>(?:del?|from|entre|between|on\s+a\s+scale\s+of|scale\s+of|escala\s+del?|scale)\s+)?"
    r"(?<![\w/])(?:0|1|cero|uno|zero|one)\s*(?P<c>-|–|to|a|al|y|and)\s*"
    r"(?P<d>10|5|diez|cinco|ten|five)(?![\w/])"
)
_TIME_RE = re.compile(r"\d{1,2}(?::|\s?h\s?|\.)\d{2}(?![\d/])|\d{1,4}([/\-.])\d{1,4}\1\d{1,4}")
_RANGE_RE = re.compile(r"\d+[-–]\d+|\d+[.,]\d{2,}|\d{3,}")
_URL_RE = re.compile(r"\w+://\S+|www\.\S+")
_LETTERS_RE = re.compile(r"[^\W\d_]{2,}")
_TOKEN_RE = re.compile(r"[^\W\d_]+|\d+(?:[.,]\d)?|_+|\S")


def _fold_char(c: str) -> str:
    if unicodedata.category(c) == "Mn":
        return " "  # a variation selector or a stray accent: "☹️" is "☹"
    low = c.lower()
    return unicodedata.normalize("NFD", low)[0] if len(low) == 1 else c


class _FoldTable(dict[int, str]):
    """`_fold_char` by code point, for `str.translate`, worked out once per character seen
    (up to `limit` of them: past that, a character is worked out each time)."""

    def __init__(self, limit: int = 8192) -> None:
        super().__init__()
        self.limit = limit

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        if len(self) < self.limit:
            self[code] = folded
        return folded


_FOLD_TABLE = _FoldTable()


def _fold(text: str) -> str:
    """Lower case without accents, one character for one, so positions match `text`.

    >>> _fold("¡Ñandú ☹️ MUY Lento!")
    '¡nandu ☹  muy lento!'
    """
    return text.translate(_FOLD_TABLE)


def _value(token: str) -> int:
    if token in _NUMBER_WORDS:
        return _NUMBER_WORDS[token]
    return int(float(token.replace(",", ".")))  # rounds a decimal down


def _mask(s: str, start: int, end: int) -> str:
    return s[:start] + "_" * (end - start) + s[end:]


def _in_range(score: int, scale: str) -> bool:
    lo, hi = RANGES[scale]
    return lo <= score <= hi


def _stars(m: re.Match[str], s: str) -> Extraction | None:
    if s[: m.start()].rstrip().endswith((*_CATEGORY, "hotel de", "restaurante de")):
        return None
    if s[m.end() :].lstrip().startswith(_CATEGORY):
        return None
    n = _value(m.group("n") or m.group("n2"))
    return Extraction(max(n, 1), "csat5", explicit=True) if n <= 5 else None


def _glyphs(run: str) -> Extraction | None:
    filled = sum(c not in "☆✩" for c in run)
    total = len(run) if filled < len(run) else (5 if filled <= 5 else 10)
    if total not in (5, 10) or filled > total:
        return None  # "☆☆" or a row of twenty stars says nothing about a scale
    return Extraction(max(filled, 1) if total == 5 else filled, _TOP[total], explicit=True)


def _explicit(s: str) -> tuple[Extraction | None, str]:
    """The first explicit form, and `s` with every explicit form masked out."""
    found: list[tuple[int, Extraction]] = []
    for m in _FRACTION_RE.finditer(s):
        tail = m.group("tail").strip()
        if tail.startswith("/") or tail in _UNITS:
            continue  # "5/10/2024", "2 de 10 minutos"
        n, top = _value(m.group("n")), _value(m.group("d"))
        if n <= top:  # "0/5" is the worst answer there is: the lowest csat5 score
            found.append((m.start(), Extraction(max(n, 1) if top == 5 else n, _TOP[top], True)))
        s = _mask(s, m.start(), m.start("tail"))
    for m in _STARS_RE.finditer(s):
        star = _stars(m, s)
        if star is not None:
            found.append((m.start(), star))
        s = _mask(s, m.start(), m.end())
    for m in _GLYPHS_RE.finditer(s):
        star = _glyphs(m.group())
        if star is not None:
            found.append((m.start(), star))
        s = _mask(s, m.start(), m.end())
    found.sort(key=lambda f: f[0])
    return (found[0][1] if found else None), s


def _toks_before(toks: list[re.Match[str]], i: int) -> list[str]:
    return [t.group() for t in toks[max(0, i - 3) : i]]


def _looks_plural(word: str, tok: re.Match[str], orig: str) -> bool:
    shown = orig[tok.start() : tok.end()]
    if shown[:1].isupper() and not shown.isupper():
        return False  # a name: "10 Luis, muy amable"
    return len(word) >= 4 and word.endswith("s") and word not in _NOT_PLURAL


def _is_bare_score(toks: list[re.Match[str]], i: int, n: int, orig: str) -> bool:
    tok = toks[i].group()
    prev = [t.group() for t in toks[max(0, i - 2) : i]]
    nxt = tuple(t.group() for t in toks[i + 1 : i + 4])
    if i > 0 and toks[i - 1].end() == toks[i].start() and prev[-1].isalnum():
        return False  # glued to letters: "B42"
    if nxt and toks[i + 1].start() == toks[i].end() and nxt[0].isalpha():
        return nxt[0] in _POINTS  # "7pts" is a score, "5th", "10min", "42a" are not
    if nxt and (nxt[0] in _UNITS or nxt[0] in "%€$£º°ª'\""):
        return False
    if len(nxt) >= 2 and nxt[0] in _RANGE_WORDS and nxt[1][0].isdecimal():
        return False  # "de 8 a 10", "from 7 to 10", "2 for 1"
    if tok[0].isdecimal() and nxt and n > 1 and _looks_plural(nxt[0], toks[i + 1], orig):
        return False  # "2 pizzas", "3 tries": a count
    if any(nxt[: len(after)] == after for after in _NOT_SCORE_AFTER):
        return False
    if len(nxt) >= 2 and nxt[0] in ("de", "of") and nxt[1] in _MONTHS:
        return False  # "5 de mayo"
    cue_prev = [p for p in _toks_before(toks, i) if p not in (":", "=", "-", "of", "de")]
    cue = bool(cue_prev) and cue_prev[-1] in _CUES
    if not cue and prev and (prev[-1] in _IDENT or prev[-1] in _NOT_SCORE_BEFORE):
        return False
    if prev and prev[-1] in "#€$£+º°":
        return False
    if len(prev) == 2 and prev[1] in (":", ".") and prev[0] in _IDENT:
        return False  # "mesa: 12", "no. 5"
    if tok in _NUMBER_WORDS:
        if tok in _WEAK_WORDS and not cue:
            return False
        if nxt and nxt[0].isalpha() and nxt[0] not in _WORD_FOLLOW and nxt[0] not in _POINTS:
            return False  # "dos camareros", "ten cuidado"
    return True


def _bare(s: str, orig: str, scale: str) -> Extraction | None:
    toks = [t for t in _TOKEN_RE.finditer(s) if not t.group().startswith("_")]
    words = [t.group() for t in toks]
    if len(words) == 1 and (words[0][0].isdecimal() or words[0] in _NUMBER_WORDS):
        n = _value(words[0])  # a message that is only a number
        return Extraction(n, scale, explicit=False) if _in_range(n, scale) else None
    for i, w in enumerate(words):
        if not (w[0].isdecimal() or w in _NUMBER_WORDS):
            continue
        n = _value(w)
        if _in_range(n, scale) and _is_bare_score(toks, i, n, orig):
            return Extraction(n, scale, explicit=False)
    return None


def _emoji(s: str, original: str, scale: str) -> Extraction | None:
    values = [_EMOJI_CSAT[c] for c in s if c in _EMOJI_CSAT]
    lowered = _URL_RE.sub(" ", original.lower())
    values.extend(_EMOTICONS[e] for e in _EMOTICON_RE.findall(lowered))
    if not values:
        return None
    counts = Counter(values)
    best = max(counts.values())
    v = min(value for value, c in counts.items() if c == best)
    return Extraction(v if scale == "csat5" else _EMOJI_NPS[v], scale, explicit=False)


def says_more_than_score(text: str) -> bool:
    """Whether `text` has a word that is not one of those that give a score: what the
    sentiment model may judge. "I'd give it a 2" only scores (the model, taught that most
    "I'd give it a ..." are happy, would call it happy text).

    >>> says_more_than_score("I'd give it a 2"), says_more_than_score("le doy un cinco ⭐")
    (False, False)
    >>> says_more_than_score("5, muy rápidos"), says_more_than_score("2, genial")
    (True, True)
    """
    return any(w not in _SCORE_PHRASE for w in _LETTERS_RE.findall(_fold(text)))


@functools.lru_cache(maxsize=1)
def extract_score(text: str, scale: str) -> Extraction | None:
    """The score in `text`, or None; `scale` (csat5 | nps10) applies to bare numbers.

    The last answer is kept (an `Extraction` is frozen): ingest reads a message's score when
    it builds the record and again when it triages it, with no other message in between.

    >>> extract_score("8", "nps10")
    Extraction(score=8, scale='nps10', explicit=False)
    >>> extract_score("Muy bien, 4 de 5", "nps10")
    Extraction(score=4, scale='csat5', explicit=True)
    >>> extract_score("😍", "csat5")
    Extraction(score=5, scale='csat5', explicit=False)
    """
    if scale not in RANGES:
        raise ValueError(f"unknown scale {scale!r}: one of {tuple(RANGES)}")
    if not isinstance(text, str) or not text.strip():
        return None
    orig = unicodedata.normalize("NFC", text[:MAX_CHARS])
    s = _URL_RE.sub(lambda m: "_" * len(m.group()), _fold(orig))
    for emoticon in ("<3",):  # its digit is not a number
        s = s.replace(emoticon, "_" * len(emoticon))
    s = _TIME_RE.sub(lambda m: "_" * len(m.group()), s)
    found, s = _explicit(s)
    if found is not None:
        return found
    phrase = next(
        (m for m in _SCALE_RE.finditer(s) if m.group("p") or m.group("c") in ("-", "–", "to")),
        None,
    )
    if phrase is not None:
        scale = _TOP[_value(phrase.group("d"))]
        s = _mask(s, phrase.start(), phrase.end())
    s = _RANGE_RE.sub(lambda m: "_" * len(m.group()), s)
    bare = _bare(s, orig, scale)
    if bare is not None:
        return Extraction(bare.score, bare.scale, explicit=phrase is not None)
    return _emoji(s, orig, scale)
