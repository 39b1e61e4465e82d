"""Feedback themes (issue 16): what a message is about, from a fixed taxonomy per venue kind,
a venue's own themes, and what its supervisors taught. Pure: no faust, twilio or prometheus.
"""

from __future__ import annotations

from pipeline.themes.tagger import ThemeTagger, custom_themes
from pipeline.themes.taxonomy import MAX_CUSTOM_THEMES, TAXONOMY, valid_theme_id

__all__ = ["MAX_CUSTOM_THEMES", "TAXONOMY", "ThemeTagger", "custom_themes", "valid_theme_id"]
