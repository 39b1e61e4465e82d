"""Three fixes to faust-streaming's offset bookkeeping, so that a restart or a rebalance never
commits past a record that no agent has processed. Applied once, by `make_faust_app`.

What went wrong (seen in `tests/e2e/test_reliability.py`: 59-853 of 5,150 records skipped after
SIGKILL restarts, with the consumer group committed to the end):

1. **Records delivered before the seek.** On a worker's first assignment the consumer's flow is
   still active, and after table recovery Faust resumes the stream partitions *before* it
   awaits `perform_seek`, with the flow on; in both windows the fetcher hands records to the
   agents, and then the seek rewinds the read offset to the committed one under the fetcher's
   feet, so the next record it yields can be far past the read offset.
2. **A jump in offsets is taken for a hole in the log.** `_drain_messages` records such a jump as
   a "gap" (meant for compacted topics and transaction markers), and `_new_offset` counts every
   gap offset as acknowledged. The records in between, still queued in the agent, were then
   committed; a kill before they were processed lost them for good.
3. **The head check is off by one and skips offset 0.** `_new_offset` commits when the lowest
   acknowledged offset is the committed one *plus one* (the committed offset is the next to
   read, so that record was skipped), and skips the check when the committed offset is 0.

The fixes: stop the flow at the start of every assignment and for every seek (Faust resumes
it right after the seek); record no gaps on topics that have none (ours: no compaction, no transactions);
commit only a run of acknowledged offsets that starts exactly at the committed one. A partition
that has never been committed is read again from the log start after the seek.

faust-streaming issues #216, #312 and #606 describe the same paths. Each fix is small and
keeps Faust's own behaviour for exactly-once processing and compacted topics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

_APPLIED = False


def committable_head(acked: list[int], committed: int | None) -> bool:
    """Whether the acknowledged offsets may be committed from: their lowest one must be the
    committed offset itself (the next record to read). `_new_offset` drops stale offsets
    (below the committed one) before it asks; one left here holds the commit.

    >>> committable_head([245, 246, 247], 245)
    True
    >>> committable_head([246, 247], 245)  # 245 not processed yet: commit nothing
    False
    >>> committable_head([100, 246], 245)  # 100 is a stale ack from an older generation
    False
    >>> committable_head([3, 4], None)  # never committed: Faust's own rule applies
    True
    >>> committable_head([], 5)
    False
    """
    if not acked:
        return False
    return committed is None or min(acked) == committed


def apply() -> None:
    """Patch `faust.transport.consumer.Consumer` in place (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    from faust.transport import consumer as fc
    from faust.types.enums import ProcessingGuarantee

    cls: Any = fc.Consumer

    original_assigned: Callable[..., Any] = cls.on_partitions_assigned
    original_add_gap: Callable[..., Any] = cls._add_gap
    original_new_offset: Callable[..., Any] = cls._new_offset
    original_seek: Callable[..., Any] = cls.perform_seek

    async def on_partitions_assigned(self: Any, assigned: Any, generation_id: int = 0) -> Any:
        # Fix 1: nothing reaches an agent before the tables recover and the consumer seeks to
        # the committed offsets; Faust's recovery resumes the flow after that seek.
        self.stop_flow()
        return await original_assigned(self, assigned, generation_id)

    async def _add_gap(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        # Fix 2: in a log with no holes, a jump means records were skipped, not absent. The
        # agents read no compacted topic (`pronto.model` and the opt-outs are read with plain
        # clients); under exactly-once, transaction markers do take offsets.
        if self.app.conf.processing_guarantee == ProcessingGuarantee.EXACTLY_ONCE:
            await original_add_gap(self, tp, offset_from, offset_to)
            return
        logger.debug("offset jump on %s: %s..%s not marked as a gap", tp, offset_from, offset_to)

    def _new_offset(self: Any, tp: Any) -> int | None:
        # Fix 3: commit only from the committed offset itself.
        acked: list[int] = self._acked[tp]
        committed = self._committed_offset[tp]
        if committed is not None and acked and min(acked) < committed:
            stale = [o for o in acked if o < committed]
            acked[:] = [o for o in acked if o >= committed]
            self._acked_index[tp].difference_update(stale)
        if not self._gap.get(tp) and not committable_head(acked, committed):
            if acked:
                logger.debug("commit held on %s at %s", tp, committed)
            return None
        result: int | None = original_new_offset(self, tp)
        return result

    async def perform_seek(self: Any) -> None:
        # Fix 1, continued: recovery resumes the stream partitions just before this seek, with
        # the flow on (it was reading changelogs); nothing may be handed over until it is done.
        self.stop_flow()
        await original_seek(self)
        # A partition with no committed offset starts at the log start (by
        # `auto_offset_reset="earliest"`): that is its head for Fix 3. Not the consumer's
        # position: the fetcher can take records past it before the flow stops, and none of
        # them reached an agent. Taking that position as the head committed past a page
        # that was never sent (`test_sigkill_between_alert_and_page_sends_exactly_one_page`,
        # 3 failures in 6 when the alert tables recovered more slowly).
        fresh = [tp for tp in list(self.assignment())
                 if self._committed_offset.get(tp) is None and not self._is_changelog_tp(tp)]  # fmt: skip
        if not fresh:
            return
        try:
            starts = await self.earliest_offsets(*fresh)
        except Exception:  # partitions in flux: keep Faust's rule for them
            logger.debug("no log start for %s", fresh, exc_info=True)
            return
        for tp in fresh:
            start = starts.get(tp)
            if start is not None:
                await self.seek(tp, start)
                self._committed_offset[tp] = start

    cls.on_partitions_assigned = on_partitions_assigned
    cls._add_gap = _add_gap
    cls._new_offset = _new_offset
    cls.perform_seek = perform_seek
    _APPLIED = True
