"""The Locate page's session-state keys, declared in one place.

Widget keys double as the AppTest handles (``at.text_input(key=GUESS)``), so they stay short and stable.
Keys starting with ``_`` hold derived state the page keeps between reruns (never a widget).
"""

from __future__ import annotations

# ---- widgets: photo, evidence, privacy ----------------------------------------------------------------
PHOTOS = "photos"
GUESS = "guess"
RADIUS = "radius"
INCLUDE = "include"
EXCLUDE = "exclude"
HARD = "hard"
ATTRIBUTES = "attributes"
SUN_SHADOW = "sun_shadow"
SUN_ALT = "sun_alt"
SUN_AZ = "sun_az"
SUN_TIME = "sun_time"
SUN_TIME_UNC = "sun_time_unc"
SUN_RATIO_UNC = "sun_ratio_unc"
CLOCK_OFFSET = "clock_offset"
CLOCK_LOCAL = "clock_local"
SUN_EXIF = "sun_exif"
PRIVACY = "privacy"
USE_TRUTH = "use_truth"

# ---- widgets: the workbench -------------------------------------------------------------------------
WEIGHT_PREFIX = "w::"
"""A weight slider's key is this prefix plus the expert's name."""
BUDGET = "budget"
REFINE = "refine"
METHOD = "method"
SHOW = "show"
TOP_REGIONS = "top_regions"
MULTIPLES = "multiples"
MAP = "map"
NOTES = "analyst_notes"
"""The analyst's notes (saved with an investigation, printed in the report)."""
INLINE_EVIDENCE = "inline_evidence"
"""Toggle: the evidence panels in the main column instead of the sidebar (narrow screens)."""

# ---- shared with the evidence panels (pages/_panels.py) ------------------------------------------------
MAP_CLICK = "locate_map_click"
"""The main map's latest click, {"lat", "lon", "n"} (degrees; n counts clicks); the analyst panel consumes it."""

# ---- derived state ------------------------------------------------------------------------------------
RESTORED = "_restored"
"""Set once the link has been read (the session's first run)."""
LINK_EVIDENCE = "_link_evidence"
"""The EvidenceSet the link carried (kinds without a panel keep it)."""
URL_WEIGHTS = "_url_weights"
URL_SHOW = "_url_show"
LINK_MESSAGES = "_link_msgs"
UPLOADS = "_uploads"
"""The session's :class:`~geolocate.uploads.UploadStore` (decoded photos, keyed by upload id)."""
IMAGE_EXPERTS = "_image_experts"
"""LRU of photo key -> (image experts, messages)."""
REGIONS = "_regions"
"""The regions the exports serialise (also read by tests)."""
SHOWN = "_shown"
VIEW_KEY = "_view_key"
VIEW = "_view"
FIT_VIEW = "_fit_view"
SMALL_MAPS = "_small_maps"
PENDING_NOTES = "_pending_notes"
"""Notes of an investigation just opened, moved into the notes field on the next run."""
CLICK_N = "_map_click_n"
"""The ``n`` of the last map click the page reran the app for."""


def weight_key(expert_name: str) -> str:
    """The weight slider's key of an expert."""
    return f"{WEIGHT_PREFIX}{expert_name}"
