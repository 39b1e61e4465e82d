"""The dedupe table's marks: which record carried a feedback id, so that a replay after a crash
(the same record again) is told apart from another copy of the same feedback (a client's retry).

The score stage is at-least-once: after a crash, Faust replays `feedback.raw` from the last
committed offset. The counters have replay marks of their own (`location_counts.py`: one value
per location, its counts and the last record they took, in one changelog record).
"""

from __future__ import annotations

from typing import Any


def seen_mark(received_at: float, partition: int, offset: int) -> list[Any]:
    """The dedupe table's value for a feedback id: when it was received and which record
    carried it.

    >>> seen_mark(1700000000.5, 3, 42)
    [1700000000.5, 3, 42]
    """
    return [received_at, partition, offset]


def received_at_of(mark: Any) -> float | None:
    """When a marked feedback was received (a legacy mark is the bare timestamp).

    >>> received_at_of([12.5, 0, 7]), received_at_of(12.5), received_at_of(None)
    (12.5, 12.5, None)
    """
    if mark is None:
        return None
    if isinstance(mark, list | tuple):
        return float(mark[0])
    return float(mark)


def mark_partition(mark: Any) -> int:
    """The source partition of a marked feedback (-1 for a legacy mark).

    >>> mark_partition([12.5, 3, 7]), mark_partition(12.5)
    (3, -1)
    """
    if isinstance(mark, list | tuple) and len(mark) >= 3:
        return int(mark[1])
    return -1


def is_other_copy(mark: Any, partition: int, offset: int) -> bool:
    """Whether a feedback id already seen arrives again in *another* record (a client's retry,
    a second webhook): that copy is dropped. The same record again is a replay after a crash:
    it goes through, and each counter's own mark decides what it still needs.

    The dedupe mark and the counters are separate changelog records, so after a kill either
    may have landed without the other; only the counters' marks say what was counted.

    >>> m = seen_mark(1.0, 2, 40)
    >>> is_other_copy(m, 2, 40), is_other_copy(m, 2, 57), is_other_copy(m, 5, 40)
    (False, True, True)
    >>> is_other_copy(1.0, 2, 40)  # a legacy mark cannot tell: treat it as another copy
    True
    """
    if isinstance(mark, list | tuple) and len(mark) >= 3:
        return not (int(mark[1]) == partition and int(mark[2]) == offset)
    return True
