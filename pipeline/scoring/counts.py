"""Counter values that remember the last source record they took: `+=` that a replay cannot repeat.

The score stage is at-least-once: after a crash, Faust replays `feedback.raw` from the last
committed offset, and a record may already have reached some of its counters (each counter key is
its own changelog record, so a kill can land between them). A plain integer cannot tell a replay
from a new answer; this value can. It is `[count, source partition, last offset applied]`, one
changelog record, so the count and the mark move together or not at all: each key is exact on
its own, whatever the others did.

The count is still a scalar sum updated with `+=`: the mark only says whether to add. A
location's records all come from one partition (`feedback.raw` is keyed by location), so one
mark per key is enough; a record from another partition (the topic was repartitioned) is added
and moves the mark. Old plain-int values are read as counts with no mark.
"""

from __future__ import annotations

from typing import Any

CountValue = list[int]  # [count, partition, offset]


def count_of(value: Any) -> int:
    """The count in a counter value (a marked list, a legacy int, or nothing).

    >>> count_of([3, 0, 17]), count_of(5), count_of(None)
    (3, 5, 0)
    """
    if value is None:
        return 0
    if isinstance(value, list | tuple):
        return int(value[0])
    return int(value)


def add_once(value: Any, delta: int, partition: int, offset: int) -> CountValue | None:
    """`value` plus `delta`, marked as having taken record (`partition`, `offset`); or None
    when that record (or a later one of the same partition) was already applied: a replay.

    >>> v = add_once(None, 1, 0, 10); v
    [1, 0, 10]
    >>> v = add_once(v, 2, 0, 11); v
    [3, 0, 11]
    >>> add_once(v, 1, 0, 11) is None, add_once(v, 1, 0, 5) is None  # replayed after a crash
    (True, True)
    >>> add_once(v, 1, 3, 2)  # from another partition: added, and the mark moves there
    [4, 3, 2]
    >>> add_once(7, 1, 0, 0)  # a legacy int counts on
    [8, 0, 0]
    """
    marked = isinstance(value, list | tuple) and len(value) == 3
    if marked and int(value[1]) == partition and offset <= int(value[2]):
        return None
    return [count_of(value) + delta, partition, offset]


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
