"""The workbench's map as a Streamlit component: deck.gl in an iframe that keeps what did not change.

The page sends a ``geolocate.mapspec/1`` spec (see geolocate/maps/spec.py); the component (assets/deckmap/
index.html) draws it with deck.gl: its own bundle when ``scripts/fetch_deckgl.py`` fetched it at setup,
else the one pydeck ships. The browser fetches nothing outside the app's host. The component's folder (the page plus a copy of the bundle)
is assembled once per version in the user cache folder, atomically, and only read afterwards.
When it cannot be assembled, :func:`available` is False and :func:`draw` falls back to ``st.pydeck_chart``
itself: pages call :func:`draw` only.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Unpack

import streamlit as st
import streamlit.components.v1 as components

from geolocate.grid import cache_dir
from geolocate.maps import basemap, deck
from geolocate.maps import spec as mapspec
from geolocate.maps.data import MapData

PAGE = Path(__file__).resolve().parent.parent / "assets" / "deckmap" / "index.html"


VENDOR = PAGE.parent / "vendor"


def _bundles() -> tuple[Path, Path | None]:
    """(deck.gl bundle, h3-js bundle or None): deck.gl's own 2 MB bundle and the h3-js it needs when
    scripts/fetch_deckgl.py has fetched both, else the 4.2 MB bundle pydeck ships (h3-js inside)."""
    own, h3 = sorted(VENDOR.glob("deck.gl-*.min.js")), sorted(VENDOR.glob("h3-js-*.umd.js"))
    if own and h3:
        return own[-1], h3[-1]
    import pydeck

    return Path(pydeck.__file__).resolve().parent / "nbextension" / "static" / "index.js", None


def _prune(keep: Path) -> None:
    """Remove component folders of older versions (best effort: another process may be using one)."""
    for old in keep.parent.glob("deckmap-*"):
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


@functools.lru_cache(maxsize=1)
def component_dir() -> Path | None:
    """The folder Streamlit serves the component from (index.html, deck.js, h3.js and the basemap detail files), or None when unavailable."""
    try:
        page, (bundle, h3) = PAGE.read_bytes(), _bundles()
        import pydeck

        details = [PAGE.parent / level.file for level in basemap.DETAIL_LEVELS if (PAGE.parent / level.file).is_file()]
        ident = [page, pydeck.__version__.encode()] + [f"{p.name}:{p.stat().st_size}".encode() for p in (bundle, h3) if p]
        ident += [hashlib.sha256(p.read_bytes()).digest() for p in details]
        tag = hashlib.sha256(b"|".join(ident)).hexdigest()[:12]
        final = cache_dir() / f"deckmap-{tag}"
        if all((final / f).is_file() for f in ("index.html", "deck.js", "h3.js")):
            return final
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".deckmap-"))
        try:
            (tmp / "index.html").write_bytes(page)
            shutil.copyfile(bundle, tmp / "deck.js")
            for detail in details:  # the finer borders, fetched by the page when the view zooms in
                shutil.copyfile(detail, tmp / detail.name)
            if h3 is not None:
                shutil.copyfile(h3, tmp / "h3.js")
            else:  # pydeck's bundle carries h3-js itself
                (tmp / "h3.js").write_text("/* h3-js is inside deck.js (pydeck's bundle) */\n")
            for f in tmp.iterdir():
                os.chmod(f, 0o644)
            os.chmod(tmp, 0o755)
            try:
                os.rename(tmp, final)  # another process may have won the race: its copy is the same
            except OSError:
                pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _prune(final)
        return final if (final / "deck.js").is_file() else None
    except OSError:
        return None


def _component() -> Any:
    # Declared on every call: the registry belongs to the running server (a test harness may start several).
    folder = component_dir()
    return components.declare_component("geolocate_map", path=str(folder)) if folder else None


def available() -> bool:
    """Whether the deck.gl map component can be served in this process."""
    return component_dir() is not None


def next_seq() -> int:
    """A number that grows with every map drawn in this session (the component skips a spec it already drew)."""
    seq = st.session_state["_map_seq"] = st.session_state.get("_map_seq", 0) + 1
    return seq


def draw(data: MapData, camera: Mapping[str, float], camera_key: str, key: str, **options: Unpack[mapspec.MapOptions]) -> dict | None:
    """Draw one map over the offline basemap (borders and coastlines, a graticule, city labels for the camera and zooming in from it): the only map call of the pages.

    The deck.gl component when it can be served (with this session's next sequence number), else the
    pydeck fallback (:func:`geolocate.maps.deck.build_deck` in ``st.pydeck_chart``, small multiples as
    separate small decks, no click). ``key`` is the element's key (unique on the page); ``options`` are
    :class:`geolocate.maps.spec.MapOptions` (height, tiles, marker, guess, click, multiples, points,
    lines: [(lat1, lon1, lat2, lon2, label)], shapes: [{"kind", "path"}], graticule).

    Returns:
        The last click as {"lat", "lon", "n"} when ``click`` and the component is served, else None.
    """
    if not available():
        _draw_pydeck(data, camera, key, options)
        return None
    spec = mapspec.map_spec(data, camera, camera_key, seq=next_seq(), borders=mapspec.world_borders(), cities=basemap.zoom_city_labels(camera), **options)
    return deck_map(spec, key)


SMALL_HEIGHT = 230
"""Height (px) of a small multiple in the pydeck fallback."""


def _draw_pydeck(data: MapData, camera: Mapping[str, float], key: str, options: mapspec.MapOptions) -> None:
    """The fallback: the same map as a pydeck deck (tiles only outside privacy mode, as the component)."""
    style = basemap.TILE_STYLE if options.get("tiles") else None
    marker = options.get("marker")
    main = deck.build_deck(
        data, camera, truth=marker, map_style=style, guess=options.get("guess"), points=options.get("points", ()),
        lines=options.get("lines", ()), shapes=mapspec.map_shapes_checked(options.get("shapes", ())),
    )
    st.pydeck_chart(main, key=key, height=options.get("height", 540))
    multiples = options.get("multiples", ())
    cols = st.columns(3) if multiples else []
    for i, (title, small) in enumerate(multiples):
        with cols[i % 3]:
            st.text(title)  # expert names come from file names: plain text, never Markdown
            # Each small map framed on its own cells (as the component frames them).
            view = {**mapspec.multiple_camera(small), "pitch": 0, "bearing": 0}
            st.pydeck_chart(deck.build_deck(small, view, truth=marker, map_style=style), key=f"{key}::small{i}", height=SMALL_HEIGHT)


def deck_map(spec: dict, key: str) -> dict | None:
    """Draw a map spec with the component; returns the last click as {"lat", "lon", "n"} when ``spec["click"]`` is set, else None."""
    comp = _component()
    if comp is None:  # pragma: no cover - draw() checks available() first
        return None
    return comp(spec=spec, key=key, default=None)
