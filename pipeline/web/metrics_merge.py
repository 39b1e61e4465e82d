"""One `/metrics` for a worker whose stages run in several processes: the expositions of the
processes, merged into one, so Prometheus scrapes a worker as before.

Each process declares the same families; a series lives in the process that updates it, and
the others report zero or nothing. Merging adds the samples of a series (counters, gauges
and histogram buckets alike), except `_created`, which keeps the earliest.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

logger = logging.getLogger(__name__)


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def merge_expositions(texts: Iterable[str]) -> bytes:
    """The Prometheus text format of all `texts` together.

    >>> head = "# HELP x_total X.\\n# TYPE x_total counter\\n"
    >>> a = head + 'x_total{l="a"} 1.0\\n# HELP g G.\\n# TYPE g gauge\\ng 0.0\\n'
    >>> b = head + 'x_total{l="a"} 2.0\\nx_total{l="b"} 5.0\\n# HELP g G.\\n# TYPE g gauge\\ng 7.0\\n'
    >>> print(merge_expositions([a, b]).decode().strip())
    # HELP x_total X.
    # TYPE x_total counter
    x_total{l="a"} 3.0
    x_total{l="b"} 5.0
    # HELP g G.
    # TYPE g gauge
    g 7.0
    """
    merged: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in texts:
        for fam in text_string_to_metric_families(text):
            if fam.name not in merged:
                merged[fam.name] = Metric(fam.name, fam.documentation, fam.type, fam.unit)
                values[fam.name] = {}
            series = values[fam.name]
            for sample in fam.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in series:
                    series[key] = sample.value
                elif sample.name.endswith("_created"):
                    series[key] = min(series[key], sample.value)
                else:
                    series[key] += sample.value
    for name, fam in merged.items():
        for (sname, labels), value in values[name].items():
            fam.add_sample(sname, dict(labels), value)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(merged.values())))  # type: ignore[arg-type]
    return generate_latest(registry)


__all__ = ["merge_expositions"]
