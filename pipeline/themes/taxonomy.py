"""The theme taxonomy: fixed ids per venue kind, so that metrics agree across venues.

Pure data and one check. A venue may add its own ids in the venues file (`Location.themes`).
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

TAXONOMY: dict[str, tuple[str, ...]] = {
    "bus": ("punctuality", "crowding", "staff", "cleanliness", "temperature", "safety", "price"),
    "restaurant": ("food", "wait", "staff", "cleanliness", "price", "noise"),
    "hotel": ("room", "checkin", "cleanliness", "noise", "staff", "breakfast"),
}

THEME_ID_RE = re.compile(r"[a-z][a-z0-9_]{1,30}")
MAX_CUSTOM_THEMES = 20  # per location: ids become metric label values, so keep them few


def valid_theme_id(theme_id: str) -> bool:
    """True when `theme_id` is a well-formed theme id (2-31 chars, `[a-z][a-z0-9_]*`).

    >>> valid_theme_id("punctuality"), valid_theme_id("Cibeles"), valid_theme_id("x")
    (True, False, False)
    """
    return THEME_ID_RE.fullmatch(theme_id) is not None


def all_theme_ids() -> tuple[str, ...]:
    """Every taxonomy id once, in taxonomy order.

    >>> all_theme_ids()[:3]
    ('punctuality', 'crowding', 'staff')
    """
    seen: dict[str, None] = {}
    for ids in TAXONOMY.values():
        seen.update(dict.fromkeys(ids))
    return tuple(seen)
