"""While the score tables cannot be read (the process is stopping, or a rebalance has closed
their RocksDB partitions), the scores are refused, never served as zeros."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.scoring.scores_view import ScoresCollector, ScoresUnavailable, current_scores


def ctx_with(should_stop: bool = False, rebalancing: bool = False) -> Any:
    app = SimpleNamespace(should_stop=should_stop, rebalancing=rebalancing)
    return SimpleNamespace(app=app, tables={}, venues=SimpleNamespace(ids=()), windows=())


@pytest.mark.parametrize(("state", "why"), [({"should_stop": True}, "stopping"),
                                            ({"rebalancing": True}, "rebalancing")])  # fmt: skip
def test_scores_are_refused_while_the_tables_cannot_be_read(
    state: dict[str, bool], why: str
) -> None:
    with pytest.raises(ScoresUnavailable, match=why):
        current_scores(ctx_with(**state), 0.0)


def test_scores_are_served_otherwise_and_a_scrape_meanwhile_has_no_series() -> None:
    assert current_scores(ctx_with(), 0.0)["locations"] == {}
    families = list(ScoresCollector(ctx_with(rebalancing=True)).collect())
    assert families and all(not fam.samples for fam in families)
