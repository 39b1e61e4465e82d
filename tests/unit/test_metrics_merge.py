"""`merge_expositions` against the sum that `prometheus_client`'s own parser gives, on the
text of real registries: counters (with `_created`), gauges, histograms, label values with
spaces, quotes and backslashes, and series that live in one process or in several."""

from __future__ import annotations

import math
from collections import defaultdict

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.web.metrics_merge import merge_expositions

LOCATIONS = ["loc-0001", "loc-0002", 'Bus "7" \\ Norte', "Venue 12 - terraza"]


def exposition(seed: int, locations: list[str]) -> str:
    registry = CollectorRegistry()
    scored = Counter("pronto_t_scored", "Scored.", ["location"], registry=registry)
    gauge = Gauge("pronto_t_open", "Open.", ["location", "kind"], registry=registry)
    seconds = Histogram("pronto_t_seconds", "Seconds.", registry=registry, buckets=(0.1, 1.0))
    for i, loc in enumerate(locations):
        scored.labels(loc).inc(seed + i)
        gauge.labels(loc, "k").set(seed * 0.5 + i)
        seconds.observe(0.05 * (seed + i))
    return generate_latest(registry).decode()


def sums(texts: list[str]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The reference: every sample parsed, summed per series (`_created`: the earliest)."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
    created: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                if s.name.endswith("_created"):
                    created[key] = min(created.get(key, math.inf), s.value)
                else:
                    out[key] += s.value
    return {**out, **created}


def test_merge_sums_every_series_as_the_parser_reads_them() -> None:
    texts = [exposition(1, LOCATIONS), exposition(5, LOCATIONS[1:]), exposition(9, LOCATIONS[:2])]
    merged = merge_expositions(texts).decode()
    assert sums([merged]) == sums(texts)
    # One header per family, and every family's samples under it (the parser would split them).
    assert merged.count("# HELP pronto_t_scored_total ") == 1
    assert merged.count("# TYPE pronto_t_seconds histogram") == 1
    names = [f.name for f in text_string_to_metric_families(merged)]
    assert names == [f.name for f in text_string_to_metric_families(texts[0])]
    assert len(names) == len(set(names)) and "pronto_t_seconds" in names


def test_a_line_not_understood_is_left_out_not_fatal() -> None:
    good = exposition(2, LOCATIONS[:1])
    merged = merge_expositions([good + 'pronto_t_open{location="x",kind="k"} not-a-number\n'])
    assert b"not-a-number" not in merged
    assert sums([merged.decode()]) == sums([good])
