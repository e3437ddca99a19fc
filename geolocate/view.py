"""The workbench's view layer, kept importable under one name (pure Python: no Streamlit here).

The work is split by concern:

    * :mod:`geolocate.evidence`: what an analyst knows (:class:`AnalystEvidence`) -> experts, and
      :class:`Message` (a level and text, never parsed from a prefix);
    * :mod:`geolocate.mapview`: deck-ready map data (context + density + budget outline layers, colour
      scale and legend, camera fitting);
    * :mod:`geolocate.share`: the shareable link (URL codec);
    * :mod:`geolocate.basemap`: offline borders, city labels and nearest place names;
    * :mod:`geolocate.report`: the self-contained HTML report and the map image.

This module re-exports their public names and keeps the upload decoding helper.
"""

from __future__ import annotations

from collections.abc import Sequence

from .evidence import (  # noqa: F401 - re-exported
    ATTRIBUTE_TERMS,
    DEFAULT_WEIGHTS,
    POINT_EXPERT,
    RADIUS_MAX_KM,
    RADIUS_MIN_KM,
    REGION_EXPERT,
    WEIGHT_MAX,
    AnalystEvidence,
    Message,
    analyst_experts,
    attribute_expert_name,
    attribute_layers,
    default_weight,
    expert_label,
    parse_latlon,
)
from .mapview import (  # noqa: F401 - re-exported
    MAP_MASS,
    MAX_MAP_CELLS,
    TOOLTIP,
    WORLD_VIEW,
    ColourScale,
    CompactDeck,
    MapData,
    _sig,
    basemap_layers,
    budget_outline,
    build_deck,
    density_colours,
    disc_radius_km,
    fit_view,
    format_km2,
    format_prob,
    legend_html,
    map_records,
    view_state,
)
from .share import (  # noqa: F401 - re-exported
    BUDGET_MAX_KM2,
    BUDGET_MIN_KM2,
    DEFAULT_BUDGET_KM2,
    DEFAULT_REFINE,
    ViewParams,
    decode_query,
    encode_query,
    log_budget_options,
)

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
"""Per-file cap; matches server.maxUploadSize in .streamlit/config.toml (MB)."""


def load_uploads(items: Sequence[tuple[str, bytes]], loader, max_bytes: int = MAX_UPLOAD_BYTES) -> tuple[list, list[str]]:
    """Decode uploaded files in memory; bad files become one message each, never an exception.

    Args:
        items: (file name, bytes) pairs.
        loader: ``load_photo(data, name)`` raising ``ValueError`` (PhotoError) with a user-facing message.
        max_bytes: size cap per file.

    Returns:
        (photos that loaded, messages for the ones that did not).
    """
    from .uploads import MAX_ALBUM_PHOTOS, album_cap_message, decode_one

    items = list(items)
    photos, messages = [], []
    if len(items) > MAX_ALBUM_PHOTOS:  # extra files are not decoded at all
        messages.append(album_cap_message([name for name, _ in items]))
        items = items[:MAX_ALBUM_PHOTOS]
    for name, data in items:
        photo, msg = decode_one(name, data, loader, max_bytes)
        if photo is not None:
            photos.append(photo)
        else:
            messages.append(msg or f"{name}: could not be read as an image")
    return photos, messages
