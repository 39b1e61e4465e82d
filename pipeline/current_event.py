"""The record a table write belongs to, when an agent takes its records in batches.

Faust sends a table write to the changelog partition of the current event (a context
variable it sets as a stream yields each record). A batch from `take_events` holds records of
several partitions, and Faust leaves the last one current: each record is made current
before its writes.
"""

from __future__ import annotations

import weakref
from typing import Any

from faust.streams import _current_event


def as_event(event: Any) -> None:
    """Make `event` the current one, for the table writes that follow."""
    _current_event.set(weakref.ref(event))
