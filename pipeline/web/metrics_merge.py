"""One `/metrics` for a worker whose stages run in several processes: the expositions of the
processes, merged into one, so Prometheus scrapes a worker as before.

Each process declares the same families; a series lives in the process that updates it, and
the others report zero or nothing. Merging adds the samples of a series (counters, gauges
and histogram buckets alike), except `_created`, which keeps the earliest.

The texts are merged line by line, not parsed into `prometheus_client`'s objects: with 1,000
locations a worker's processes expose tens of thousands of samples (about 24,000 series came
out of one scrape in a 300,000-record drain), and parsing them into families, samples and
label dicts (then writing them out again) built about 27 MB in the web process
(tracemalloc), which glibc kept. A series is the same text in every process (the
families and their label names are declared once, `pipeline/metrics.py`), so its text up to
the value is its key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prometheus_client.utils import floatToGoString

logger = logging.getLogger(__name__)


class _Family:
    __slots__ = ("head", "series")

    def __init__(self) -> None:
        self.head: dict[str, str] = {}  # "HELP" and "TYPE" -> its line, from the first process
        self.series: dict[str, float] = {}  # series text (name and labels) -> merged value


def merge_expositions(texts: Iterable[str]) -> bytes:
    """The Prometheus text format of all `texts` together.

    >>> head = "# HELP x_total X.\\n# TYPE x_total counter\\n"
    >>> a = head + 'x_total{l="a"} 1.0\\nx_created{l="a"} 9.0\\n# HELP g G.\\n# TYPE g gauge\\ng 0.0\\n'
    >>> b = head + 'x_total{l="a"} 2.0\\nx_created{l="a"} 8.0\\nx_total{l="b c"} 5.0\\n# HELP g G.\\n# TYPE g gauge\\ng 7.0\\n'
    >>> print(merge_expositions([a, b]).decode().strip())
    # HELP x_total X.
    # TYPE x_total counter
    x_total{l="a"} 3.0
    x_created{l="a"} 8.0
    x_total{l="b c"} 5.0
    # HELP g G.
    # TYPE g gauge
    g 7.0
    """
    families: dict[str, _Family] = {}
    for text in texts:
        family = _Family()  # samples before any HELP line (none, from prometheus_client)
        for line in text.splitlines():
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split(" ", 3)
                if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                    family = families.get(parts[2]) or families.setdefault(parts[2], _Family())
                    family.head.setdefault(parts[1], line)
                continue
            key, _, raw = line.rpartition(" ")  # label values may hold spaces; values never do
            try:
                value = float(raw)
            except ValueError:
                logger.warning("metrics: a sample line not understood: %.200s", line)
                continue
            merged = family.series.get(key)
            if merged is None:
                family.series[key] = value
            elif key.partition("{")[0].endswith("_created"):
                family.series[key] = min(merged, value)
            else:
                family.series[key] = merged + value
    out: list[str] = []
    for family in families.values():
        out += family.head.values()
        out += [f"{key} {floatToGoString(value)}" for key, value in family.series.items()]
    out.append("")
    return "\n".join(out).encode()


__all__ = ["merge_expositions"]
