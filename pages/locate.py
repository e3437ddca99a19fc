"""Locate: drop a photo (or add what you know), tune the experts, cut the search to an area budget.

The page is a thin layer over the locate service (:mod:`geolocate.locate`): the sidebar renders one panel
per evidence kind (pages/_panels.py), the service builds the experts and the ensemble, and the
workbench fragment (weights, budget, map, regions, exports) reruns alone when a slider moves.
"""

from __future__ import annotations

import streamlit as st

# Shown at once, before the heavy imports and caches of a first visit (seconds on a cold server).
st.title("Locate a photo")
_loading = st.empty()
_loading.caption(":material/hourglass_top: Loading the workbench: priors, layers and maps (the first visit takes a few seconds)…")

import json  # noqa: E402
from collections import OrderedDict  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from geolocate import locate, report, share  # noqa: E402
from geolocate.evidence import ATTRIBUTE_TERMS, EvidenceContext, EvidenceSet, Message, kinds  # noqa: E402
from geolocate.experts.base import ExpertKind  # noqa: E402
from geolocate.export import regions_to_csv, regions_to_geojson, regions_to_kml  # noqa: E402
from geolocate.maps import basemap, camera, fmt  # noqa: E402
from geolocate.maps import data as mapdata  # noqa: E402
from geolocate.presets import DEFAULT_PRESET, WEIGHT_MAX  # noqa: E402
from geolocate.uploads import UploadStore  # noqa: E402
from pages import _deckmap  # noqa: E402
from pages import _state as K  # noqa: E402
from pages._panels import PANELS, PHOTO_VIEWS, PanelContext  # noqa: E402
from pages._shared import (  # noqa: E402
    IMAGE_SUITE_ERROR,
    escape_markdown,
    load_photo,
    network_status,
    place_names,
    session_located,
    shared_basemap,
    shared_countries,
    shared_layers,
    shared_located,
    shared_priors,
    shared_weights_status,
    show_message,
    without_paths,
)
from pages._uploads import uploader_release  # noqa: E402

try:  # candidate areas, hand-off links and saved investigations (pages/_candidates.py); the page works without
    from geolocate.candidates import candidate_areas
    from pages import _candidates
except ImportError:  # pragma: no cover
    _candidates = None  # type: ignore[assignment]
try:  # names down to small places (GeoNames 1,000+); else the basemap's towns of 100,000+
    from geolocate.gazetteer import describe_many
except ImportError:  # pragma: no cover
    describe_many = None  # type: ignore[assignment]
try:  # the analyst panel's areas on the map (pages/_panels.py's evidence); the page works without
    from geolocate.evidence.analyst import map_shapes
except ImportError:  # pragma: no cover
    map_shapes = None  # type: ignore[assignment]

REFINE_LABELS = {3: "res 3 (~12,000 km² regions)", 4: "res 4 (~1,800 km²)", 5: "res 5 (~250 km²)", 6: "res 6 (~36 km²)", 7: "res 7 (~5 km²)",
                 8: "res 8 (~0.7 km²)", 9: "res 9 (~0.1 km²)", 10: "res 10 (~0.015 km², street level)"}
# (Comments, not docstrings, in this page: Streamlit's "magic" would show a bare string.)
# Up to this many views (the ensemble and five experts) "Map shows" is a row of buttons, beyond it a dropdown.
SEGMENTED_MAX = 6
# Metric values one size smaller than Streamlit's, so "-33.87, 151.21" fits a quarter of the page at 1440 px.
# Less empty space above the title, so the map starts higher (above the fold at 1440x900 after an upload).
METRIC_CSS = ("<style>[data-testid='stMetricValue'] > div { font-size: 1.55rem; }"
              " [data-testid='stMainBlockContainer'] { padding-top: 2.5rem; }</style>")
BUDGETS = share.log_budget_options()
TOP_REGIONS = locate.TOP_REGIONS
PRESET = DEFAULT_PRESET
NO_MODEL = "Photo not analysed by any image model: priors and your evidence only."
NO_PHOTO = "No photo analysed: the map shows where photos are usually taken (priors) and your evidence only."

status_box = st.container(key="locate_status")  # the one status line and its details, filled once known

countries = shared_countries()
shared_basemap()
iso_name = {c["iso3"]: c["name"] for c in countries}
net = network_status()

# ---- first run of a session: restore a shared view (weights, budget, every evidence) from the URL ------
first_run = K.RESTORED not in st.session_state
if first_run:
    st.session_state[K.RESTORED] = True
    params, link_msgs = share.decode_query(st.query_params.to_dict())
    st.session_state[K.URL_WEIGHTS] = params.weights
    # A link's budget is kept exactly (the CLI's --link uses it too), as one more stop on the slider.
    st.session_state[K.BUDGET] = float(params.budget_km2)
    st.session_state[K.REFINE] = params.refine
    st.session_state[K.URL_SHOW] = params.show
    st.session_state[K.LINK_EVIDENCE] = params.evidence
    st.session_state[K.LINK_MESSAGES] = link_msgs
link_evidence: EvidenceSet = st.session_state[K.LINK_EVIDENCE]
if K.PENDING_NOTES in st.session_state:  # an opened investigation's notes (set before the text area exists)
    st.session_state[K.NOTES] = st.session_state.pop(K.PENDING_NOTES)

# ---- the photo (main column: reachable on a phone, where the sidebar is folded away) -----------------------
up_col, ev_col = st.columns([3, 2], vertical_alignment="center")
with up_col:
    uploads = st.file_uploader(
        "Photo: one, or several of the same place (album)",
        label_visibility="collapsed",
        type=["jpg", "jpeg", "png", "webp", "heic", "heif", "tif", "tiff", "bmp", "gif", "avif"],
        accept_multiple_files=True,
        key=K.PHOTOS,
        help="Photos stay in memory and are never written to disk. Size limit per file: see server.maxUploadSize.",
    )
    upload_errors = st.container()  # a file that could not be read: said right under the uploader
with ev_col:
    inline = st.toggle(
        "Evidence fields here, not in the sidebar", key=K.INLINE_EVIDENCE,
        help="For narrow screens, where the sidebar is folded away: what you know, sun and clock, text, model and map "
        "features in a panel under this line.",
    )
    st.caption("Photo: one, or several of the same place (an album). Photos stay in memory, never on disk.")

# ---- photos: decoded once per upload, one file at a time, kept in session memory only ------------------
photos: list[Any] = []
upload_msgs: list[Message] = []
photo_key: tuple = ()
if uploads:
    if load_photo is None:
        upload_msgs.append(Message("error", "Photo loading is unavailable in this install.", IMAGE_SUITE_ERROR or ""))
    else:
        # Keyed by Streamlit's upload id (or the bytes' hash), never by name alone; each file's bytes are
        # read only when it is decoded and dropped before the next (uploads.UploadStore).
        store = st.session_state.get(K.UPLOADS)
        if store is None:
            store = st.session_state[K.UPLOADS] = UploadStore(loader=load_photo, release=uploader_release(K.PHOTOS))
        photos, bad, photo_key = store.sync(uploads)
        upload_msgs += [Message("error", "", m) for m in bad]
else:
    # Removing the uploads frees what was derived from them (decoded photos, image experts, ensembles).
    for k in (K.UPLOADS, K.IMAGE_EXPERTS):
        st.session_state.pop(k, None)

layers = shared_layers()
terms = [t for t, (layer, _) in ATTRIBUTE_TERMS.items() if layer in layers]
with st.sidebar if not inline else st.expander("Photo evidence: what you know, sun and clock, text, map features", expanded=True):
    ctx = PanelContext(countries=iso_name, terms=terms, photos=photos, privacy=bool(st.session_state.get(K.PRIVACY, net["offline"])), restored=first_run)
    stated = []
    for kind_cls in kinds():
        current = link_evidence.get(kind_cls.kind)
        panel = PANELS.get(kind_cls.kind)
        stated.append(panel(current, ctx) if panel is not None else current)
    evidence = EvidenceSet(tuple(stated))
    st.header("Privacy")
    st.toggle(
        "Privacy mode: nothing leaves this server",
        value=net["offline"],
        key=K.PRIVACY,
        help="On: the map is drawn from data shipped with the app (borders, city names) and your browser contacts no "
        "other host. Off: the browser also loads CARTO 'dark matter' map tiles from basemaps.cartocdn.com, which "
        "tells that host which area you look at.",
    )

notes: list[Message] = list(st.session_state.pop(K.LINK_MESSAGES, []))
with upload_errors:
    for m in upload_msgs:
        show_message(m)

# ---- photos -> image experts (a small LRU per session: each GeoCLIP expert holds (photos x 100K) arrays) --
image: tuple[list, list[Message]] = ([], [])
if photos:
    cache = st.session_state.setdefault(K.IMAGE_EXPERTS, OrderedDict())
    if photo_key in cache:
        cache.move_to_end(photo_key)
    else:
        while len(cache) >= 2:
            cache.popitem(last=False)
        with st.status("Running the image experts (the first run loads the models)…", expanded=False) as status:

            def progress(fraction: float, text: str) -> None:
                status.update(label=text)

            exps, lines = locate.image_evidence(photos, progress=progress)
            cache[photo_key] = (list(exps), list(lines))
            status.update(label=f"Image experts: {len(exps)} ran" if exps else "Image experts: none ran", state="complete" if exps else "error")
    image = cache[photo_key]

# ---- the locate service: experts and ensemble for this evidence and these photos (built once per set) ----
ens_key = (evidence, photo_key)
with st.spinner("Evaluating the experts on the globe…"):
    def _build() -> locate.Located:
        return locate.build(photos, evidence, preset=PRESET, priors=shared_priors(), image=image, layers=layers, privacy=ctx.privacy)

    # Without photos the result depends on the evidence alone: every session shares it (a new session's
    # first map then needs no build); with photos it stays in this session.
    located = session_located(ens_key, _build) if photos else shared_located((evidence, ctx.privacy), _build)
ensemble = located.ensemble
img_experts = located.image_experts
labels = located.labels
# Priors alone say where photos are taken, not where this one was.
no_evidence = not any(e.kind not in (ExpertKind.PRIOR, ExpertKind.IMAGE) for e in ensemble.experts)

notes += list(dict.fromkeys(located.messages))  # once each (two kinds may say the same thing)

# ---- status: one line (what was analysed, what is missing) and the rest as plain text in "details" ------
unavailable = [s for s in shared_weights_status() if not getattr(s, "available", False)]
gps_photos = [p for p in photos if getattr(p, "gps", None)]
analysed, missing = [], []
def _few(names: list[str], k: int = 3) -> str:
    return ", ".join(names[:k]) + (f" and {len(names) - k} more" if len(names) > k else "")


if photos:
    what = f"{len(photos)} photo{'s' if len(photos) > 1 else ''}"
    random = " (RANDOM backbone: a test setup, noise)" if any("RANDOM" in e.name for e in img_experts) else ""
    analysed.append(f"{what} by {len(img_experts)} image expert{'s' if len(img_experts) != 1 else ''}{random}" if img_experts else f"{what}, not by any image model")
    if not img_experts:
        notes.append(Message("warning", NO_MODEL))
else:
    missing.append("a photo")
stated = sorted({labels[e.name] for e in ensemble.experts if e.kind not in (ExpertKind.PRIOR, ExpertKind.IMAGE) and "RANDOM" not in e.name and "zero-shot" not in labels[e.name]})
if stated:
    analysed.append("your evidence (" + _few(stated) + ")")
if IMAGE_SUITE_ERROR is not None:
    missing.append("image models (not installed)")
    notes.append(Message("info", "Image experts are unavailable in this install (the image suite did not load). Priors and your evidence still work.", IMAGE_SUITE_ERROR))
elif unavailable:
    missing.append("image models " + ", ".join(s.name for s in unavailable) + " (weights not on this server)")
if gps_photos:
    notes.append(Message("warning", f"{len(gps_photos)} of {len(photos)} photo(s) carry their own GPS position in EXIF: anyone receiving these files knows where they were taken. Strip EXIF before sharing them.",
                         "\n".join(f"{p.name}: {p.gps[0]:.4f}, {p.gps[1]:.4f}" for p in gps_photos)))
status_text = (
    "Analysed: " + ("; ".join(analysed) if analysed else "nothing yet: the map says where photos are usually taken (priors)")
    + (". Missing: " + "; ".join(missing) if missing else "")
    + (f". GPS position in the photo's EXIF: strip it before sharing the file{'s' if len(gps_photos) > 1 else ''}" if gps_photos else "")
    + "."
)
with status_box:
    _loading.empty()
    line_col, details_col = st.columns([3, 2], vertical_alignment="center")
    line_col.caption(escape_markdown(status_text))
    worst = "error" if any(m.level == "error" for m in notes) else "warning" if any(m.level == "warning" for m in notes) else ""
    with details_col.expander(f"Details ({len(notes)} note{'s' if len(notes) != 1 else ''}{', ' + worst if worst else ''})" if notes or unavailable else "Details", expanded=False):
        st.caption(
            "Each expert (a prior on where photos are taken, an image model, or what you know) gives a map of where the "
            "photo could be; the ensemble multiplies them with the weights. The globe is cut into hexagonal regions (H3 "
            "cells, finer where the probability is high), ranked from most to least likely per km²; the ones that fit "
            "in your area budget (cyan outline) are where to search first."
        )
        for m in notes:
            st.text(without_paths(f"{m.level}: {m.text}" + (f"\n{m.detail}" if m.detail else "") if m.text else f"{m.level}: {m.detail}"))
        if unavailable:
            st.text(f"Image experts unavailable (network: {net['reason']}). Priors and your evidence still work.")
            for s in unavailable:
                st.text(without_paths(f"{s.name}: {s.detail}"))
                if getattr(s, "fix", ""):
                    st.text("To fetch it, run on a connected machine:")
                    st.code(s.fix, language=None)

truth = None
if gps_photos and st.session_state.get(K.USE_TRUTH, True):
    truth = gps_photos[0].gps


def _place_names(regions, k: int) -> list[str]:
    if describe_many is not None:
        return list(_described(tuple(np.round(regions.lat[:k], 4).tolist()), tuple(np.round(regions.lon[:k], 4).tolist())))
    return list(place_names(tuple(np.round(regions.lat[:k], 4).tolist()), tuple(np.round(regions.lon[:k], 4).tolist())))


@st.cache_resource(max_entries=256, show_spinner=False)
def _described(lat: tuple[float, ...], lon: tuple[float, ...]) -> tuple[str, ...]:
    # Process-wide and read-only: a slider move mostly ranks the same regions again.
    return tuple(describe_many(np.asarray(lat), np.asarray(lon))) if lat else ()


def _areas(regions, weights: dict, key: tuple) -> list:
    """Candidate areas of the regions in the budget, kept per view, budget and weights in the session."""
    cache = st.session_state.setdefault("_candidate_areas", {})
    k = (key, tuple(sorted(weights.items())))
    if k not in cache:
        cache.clear()
        cache[k] = candidate_areas(regions, ensemble, weights) if len(regions) else []
    return cache[k]


# A row click frames its region with this many region widths around it (at least ROW_PAD_MIN_DEG degrees).
ROW_CONTEXT = 8.0
ROW_PAD_MIN_DEG = 0.4


def _region_view(regions, i: int) -> dict:
    """A camera on one region with its context: the neighbouring regions and nearby places (about 90 km across at least)."""
    side = float(np.sqrt(regions.area_km2[i])) / 111.0
    return camera.fit_view(np.array([regions.lat[i]]), np.array([regions.lon[i]]), pad_deg=max(ROW_CONTEXT * side, ROW_PAD_MIN_DEG))


# ---- the workbench: reruns alone when a slider, the budget or the shown view changes ----------------
@st.fragment
def workbench() -> None:
    url_weights = st.session_state.get(K.URL_WEIGHTS, {})
    # The headline numbers span the page (a quarter of it each: no value is cut off), then the controls
    # beside the map; the photo, its EXIF and the rest come after the map.
    head = st.container()
    controls, main = st.columns([1, 3], gap="medium")
    with controls:
        st.subheader("Weights")
        st.caption("0 switches an expert off; 2 counts it twice.")
        weights = {}
        for name in ensemble.names:
            key = K.weight_key(name)
            if key not in st.session_state:
                st.session_state[key] = float(url_weights.get(name, PRESET.weight(name)))
            weights[name] = st.slider(labels[name], 0.0, WEIGHT_MAX, step=0.05, key=key)
        hard = [labels[e.name] for e in ensemble.experts if e.hard]
        if hard:
            st.caption("Certain (a mask, no weight): " + ", ".join(hard))
        st.subheader("Search area")
        budget_options = sorted({*BUDGETS, float(st.session_state.get(K.BUDGET, PRESET.budget_km2))})
        budget = st.select_slider("Area budget", options=budget_options, key=K.BUDGET, format_func=fmt.format_km2, help="Log scale. The most likely regions that fit in this much area are outlined in cyan.")
        # Short stop labels: the long ones ran into "Pooling" below; the chosen stop's size is in the caption.
        refine = st.select_slider("Finest resolution", options=list(REFINE_LABELS), key=K.REFINE, format_func=lambda r: f"res {r}", help="The most likely regions are split down to this resolution.")
        st.caption(f"Regions down to {REFINE_LABELS[refine]}")
        method = st.radio("Pooling", ["log-linear", "linear"], horizontal=True, key=K.METHOD, help="log-linear: experts must agree (product). linear: any expert may be right (mixture).")

    with main:
        show_options = ["ensemble"] + ensemble.names
        url_show = st.session_state.pop(K.URL_SHOW, None)
        if url_show in show_options:
            st.session_state[K.SHOW] = url_show
        if st.session_state.get(K.SHOW) not in show_options:
            st.session_state[K.SHOW] = "ensemble"
        show_help = "The ensemble, or one expert on its own. Exports follow this choice."
        if len(show_options) <= SEGMENTED_MAX:
            show = st.segmented_control("Map shows", show_options, key=K.SHOW, format_func=lambda n: labels.get(n, n), help=show_help) or "ensemble"
        else:  # a row of many buttons wraps and cuts labels off: a dropdown keeps each label whole
            show = st.selectbox("Map shows", show_options, key=K.SHOW, format_func=lambda n: labels.get(n, n), help=show_help) or "ensemble"

        all_zero = show == "ensemble" and not any(weights.values())
        try:
            dist = located.distribution(weights, show=show, refine=refine, method=method)
        except ValueError as err:
            show_message(Message("error", "Could not combine the experts.", str(err)))
            return
        if all_zero:
            st.info("All weights are 0: no expert has a say, so every place" + (" your certain countries allow" if hard else "") + " is equally likely. Raise a slider to rank regions.")

        # The camera fits each view (ensemble or expert) when it is first shown; sliders keep it still.
        vkey = (ens_key, show, refine if show != "ensemble" else None)
        picked = st.session_state.get(K.TOP_REGIONS)
        sel = list(picked["selection"]["rows"]) if picked else []
        if st.session_state.get(K.VIEW_KEY) != vkey:
            st.session_state[K.VIEW_KEY] = vkey
            st.session_state[K.VIEW] = camera.WORLD_VIEW if (show == "ensemble" and no_evidence and not img_experts) else camera.view_state(dist, budget)
            st.session_state[K.FIT_VIEW] = st.session_state[K.VIEW]
        regions = dist.within_budget(budget)
        cam = st.session_state[K.VIEW]
        if sel and sel[0] < len(regions):
            cam = _region_view(regions, sel[0])
        data = mapdata.map_records(dist, budget, view=cam)
        st.session_state[K.REGIONS] = regions  # what the exports serialise (also read by tests)
        st.session_state[K.SHOWN] = show

        peak_area = mapdata.peak_area_km2(dist)
        c1, c2, c3, c4 = head.columns(4)
        c1.metric("Regions in budget", f"{len(regions):,}")
        c2.metric("Chance the photo is in them", fmt.format_prob(regions.total_prob) if len(regions) else "0%")
        c3.metric("Their total area", fmt.format_km2(regions.total_area_km2), help=f"About a disc of radius {fmt.disc_radius_km(max(regions.total_area_km2, 1)):,.0f} km")
        if truth is not None:
            need = dist.area_to_contain(*truth)
            c4.metric("Area to reach the EXIF position", fmt.format_km2(need), delta="inside budget" if need <= budget else "outside budget", delta_color="normal" if need <= budget else "inverse")
        elif all_zero:
            c4.metric("Most likely region", "none (all equal)")
        elif show == "ensemble" and no_evidence and not img_experts:
            c4.metric("Most likely region", "n/a: priors only", help="Without a photo model or your evidence the map says where photos are usually taken, not where this one was.")
        elif peak_area > mapdata.CLEAR_PEAK_KM2:
            c4.metric("Most likely region", "no clear peak", help=f"{fmt.format_km2(peak_area)} lie within a factor 2 of the densest region: the top is a tie over a large area.")
        else:
            lat0, lon0 = dist.mode()
            c4.metric("Most likely region", f"{lat0:.2f}, {lon0:.2f}")
        if len(regions) == 0 and not all_zero:
            st.info("The budget is smaller than the single most likely region: raise the budget or choose a finer resolution.")

        privacy = bool(st.session_state.get(K.PRIVACY, True))
        multiples = _multiples(dist if show == "ensemble" else None, weights, method, refine, budget) if st.session_state.get(K.MULTIPLES) else []
        # One map backend: the deck.gl component (draw falls back to pydeck by itself when it is unavailable).
        # A click on it is evidence (the analyst panel turns it into a guess or an area): see _map_clicked.
        click = _deckmap.draw(data, cam, repr((vkey, sel[:1])), key=K.MAP, tiles=None if privacy else basemap.TILE_URL, marker=truth, multiples=multiples, click=True, **_shapes())
        _map_clicked(click)
        st.html(mapdata.legend_html(data.scale, budget))
        st.caption(
            f"Showing **{labels.get(show, show)}**. {len(data.cells):,} regions drawn at full resolution "
            f"({fmt.format_prob(data.shown_prob)} of the probability), the rest aggregated to res {data.context_res}"
            + (f" near this view and res {data.far_res} farther away. " if data.far_res is not None else ". ")
            + ("Basemap: shipped borders and city names (privacy mode)." if privacy else "Basemap: CARTO dark matter tiles plus shipped borders.")
            + " Hover a region for its probability, area and rank."
        )

    # ---- the answer as a list (the same rows `python -m geolocate predict --link` prints) -----------------
    if _candidates is not None and not all_zero:
        _candidates.render_candidates(_areas(regions, weights, (vkey, budget, method)), privacy)
    st.subheader(f"Top regions ({labels.get(show, show)})")
    top = locate.top_regions(dist, regions, TOP_REGIONS)
    if not all_zero and len(top):
        places = _place_names(top, len(top))
        st.dataframe(
            {
                "#": list(range(1, len(top) + 1)),
                "near": places,
                "lat, lon": [f"{a:.5f}, {b:.5f}" for a, b in zip(top.lat, top.lon)],
                "probability": [fmt.format_prob(p) for p in top.prob],
                "area": [fmt.format_km2(a) for a in top.area_km2],
                "cumulative probability": [fmt.format_prob(p) for p in top.cum_prob],
                "cumulative area": [fmt.format_km2(a) for a in top.cum_area_km2],
            },
            hide_index=True,
            key=K.TOP_REGIONS,
            on_select="rerun",
            selection_mode="single-row",
        )
        st.caption("Select a row to zoom the map to that region (clear the selection to go back). Places: " + ("the nearest GeoNames place of 1,000+ people (or its distance and direction), offline." if describe_many is not None else "nearest GeoNames town of 100,000+ people, offline."))
    else:
        places = []

    # ---- exports ------------------------------------------------------------------------------------
    params = share.ViewParams(weights=weights, budget_km2=budget, refine=refine, show=show, evidence=evidence)
    query = share.encode_query(params)
    st.query_params.from_dict(query)
    link = share.link(st.context.url or "", query)
    what = labels.get(show, show)
    with st.expander(f"Export the {len(regions):,} regions in the budget (view: {what})", expanded=False):
        st.caption(f"Exports follow the map: they hold **{what}**" + ("" if show == "ensemble" else " on its own, not the ensemble") + ". Switch 'Map shows' to export another view.")
        slug = "ensemble" if show == "ensemble" else "".join(ch if ch.isalnum() else "_" for ch in show)[:40]
        d1, d2, d3, d4 = st.columns(4)
        d1.download_button("GeoJSON", data=lambda: json.dumps(regions_to_geojson(regions)), file_name=f"search_regions_{slug}.geojson", mime="application/geo+json", key="dl_geojson", on_click="ignore", disabled=not len(regions))
        d2.download_button("KML", data=lambda: regions_to_kml(regions, name=f"geolocate search regions ({show})"), file_name=f"search_regions_{slug}.kml", mime="application/vnd.google-earth.kml+xml", key="dl_kml", on_click="ignore", disabled=not len(regions))
        d3.download_button("CSV", data=lambda: regions_to_csv(regions), file_name=f"search_regions_{slug}.csv", mime="text/csv", key="dl_csv", on_click="ignore", disabled=not len(regions))
        d4.download_button(
            "Report (HTML)",
            data=lambda: build_report(dist, regions, budget, weights, show, cam, link, places),
            file_name=f"geolocate_report_{slug}.html",
            mime="text/html",
            key="dl_report",
            on_click="ignore",
        )
        st.caption("Link to this view (weights, budget, your evidence; not the photo). The same view on the command line: python -m geolocate predict --link 'LINK'")
        st.code(link, language=None)
    if _candidates is not None:
        with st.expander("Investigation: notes, save, open", expanded=False):
            opened = _candidates.render_investigation_controls(params, str(st.session_state.get(K.NOTES, "")), photos, method=method)
            if opened is not None:
                _open_investigation(opened)
            st.text_area("Analyst notes (saved with the investigation, printed in the report)", key=K.NOTES, height=100)

    # ---- small multiples ----------------------------------------------------------------------------
    if st.toggle("Per-expert maps side by side", key=K.MULTIPLES, help="One small map per expert and the ensemble under the main map, each framed on its own most likely regions."):
        st.caption("The small maps are under the main map: one per expert on its own and the ensemble, each framed on its own data (its reset button frames it again). Cyan: each map's own area budget; colours are per map (each its own log scale).")


SMALL_MAP_CELLS = 1_000


def _open_investigation(inv: Any) -> None:
    """Restore an opened investigation as a link is restored: its view and evidence on the next full run."""
    st.query_params.from_dict(share.encode_query(inv.params))
    for key in [k for k in st.session_state if str(k).startswith(K.WEIGHT_PREFIX)] + [K.RESTORED, K.VIEW_KEY]:
        del st.session_state[key]
    if inv.method:
        st.session_state[K.METHOD] = inv.method
    st.session_state[K.PENDING_NOTES] = inv.notes
    st.rerun(scope="app")


def _shapes() -> dict:
    """The analyst's guess and areas as map shapes (``shapes=`` for draw), when the map and the evidence support them."""
    from geolocate.maps import spec as mapspec

    ev = evidence.get("analyst")
    if map_shapes is None or ev is None or "shapes" not in getattr(mapspec.MapOptions, "__annotations__", {}):
        return {}
    return {"shapes": map_shapes(ev)}


def _map_clicked(click: dict | None) -> None:
    """Keep the map's latest click for the analyst panel and rerun the whole app once per new click.

    The panel is in the sidebar, outside this fragment: only a full rerun lets it use the click.
    """
    if not isinstance(click, dict) or click.get("n") is None:
        return
    st.session_state[K.MAP_CLICK] = click
    if click["n"] != st.session_state.get(K.CLICK_N):
        st.session_state[K.CLICK_N] = click["n"]
        st.rerun(scope="app")


def _multiples(ens_dist, weights: dict, method: str, refine: int, budget: float) -> list[tuple[str, mapdata.MapData]]:
    """(title, map data) of the ensemble and each expert on its own, for the linked small maps.

    ``ens_dist`` is the ensemble the main map already shows (None when it shows an expert). Each small map
    holds the cells around its own peak (the component frames each on its own data, not the main camera).
    An expert's map does not depend on the weights, so a slider move reuses it (kept per view in the session).
    """
    out = []
    if any(weights.values()):
        d = ens_dist if ens_dist is not None else located.distribution(weights, refine=refine, method=method)
        out.append(("ensemble", mapdata.map_records(d, budget, max_cells=SMALL_MAP_CELLS, view=camera.view_state(d, budget))))
    cache = st.session_state.setdefault(K.SMALL_MAPS, {})
    for name in ensemble.names:
        key = (ens_key, name, refine, budget)
        if key not in cache:
            d = ensemble.expert_distribution(name, refine_to=refine)
            cache[key] = mapdata.map_records(d, budget, max_cells=SMALL_MAP_CELLS, view=camera.view_state(d, budget))
        out.append((f"{labels[name]} (weight {weights.get(name, 0):g})", cache[key]))
    while len(cache) > 3 * len(ensemble.names):
        cache.pop(next(iter(cache)))
    return out


def _extent(cam: dict) -> tuple[float, float, float, float]:
    w, s, e, n = camera.view_bounds(cam)
    return (w, s, e + 360.0 if e < w else e, n)


def build_report(dist, regions, budget, weights, show, cam, link, places) -> str:
    """The self-contained HTML report for the current view."""
    notes = []
    if photos and not img_experts:
        notes.append(NO_MODEL)
    elif not photos:
        notes.append(NO_PHOTO)
    if any("RANDOM" in e.name for e in img_experts):
        notes.append("The image experts use a RANDOM backbone (a test setup): their output is noise.")
    png = report.render_map_png(dist, _extent(cam), size=(900, 520), budget=regions, truth=truth)
    if len(places) < min(len(regions), 25):
        places = _place_names(regions, 25)
    return report.report_html(
        report.ReportInput(
            view_name=labels.get(show, show),
            weights={labels[n]: w for n, w in weights.items()},
            experts=[(labels[e.name], e.describe()) for e in ensemble.experts],
            evidence=evidence.summary() + evidence.details(EvidenceContext(photos=tuple(photos), privacy=ctx.privacy)),
            regions=regions,
            places=places,
            budget_km2=budget,
            map_png=png,
            link=link,
            photos=[(p.name, report.thumbnail_jpeg(p.image), report.exif_summary(p)) for p in photos[:8]],
            notes=notes,
            analyst_notes=str(st.session_state.get(K.NOTES, "")),
            version=report.version(),
            created=datetime.now(UTC),
        )
    )


workbench()

# ---- the photo and its EXIF: below the map (the map stays above the fold after an upload) --------------
if photos:
    with st.expander(f"Photo{'s' if len(photos) > 1 else ''} ({len(photos)}) and EXIF", expanded=False):
        cols = st.columns(min(len(photos), 4))
        for i, p in enumerate(photos[:8]):
            with cols[i % len(cols)]:
                st.image(p.image, caption=None, width=220)
                st.text(p.name)
                st.dataframe({"fact": [k for k, _ in report.exif_summary(p)], "value": [v for _, v in report.exif_summary(p)]}, hide_index=True)
        if gps_photos:
            st.text("\n".join(f"{p.name}: {p.gps[0]:.4f}, {p.gps[1]:.4f}" for p in gps_photos))
            st.checkbox("Use the first EXIF position as ground truth (mark it, measure the search area)", value=True, key=K.USE_TRUTH)
    for kind_name, view_fn in PHOTO_VIEWS.items():  # e.g. the text read in the photo, boxes drawn
        view_fn(evidence.get(kind_name), photos)

with st.expander("Experts in this ensemble"):
    for e in ensemble.experts:
        st.text(f"{labels[e.name]}: {e.describe()}" + ("  (certain: a mask, no weight)" if e.hard else ""))

st.html(METRIC_CSS)
