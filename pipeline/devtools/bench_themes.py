"""The cost of tagging themes, as the score stage pays it: one `ThemeTagger.tag` per feedback
with text, over the bench's own feedback mix, in this process (no Kafka in the figure)."""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from typing import Any

from pipeline.config import Location
from pipeline.records import Feedback
from pipeline.themes import ThemeTagger, custom_themes

logger = logging.getLogger(__name__)


def themes_cost(locations: Sequence[Location], pool: Sequence[Feedback],
                passes: int = 3) -> dict[str, Any]:  # fmt: skip
    """Median and p99 microseconds per message of `tag`, and the share of messages tagged.

    >>> loc = Location(id="r1", name="Sol", kind="restaurant", scale="csat5")
    >>> fbs = [Feedback(f"f{i}", 0.0, "sms", "r1", text=t) for i, t in
    ...        enumerate(["la comida fría", "todo bien", "the waiter was rude"])]
    >>> cost = themes_cost([loc], fbs, passes=1)
    >>> cost["messages"], cost["tagged_share"]
    (3, 0.667)
    """
    tagger = ThemeTagger(custom_themes(locations))
    kinds = {loc.id: loc.kind for loc in locations}
    texts = [(fb.text, kinds.get(fb.location_id, ""), fb.lang, fb.location_id)
             for fb in pool if fb.text.strip()]  # fmt: skip
    times: list[float] = []
    tagged = 0
    for n in range(passes):
        for text, kind, lang, loc_id in texts:
            t0 = time.perf_counter()
            found = tagger.tag(text, kind=kind, lang=lang, location_id=loc_id)
            times.append(time.perf_counter() - t0)
            tagged += bool(found) and n == 0
    if not times:
        return {"messages": 0, "median_us": None, "p99_us": None, "tagged_share": 0.0}
    times.sort()
    return {
        "messages": len(texts),
        "median_us": round(statistics.median(times) * 1e6, 1),
        "p99_us": round(times[min(len(times) - 1, int(len(times) * 0.99))] * 1e6, 1),
        "tagged_share": round(tagged / len(texts), 3),
    }
