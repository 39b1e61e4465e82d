"""A lane of the alert process kept within a share of its event loop.

The alert process reads complaints from the edge (`feedback.urgent`), supervisors' commands and
every scored feedback, in one event loop. When the score stage drains a backlog it publishes
scored records faster than the desk can take them, and a lane that takes all the loop leaves a
complaint waiting for the loop (the urgent copies' own consumer, `side_feed.py`, runs on it; a
command comes by Faust's consumer thread, which needs the interpreter to hand it over). The
scored lane therefore sleeps, after its work, long enough to stay within its share
(`PRONTO_SCORED_LANE_SHARE`): a backlog of scored records then waits in Kafka, where it costs
nothing, and the complaint does not. Below saturation the lane never sleeps for long: its debt
is paid only once it exceeds a slice.
"""

from __future__ import annotations

SLICE_S = 0.005  # sleeps shorter than this are carried over (an asyncio sleep costs a turn)


class Pacer:
    """How long a lane sleeps after work that took `cpu_s`, to stay within `share`.

    >>> p = Pacer(0.5)
    >>> p.after(0.002), p.after(0.004)
    (0.0, 0.006)
    >>> Pacer(1.0).after(1.0)
    0.0
    """

    def __init__(self, share: float, slice_s: float = SLICE_S) -> None:
        self.share = min(max(share, 0.05), 1.0)
        self.slice_s = slice_s
        self.debt = 0.0

    def after(self, cpu_s: float) -> float:
        if self.share >= 1.0:
            return 0.0
        self.debt += max(cpu_s, 0.0) * (1.0 - self.share) / self.share
        if self.debt < self.slice_s:
            return 0.0
        pause, self.debt = self.debt, 0.0
        return round(pause, 6)
