"""Locate: drop a photo (or add what you know), tune the experts, cut the search to an area budget.

The page is a thin layer over the locate service (:mod:`geolocate.locate`): the sidebar renders one panel
per evidence kind (pages/_panels.py), the service builds the experts and the ensemble, and the
workbench fragment (weights, budget, map, regions, exports) reruns alone when a slider moves.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import numpy as np
import streamlit as st

from geolocate import locate, report, share
from geolocate.evidence import ATTRIBUTE_TERMS, EvidenceContext, EvidenceSet, Message, kinds
from geolocate.experts.base import ExpertKind
from geolocate.export import regions_to_csv, regions_to_geojson, regions_to_kml
from geolocate.maps import basemap, camera, fmt
from geolocate.maps import data as mapdata
from geolocate.presets import DEFAULT_PRESET, WEIGHT_MAX
from geolocate.uploads import UploadStore
from pages import _deckmap
from pages import _state as K
from pages._panels import PANELS, PHOTO_VIEWS, PanelContext
from pages._shared import (
    IMAGE_SUITE_ERROR,
    load_photo,
    network_status,
    session_located,
    shared_basemap,
    shared_countries,
    shared_layers,
    shared_priors,
    shared_weights_status,
    show_message,
)

REFINE_LABELS = {3: "res 3 (~12,000 km² regions)", 4: "res 4 (~1,800 km²)", 5: "res 5 (~250 km²)", 6: "res 6 (~36 km²)", 7: "res 7 (~5 km²)",
                 8: "res 8 (~0.7 km²)", 9: "res 9 (~0.1 km²)", 10: "res 10 (~0.015 km², street level)"}
BUDGETS = share.log_budget_options()
TOP_REGIONS = locate.TOP_REGIONS
PRESET = DEFAULT_PRESET
NO_MODEL = "Photo not analysed by any image model: priors and your evidence only."
NO_PHOTO = "No photo analysed: the map shows where photos are usually taken (priors) and your evidence only."

st.title("Locate a photo")
st.caption(
    "Each *expert* (a prior on where photos are taken, an image model, or what you know) gives a map of where the "
    "photo could be; the *ensemble* multiplies them with the weights below. The globe is cut into hexagonal "
    "**regions** (H3 cells, finer where the probability is high); they are ranked from most to least likely per km², "
    "and the ones that fit in your **area budget** (cyan outline) are where to search first."
)

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

# ---- sidebar: photo, one panel per evidence kind, privacy ---------------------------------------------
with st.sidebar:
    st.header("Photo")
    uploads = st.file_uploader(
        "One photo, or several of the same place (album)",
        type=["jpg", "jpeg", "png", "webp", "heic", "heif", "tif", "tiff", "bmp", "gif", "avif"],
        accept_multiple_files=True,
        key=K.PHOTOS,
        help="Photos stay in memory and are never written to disk. Size limit per file: see server.maxUploadSize.",
    )

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
            store = st.session_state[K.UPLOADS] = UploadStore(loader=load_photo)
        photos, bad, photo_key = store.sync(uploads)
        upload_msgs += [Message("error", "", m) for m in bad]
else:
    # Removing the uploads frees what was derived from them (decoded photos, image experts, ensembles).
    for k in (K.UPLOADS, K.IMAGE_EXPERTS):
        st.session_state.pop(k, None)

layers = shared_layers()
terms = [t for t, (layer, _) in ATTRIBUTE_TERMS.items() if layer in layers]
with st.sidebar:
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

for m in st.session_state.pop(K.LINK_MESSAGES, []):
    show_message(m)
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
    located = session_located(ens_key, lambda: locate.build(photos, evidence, preset=PRESET, priors=shared_priors(), image=image, layers=layers, privacy=ctx.privacy))
ensemble = located.ensemble
img_experts = located.image_experts
labels = located.labels
# Priors alone say where photos are taken, not where this one was.
no_evidence = not any(e.kind not in (ExpertKind.PRIOR, ExpertKind.IMAGE) for e in ensemble.experts)

for m in dict.fromkeys(located.messages):  # once each (two kinds may say the same thing)
    show_message(m)

# ---- status: what analysed the photo -------------------------------------------------------------------
unavailable = [s for s in shared_weights_status() if not getattr(s, "available", False)]
if photos and not img_experts:
    st.warning(NO_MODEL, icon=":material/visibility_off:")
elif not photos and not any(e.kind == ExpertKind.IMAGE for e in ensemble.experts):
    st.caption(NO_PHOTO)
if IMAGE_SUITE_ERROR is not None:
    st.info("Image experts are unavailable in this install (the image suite did not load). Priors and your evidence still work.")
elif unavailable:
    with st.expander(f"Image experts unavailable: {', '.join(s.name for s in unavailable)}. Priors and your evidence still work."):
        st.caption(f"Network: {net['reason']}.")
        for s in unavailable:
            st.text(f"{s.name}: {s.detail}")
            if getattr(s, "fix", ""):
                st.caption("To fetch it, run on a connected machine:")
                st.code(s.fix, language=None)

# ---- the photo and its EXIF ----------------------------------------------------------------------------
truth = None
if photos:
    with st.expander(f"Photo{'s' if len(photos) > 1 else ''} ({len(photos)}) and EXIF", expanded=True):
        cols = st.columns(min(len(photos), 4))
        for i, p in enumerate(photos[:8]):
            with cols[i % len(cols)]:
                st.image(p.image, caption=None, width=220)
                st.text(p.name)
                st.dataframe({"fact": [k for k, _ in report.exif_summary(p)], "value": [v for _, v in report.exif_summary(p)]}, hide_index=True)
    gps_photos = [p for p in photos if getattr(p, "gps", None)]
    if gps_photos:
        st.warning(
            f"{len(gps_photos)} of {len(photos)} photo(s) carry their own GPS position in EXIF: anyone receiving these files "
            "knows where they were taken. Strip EXIF before sharing them."
        )
        st.text("\n".join(f"{p.name}: {p.gps[0]:.4f}, {p.gps[1]:.4f}" for p in gps_photos))
        if st.checkbox("Use the first EXIF position as ground truth (mark it, measure the search area)", value=True, key=K.USE_TRUTH):
            truth = gps_photos[0].gps
    for kind_name, view_fn in PHOTO_VIEWS.items():  # e.g. the text read in the photo, boxes drawn
        view_fn(evidence.get(kind_name), photos)


def _place_names(regions, k: int) -> list[str]:
    if not len(regions):
        return []
    return [p["text"] for p in basemap.nearest_places(regions.lat[:k], regions.lon[:k])]


def _region_view(regions, i: int) -> dict:
    """A camera on one region (zoomed to see it and its neighbours)."""
    side = float(np.sqrt(regions.area_km2[i])) / 111.0
    return camera.fit_view(np.array([regions.lat[i]]), np.array([regions.lon[i]]), pad_deg=max(3 * side, 0.05))


# ---- the workbench: reruns alone when a slider, the budget or the shown view changes ----------------
@st.fragment
def workbench() -> None:
    url_weights = st.session_state.get(K.URL_WEIGHTS, {})
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
        refine = st.select_slider("Finest resolution", options=list(REFINE_LABELS), key=K.REFINE, format_func=REFINE_LABELS.get, help="The most likely regions are split down to this resolution.")
        method = st.radio("Pooling", ["log-linear", "linear"], horizontal=True, key=K.METHOD, help="log-linear: experts must agree (product). linear: any expert may be right (mixture).")

    with main:
        show_options = ["ensemble"] + ensemble.names
        url_show = st.session_state.pop(K.URL_SHOW, None)
        if url_show in show_options:
            st.session_state[K.SHOW] = url_show
        if st.session_state.get(K.SHOW) not in show_options:
            st.session_state[K.SHOW] = "ensemble"
        show = st.segmented_control("Map shows", show_options, key=K.SHOW, format_func=lambda n: labels.get(n, n), help="The ensemble, or one expert on its own. Exports follow this choice.") or "ensemble"

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
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Regions in budget", f"{len(regions):,}")
        c2.metric("Chance the photo is in them", fmt.format_prob(regions.total_prob) if len(regions) else "0%")
        c3.metric("Their total area", fmt.format_km2(regions.total_area_km2), help=f"About a disc of radius {fmt.disc_radius_km(max(regions.total_area_km2, 1)):,.0f} km")
        if truth is not None:
            need = dist.area_to_contain(*truth)
            c4.metric("Area needed to reach the EXIF position", fmt.format_km2(need), delta="inside budget" if need <= budget else "outside budget", delta_color="normal" if need <= budget else "inverse")
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

        st.html(mapdata.legend_html(data.scale, budget))
        privacy = bool(st.session_state.get(K.PRIVACY, True))
        multiples = _multiples(dist if show == "ensemble" else None, weights, method, refine, budget, cam) if st.session_state.get(K.MULTIPLES) else []
        # One map backend: the deck.gl component (draw falls back to pydeck by itself when it is unavailable).
        _deckmap.draw(data, cam, repr((vkey, sel[:1])), key=K.MAP, tiles=None if privacy else basemap.TILE_URL, marker=truth, multiples=multiples)
        st.caption(
            f"Showing **{labels.get(show, show)}**. {len(data.cells):,} regions drawn at full resolution "
            f"({fmt.format_prob(data.shown_prob)} of the probability), the rest aggregated to res {data.context_res}"
            + (f" near this view and res {data.far_res} farther away. " if data.far_res is not None else ". ")
            + ("Basemap: shipped borders and city names (privacy mode)." if privacy else "Basemap: CARTO dark matter tiles plus shipped borders.")
            + " Hover a region for its probability, area and rank."
        )

    # ---- the answer as a list (the same rows `python -m geolocate predict --link` prints) -----------------
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
        st.caption("Select a row to zoom the map to that region (clear the selection to go back). Places: nearest GeoNames town of 100,000+ people, offline.")
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

    # ---- small multiples ----------------------------------------------------------------------------
    if st.toggle("Per-expert maps side by side", key=K.MULTIPLES, help="One small map per expert and the ensemble under the main map, all with one linked camera: pan or zoom any of them."):
        st.caption("The small maps are under the main map: one per expert on its own and the ensemble, with one camera (pan or zoom any of them). Cyan: each map's own area budget; colours are per map (each its own log scale).")


SMALL_MAP_CELLS = 1_000


def _multiples(ens_dist, weights: dict, method: str, refine: int, budget: float, cam: dict) -> list[tuple[str, mapdata.MapData]]:
    """(title, map data) of the ensemble and each expert on its own, for the linked small maps.

    ``ens_dist`` is the ensemble the main map already shows (None when it shows an expert). An expert's
    map does not depend on the weights, so a slider move reuses it (kept per view in the session).
    """
    out = []
    if any(weights.values()):
        d = ens_dist if ens_dist is not None else located.distribution(weights, refine=refine, method=method)
        out.append(("ensemble", mapdata.map_records(d, budget, max_cells=SMALL_MAP_CELLS, view=cam)))
    cache = st.session_state.setdefault(K.SMALL_MAPS, {})
    for name in ensemble.names:
        key = (ens_key, name, refine, budget, tuple(sorted(cam.items())))
        if key not in cache:
            cache[key] = mapdata.map_records(ensemble.expert_distribution(name, refine_to=refine), budget, max_cells=SMALL_MAP_CELLS, view=cam)
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
            version=report.version(),
            created=datetime.now(UTC),
        )
    )


workbench()

with st.expander("Experts in this ensemble"):
    for e in ensemble.experts:
        st.text(f"{labels[e.name]}: {e.describe()}" + ("  (certain: a mask, no weight)" if e.hard else ""))
