"""Per-location drift detection on the satisfaction stream: report a significant drop.

Each answer is normalised to [0, 1] (csat5: (s - 1) / 4, nps10: s / 10) and fed to one
`river.drift.ADWIN` per location. ADWIN rather than Page-Hinkley because:
- its test is a Hoeffding-style bound on a [0, 1] variable with a false-alarm rate `delta`, so
  it needs no threshold in the units of the signal, and one setting fits both scales;
- it keeps an adaptive window and, when it cuts, what remains is the recent sub-window, so the
  means before and after the change can be reported to the supervisor ("from 0.82 to 0.41");
- it is two-sided; we filter to drops ourselves, which keeps the before/after means honest.

Only drops are reported (the mean after the change is lower, by more than `min_drop`), and
only once a location has seen `min_samples` answers; after a report, the location stays quiet
for another `min_samples` answers so that one change is not paged as several.

ADWIN cuts its window only as far as needed for the rest to look homogeneous, so the kept
window (`after_mean`) still holds some answers from before the change: the reported drop is an
underestimate (a 0.86 -> 0.40 change is typically reported as 0.86 -> 0.70). That is why
`min_drop` defaults to 0: ADWIN's own test is the significance check.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass, field

from pipeline.scoring.river_lean import drift as river_drift

logger = logging.getLogger(__name__)

ADWIN = river_drift.ADWIN


@dataclass(frozen=True)
class DriftEvent:
    """A significant drop in a location's mean normalised satisfaction.

    `n` is the number of answers the detector compared (before + after); `after_n` of them are
    in the recent sub-window whose mean is `after_mean`.
    """

    location: str
    before_mean: float
    after_mean: float
    n: int
    after_n: int


def normalise(score: int, scale: str) -> float:
    """An answer on [0, 1]: csat5 (s - 1) / 4, nps10 s / 10.

    >>> normalise(5, "csat5"), normalise(1, "csat5"), normalise(7, "nps10")
    (1.0, 0.0, 0.7)
    """
    if scale == "csat5" and 1 <= score <= 5:
        return (score - 1) / 4
    if scale == "nps10" and 0 <= score <= 10:
        return score / 10
    raise ValueError(f"score {score} is not on scale {scale!r}")


@dataclass
class _State:
    detector: ADWIN
    seen: int = 0
    quiet_until: int = 0


@dataclass
class DriftMonitor:
    """One ADWIN per location; `update` returns a `DriftEvent` when a drop is detected.

    >>> m = DriftMonitor(min_samples=30)
    >>> events = [m.update("x", 0.9) for _ in range(300)] + [m.update("x", 0.2) for _ in range(200)]
    >>> [(e.location, round(e.before_mean, 2)) for e in events if e]
    [('x', 0.9)]
    """

    delta: float = 0.002
    min_samples: int = 30
    min_drop: float = 0.0
    _states: dict[str, _State] = field(default_factory=dict, repr=False)

    def update(self, location: str, value: float) -> DriftEvent | None:
        """Feed one answer normalised to [0, 1]; return an event if it reveals a drop."""
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"drift input must be on [0, 1], got {value}")
        st = self._states.get(location)
        if st is None:
            st = self._states[location] = _State(ADWIN(delta=self.delta))
        det = st.detector
        mean_before, width_before = det.estimation, int(det.width)
        det.update(value)
        st.seen += 1
        if not det.drift_detected:
            return None
        after_n = int(det.width)
        after_mean = float(det.estimation)
        total = width_before + 1
        dropped_n = total - after_n
        if dropped_n <= 0:
            return None
        # The dropped (older) sub-window's mean, from the totals before and after the cut.
        before_mean = (mean_before * width_before + value - after_mean * after_n) / dropped_n
        if st.seen < self.min_samples or st.seen < st.quiet_until:
            return None
        if before_mean - after_mean <= self.min_drop:  # only a strict drop is reported
            return None
        st.quiet_until = st.seen + self.min_samples
        logger.info(
            "drift at %s: mean %.3f -> %.3f over %d answers",
            location,
            before_mean,
            after_mean,
            total,
        )
        return DriftEvent(location, before_mean, after_mean, total, after_n)

    def mean(self, location: str) -> float | None:
        """The current (post-change) mean for a location, or None if it has no answers."""
        st = self._states.get(location)
        return float(st.detector.estimation) if st and st.seen else None

    def to_bytes(self) -> bytes:
        """Serialise the monitor, to be saved with the model."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes) -> DriftMonitor:
        """Restore a monitor from `to_bytes`; only load bytes this process wrote (pickle)."""
        obj = pickle.loads(data)
        if not isinstance(obj, cls):
            raise TypeError(f"expected a pickled {cls.__name__}, got {type(obj).__name__}")
        return obj
