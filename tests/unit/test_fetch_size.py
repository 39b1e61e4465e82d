"""What one fetch of a stage process's Faust consumer brings of a partition: bounded by
`PRONTO_FETCH_PARTITION_KB` (128 KiB by default, Faust's is 1 MiB), in every process."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.app import make_faust_app
from pipeline.settings import PROCESSES, Settings


@pytest.mark.parametrize("stages", PROCESSES)
def test_each_process_fetches_at_most_its_bound_per_partition(
    tmp_path: Path, stages: frozenset[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONSUMER_MAX_FETCH_SIZE", raising=False)  # Faust's own variable
    monkeypatch.delenv("PRONTO_FETCH_PARTITION_KB", raising=False)
    s = Settings(broker="kafka://127.0.0.1:1", home=tmp_path)  # never contacted
    assert make_faust_app(s, stages).conf.consumer_max_fetch_size == 128 * 1024
    monkeypatch.setenv("PRONTO_FETCH_PARTITION_KB", "512")
    s = Settings(broker="kafka://127.0.0.1:1", home=tmp_path)
    assert make_faust_app(s, stages).conf.consumer_max_fetch_size == 512 * 1024


def test_a_bound_of_zero_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="PRONTO_FETCH_PARTITION_KB: KiB > 0, got 0"):
        Settings(fetch_partition_kb=0)
