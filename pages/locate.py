"""Locate: drop a photo (or add what you know), tune the experts, cut the search to an area budget.

The page is a thin layer: the core (geolocate.evidence, .mapview, .share, .report) does the work. Only
the workbench fragment (weights, budget, map, regions, exports) reruns when a slider moves; the sidebar
(photo, evidence, privacy) reruns the whole page because it changes the set of experts.
"""

from __future__ import annotations  # noqa: I001 - pages._shared must be imported before geolocate

import json
from collections import OrderedDict
from datetime import UTC, datetime

import numpy as np
import streamlit as st

# pages._shared first: it puts the repository root on sys.path when a page runs on its own (AppTest).
from pages._shared import (
    IMAGE_SUITE_ERROR,
    digest,
    image_experts,
    load_photo,
    network_status,
    session_ensemble,
    shared_basemap,
    shared_countries,
    shared_layers,
    shared_priors,
    shared_weights_status,
    show_message,
)
from pages import _deckmap
from geolocate import report, share
from geolocate.maps import basemap
from geolocate import evidence
from geolocate.maps import camera
from geolocate.maps import data as mapdata
from geolocate.maps import deck
from geolocate.maps import fmt
from geolocate import presets
from geolocate import uploads
from geolocate.evidence import AnalystEvidence, Message, expert_label
from geolocate.evidence.sunclock import SunClockEvidence
from geolocate.evidence.sunclock import build_experts as sun_clock_experts
from geolocate.export import regions_to_csv, regions_to_geojson, regions_to_kml

REFINE_LABELS = {3: "res 3 (~12,000 km² regions)", 4: "res 4 (~1,800 km²)", 5: "res 5 (~250 km²)", 6: "res 6 (~36 km²)", 7: "res 7 (~5 km²)"}
BUDGETS = share.log_budget_options()
TOP_REGIONS = 10
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

# ---- first run of a session: restore a shared view from the URL ------------------------------------
if "_restored" not in st.session_state:
    st.session_state["_restored"] = True
    params, link_msgs = share.decode_query(st.query_params.to_dict(), country_codes=list(iso_name))
    st.session_state["_url_weights"] = params.weights
    st.session_state["budget"] = min(BUDGETS, key=lambda b: abs(b - params.budget_km2) / b)
    st.session_state["refine"] = params.refine
    st.session_state["_url_show"] = params.show
    ev = params.evidence
    st.session_state["guess"] = f"{ev.point[0]:.5g}, {ev.point[1]:.5g}" if ev.point else ""
    st.session_state["radius"] = float(ev.radius_km)
    st.session_state["include"] = list(ev.include)
    st.session_state["exclude"] = list(ev.exclude)
    st.session_state["hard"] = ev.hard
    st.session_state["attributes"] = list(ev.attributes)
    st.session_state["_link_msgs"] = link_msgs
    sun_link, sun_problems = SunClockEvidence.from_query(st.query_params.to_dict())
    st.session_state["sun_shadow"] = ", ".join(f"{h:g}:{length:g}" for h, length in sun_link.shadows)
    st.session_state["sun_alt"] = "" if sun_link.sun_altitude_deg is None else f"{sun_link.sun_altitude_deg:g}"
    st.session_state["sun_az"] = "" if sun_link.sun_azimuth_deg is None else f"{sun_link.sun_azimuth_deg:g}"
    st.session_state["sun_time"] = ", ".join(sun_link.times)
    st.session_state["sun_time_unc"] = float(sun_link.time_uncertainty_min)
    st.session_state["sun_ratio_unc"] = float(sun_link.shadow_uncertainty_pct)
    st.session_state["clock_offset"] = sun_link.utc_offset or ""
    st.session_state["clock_local"] = sun_link.local_time or ""
    st.session_state["sun_exif"] = sun_link.use_exif_time
    if sun_problems:
        st.session_state["_link_msgs"] = link_msgs + [Message("warning", "The link's sun/clock evidence had problems; those parts were ignored:", "\n".join(sun_problems))]

# ---- sidebar: photo, analyst evidence, privacy ---------------------------------------------------------
with st.sidebar:
    st.header("Photo")
    uploads = st.file_uploader(
        "One photo, or several of the same place (album)",
        type=["jpg", "jpeg", "png", "webp", "heic", "heif", "tif", "tiff", "bmp", "gif", "avif"],
        accept_multiple_files=True,
        key="photos",
        help="Photos stay in memory and are never written to disk. Size limit per file: see server.maxUploadSize.",
    )
    st.header("What you know")
    st.caption("Works with no image model at all: each statement becomes an expert with its own weight.")
    guess_text = st.text_input("Your guess (lat, lon)", key="guess", placeholder="e.g. 48.85, 2.35")
    st.number_input("…give or take (km)", min_value=evidence.RADIUS_MIN_KM, max_value=evidence.RADIUS_MAX_KM, step=10.0, key="radius")
    fmt = lambda c: f"{iso_name.get(c, c)} ({c})"  # noqa: E731
    st.multiselect("It is in one of these countries", list(iso_name), key="include", format_func=fmt)
    st.multiselect("It is not in these countries", list(iso_name), key="exclude", format_func=fmt)
    st.checkbox("Countries are certain (rule the rest out)", key="hard")
    layers = shared_layers()
    terms = [t for t, (layer, _) in evidence.ATTRIBUTE_TERMS.items() if layer in layers]
    st.multiselect("The photo shows", terms, key="attributes", help="Plain-language land cover / scene; each becomes an expert.")
    with st.expander("Sun, shadow and clock", expanded=bool(st.session_state.get("sun_shadow") or st.session_state.get("sun_alt") or st.session_state.get("clock_offset"))):
        st.text_input("Shadows: object height : shadow length", key="sun_shadow", placeholder="e.g. 1.8:2.4 (several: 1.8:2.4, 3:1)", help="Any unit, the same for both; the object stands vertically on level ground.")
        st.text_input("…or the sun's altitude (degrees)", key="sun_alt", placeholder="e.g. 35")
        st.text_input("Sun's azimuth (degrees from north; shadow direction + 180)", key="sun_az", placeholder="optional")
        st.text_input("When (one time, or one per shadow)", key="sun_time", placeholder="2024-06-21T14:30Z (UTC) or 2024-06-21T14:30 (local clock)", help="Z or +HH:MM: a UTC instant. No offset: the local clock time at the place (each place's time zone converts it). Empty: the photo's EXIF time.")
        st.number_input("Time uncertainty (minutes)", min_value=0.0, max_value=1440.0, step=5.0, key="sun_time_unc")
        st.number_input("Shadow ratio uncertainty (%)", min_value=0.1, max_value=99.0, step=1.0, key="sun_ratio_unc")
        st.text_input("Clock's UTC offset", key="clock_offset", placeholder="e.g. +05:30")
        st.text_input("…at local time", key="clock_local", placeholder="e.g. 2024-07-01T14:30")
        st.checkbox("Use the photo's EXIF time and offset", key="sun_exif")
    st.header("Privacy")
    st.toggle(
        "Privacy mode: nothing leaves this server",
        value=net["offline"],
        key="privacy",
        help="On: the map is drawn from data shipped with the app (borders, city names) and your browser contacts no "
        "other host. Off: the browser also loads CARTO 'dark matter' map tiles from basemaps.cartocdn.com, which "
        "tells that host which area you look at.",
    )

for m in st.session_state.pop("_link_msgs", []):
    show_message(m)

point = None
evidence_msgs: list[Message] = []
if guess_text.strip():
    try:
        point = evidence.parse_latlon(guess_text)
    except ValueError as err:
        evidence_msgs.append(Message("warning", "Your guess is ignored:", str(err)))
evidence = AnalystEvidence(
    point=point,
    radius_km=float(st.session_state["radius"]),
    include=tuple(st.session_state["include"]),
    exclude=tuple(st.session_state["exclude"]),
    hard=bool(st.session_state["hard"]),
    attributes=tuple(a for a in st.session_state["attributes"] if a in terms),
)

sun_query = {"shadow": st.session_state["sun_shadow"], "sun_alt": st.session_state["sun_alt"], "sun_az": st.session_state["sun_az"],
             "time": st.session_state["sun_time"], "time_unc": str(st.session_state["sun_time_unc"]), "shadow_unc": str(st.session_state["sun_ratio_unc"]),
             "utc_offset": st.session_state["clock_offset"], "local_time": st.session_state["clock_local"], "exif_time": "1" if st.session_state["sun_exif"] else "0"}
sun_ev, sun_problems = SunClockEvidence.from_query({k: v for k, v in sun_query.items() if v.strip()})
evidence_msgs += [Message("warning", "Sun/clock input ignored:", p) for p in sun_problems]

# ---- photos → image experts --------------------------------------------------------------------------
photos, upload_msgs, photo_key = [], [], ()
if uploads:
    if load_photo is None:
        upload_msgs.append(Message("error", "Photo loading is unavailable in this install.", IMAGE_SUITE_ERROR or ""))
    else:
        # Decode once per upload set, keyed by Streamlit's upload id (or the bytes' hash), never by name
        # alone. Decoded photos stay in session memory, never on disk.
        upload_key = tuple(getattr(f, "file_id", None) or digest(f.getvalue()) for f in uploads)
        decoded = st.session_state.get("_decoded")
        if decoded is None or decoded[0] != upload_key:
            decoded = (upload_key, uploads.load_uploads([(f.name, f.getvalue()) for f in uploads], load_photo))
            st.session_state["_decoded"] = decoded
        photos, bad = decoded[1]
        upload_msgs += [Message("error", "", m) for m in bad]
        photo_key = tuple(k for k, f in zip(upload_key, uploads) if any(p.name == f.name for p in photos))
else:
    # Removing the uploads frees what was derived from them (decoded photos, image experts, ensembles).
    for k in ("_decoded", "_image_experts"):
        st.session_state.pop(k, None)
for m in upload_msgs:
    show_message(m)


def _image_messages(lines: list) -> list[Message]:
    """The image suite's messages as leveled Messages (it returns plain strings; this is the one adaptor)."""
    out = []
    for line in lines:
        if isinstance(line, Message):
            out.append(line)
            continue
        text = str(line)
        level = "warning" if text.startswith("warning:") else "info"
        text = text.split(":", 1)[1].strip() if text.split(":", 1)[0] in ("warning", "unavailable", "info") else text
        out.append(Message(level, "", text))
    return out


img_experts: list = []
img_msgs: list[Message] = []
if photos:
    # A small LRU, like the ensembles: each entry holds a GeoCLIP expert with (photos x 100K) arrays.
    cache = st.session_state.setdefault("_image_experts", OrderedDict())
    if photo_key in cache:
        cache.move_to_end(photo_key)
    else:
        while len(cache) >= 2:
            cache.popitem(last=False)
        if image_experts is None:
            cache[photo_key] = ([], [Message("info", "Image experts are unavailable in this install.", IMAGE_SUITE_ERROR or "")])
        else:
            with st.status("Running the image experts (the first run loads the models)…", expanded=False) as status:

                def progress(*args, **kwargs):
                    text = next((a for a in (*args, *kwargs.values()) if isinstance(a, str)), None)
                    if text:
                        status.update(label=text)

                try:
                    exps, lines = image_experts(photos, progress=progress)
                    cache[photo_key] = (list(exps), _image_messages(lines))
                    ok = bool(exps)
                except Exception as err:  # noqa: BLE001 - models failing must not take the page down
                    cache[photo_key] = ([], [Message("error", "The image experts failed; priors and your evidence still work.", f"{type(err).__name__}: {err}")])
                    ok = False
                status.update(label=f"Image experts: {len(cache[photo_key][0])} ran" if ok else "Image experts: none ran", state="complete" if ok else "error")
    img_experts, img_msgs = cache[photo_key]
    img_experts = list(img_experts)

# ---- the ensemble for this set of experts (built once per set) --------------------------------------
analyst, more_msgs = evidence.analyst_experts(evidence, layers)
evidence_msgs += more_msgs
# Only a single photo's EXIF clock is evidence (an album's photos may span hours); never its GPS.
exif_photo = photos[0] if len(photos) == 1 else None
sun_exps, sun_notes = sun_clock_experts(sun_ev, photo_exif=exif_photo) if (not sun_ev.empty or exif_photo is not None) else ([], [])
evidence_msgs += [Message(n.level, n.text, n.detail) for n in sun_notes]
ens_key = (evidence, sun_ev, photo_key)
no_evidence = evidence.empty and not sun_exps  # priors alone say where photos are taken, not where this one was
with st.spinner("Evaluating the experts on the globe…"):
    ensemble = session_ensemble(ens_key, lambda: shared_priors() + analyst + sun_exps + img_experts)
labels = {e.name: expert_label(e) for e in ensemble.experts}

for m in evidence_msgs:
    show_message(m)

# ---- status: what analysed the photo -------------------------------------------------------------------
unavailable = [s for s in shared_weights_status() if not getattr(s, "available", False)]
if photos and not img_experts:
    st.warning(NO_MODEL, icon=":material/visibility_off:")
elif not photos and not any(e.kind == "image" for e in ensemble.experts):
    st.caption(NO_PHOTO)
if IMAGE_SUITE_ERROR is not None:
    st.info("Image experts are unavailable in this install (the image suite did not load). Priors and your evidence still work.")
elif unavailable:
    with st.expander(f"Image experts unavailable: {', '.join(s.name for s in unavailable)}. Priors and your evidence still work."):
        st.caption(f"Network: {net['reason']}.")
        for s in unavailable:
            st.markdown(f"**{s.name}**: {s.detail}")
            if getattr(s, "fix", ""):
                st.caption("To fetch it, run on a connected machine:")
                st.code(s.fix, language="bash")
for m in img_msgs:
    text = m.detail if not m.text else m.text
    if " fix: " in text:  # "… fix: COMMAND": prose and the command shown apart
        prose, cmd = text.split(" fix: ", 1)
        show_message(Message(m.level, "", prose))
        st.code(cmd, language="bash")
    else:
        show_message(m)

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
        if st.checkbox("Use the first EXIF position as ground truth (mark it, measure the search area)", value=True, key="use_truth"):
            truth = gps_photos[0].gps


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
    url_weights = st.session_state.get("_url_weights", {})
    controls, main = st.columns([1, 3], gap="medium")
    with controls:
        st.subheader("Weights")
        st.caption("0 switches an expert off; 2 counts it twice.")
        weights = {}
        for name in ensemble.names:
            key = f"w::{name}"
            if key not in st.session_state:
                st.session_state[key] = float(url_weights.get(name, presets.default_weight(name)))
            weights[name] = st.slider(labels[name], 0.0, presets.WEIGHT_MAX, step=0.05, key=key)
        hard = [labels[e.name] for e in ensemble.experts if e.hard]
        if hard:
            st.caption("Certain (a mask, no weight): " + ", ".join(hard))
        st.subheader("Search area")
        budget = st.select_slider("Area budget", options=BUDGETS, key="budget", format_func=fmt.format_km2, help="Log scale. The most likely regions that fit in this much area are outlined in cyan.")
        refine = st.select_slider("Finest resolution", options=list(REFINE_LABELS), key="refine", format_func=REFINE_LABELS.get, help="The most likely regions are split down to this resolution.")
        method = st.radio("Pooling", ["log-linear", "linear"], horizontal=True, key="method", help="log-linear: experts must agree (product). linear: any expert may be right (mixture).")

    with main:
        show_options = ["ensemble"] + ensemble.names
        url_show = st.session_state.pop("_url_show", None)
        if url_show in show_options:
            st.session_state["show"] = url_show
        if st.session_state.get("show") not in show_options:
            st.session_state["show"] = "ensemble"
        show = st.segmented_control("Map shows", show_options, key="show", format_func=lambda n: labels.get(n, n), help="The ensemble, or one expert on its own. Exports follow this choice.") or "ensemble"

        all_zero = show == "ensemble" and not any(weights.values())
        try:
            if show == "ensemble":
                dist = ensemble.distribution(weights, method=method, refine_to=refine)
            else:
                dist = ensemble.expert_distribution(show, refine_to=refine)
        except ValueError as err:
            show_message(Message("error", "Could not combine the experts.", str(err)))
            return
        if all_zero:
            st.info("All weights are 0: no expert has a say, so every place" + (" your certain countries allow" if hard else "") + " is equally likely. Raise a slider to rank regions.")

        # The camera fits each view (ensemble or expert) when it is first shown; sliders keep it still.
        vkey = (ens_key, show, refine if show != "ensemble" else None)
        picked = st.session_state.get("top_regions")
        sel = list(picked["selection"]["rows"]) if picked else []
        if st.session_state.get("_view_key") != vkey:
            st.session_state["_view_key"] = vkey
            st.session_state["_view"] = camera.WORLD_VIEW if (show == "ensemble" and no_evidence and not img_experts) else camera.view_state(dist, budget)
            st.session_state["_fit_view"] = st.session_state["_view"]
        regions = dist.within_budget(budget)
        cam = st.session_state["_view"]
        if sel and sel[0] < len(regions):
            cam = _region_view(regions, sel[0])
        data = mapdata.map_records(dist, budget, view=cam)
        st.session_state["_regions"] = regions  # what the exports serialise (also read by tests)
        st.session_state["_shown"] = show

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
        privacy = bool(st.session_state.get("privacy", True))
        if _deckmap.available():
            multiples = _multiples(dist if show == "ensemble" else None, weights, method, refine, budget, cam) if st.session_state.get("multiples") else []
            _deckmap.draw(data, cam, repr((vkey, sel[:1])), key="map", tiles=None if privacy else basemap.TILE_URL, marker=truth, multiples=multiples)
        else:
            deck = deck.build_deck(data, cam, truth=truth, map_style=None if privacy else basemap.TILE_STYLE)
            st.pydeck_chart(deck, key="map", height=540)
        st.caption(
            f"Showing **{labels.get(show, show)}**. {len(data.cells):,} regions drawn at full resolution "
            f"({fmt.format_prob(data.shown_prob)} of the probability), the rest aggregated to res {data.context_res}"
            + (f" near this view and res {data.far_res} farther away. " if data.far_res is not None else ". ")
            + ("Basemap: shipped borders and city names (privacy mode)." if privacy else "Basemap: CARTO dark matter tiles plus shipped borders.")
            + " Hover a region for its probability, area and rank."
        )

    # ---- the answer as a list ----------------------------------------------------------------------
    st.subheader(f"Top regions ({labels.get(show, show)})")
    top = regions.head(TOP_REGIONS) if len(regions) else dist.ranked(TOP_REGIONS)
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
            key="top_regions",
            on_select="rerun",
            selection_mode="single-row",
        )
        st.caption("Select a row to zoom the map to that region (clear the selection to go back). Places: nearest GeoNames town of 100,000+ people, offline.")
    else:
        places = []

    # ---- exports ------------------------------------------------------------------------------------
    params = share.ViewParams(weights=weights, budget_km2=budget, refine=refine, show=show, evidence=evidence)
    query = share.encode_query(params)
    query.update(sun_ev.to_query())
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
        st.caption("Link to this view (weights, budget, your evidence; not the photo):")
        st.code(link, language=None)

    # ---- small multiples ----------------------------------------------------------------------------
    if st.toggle("Per-expert maps side by side", key="multiples", help="One small map per expert and the ensemble under the main map, all with one linked camera: pan or zoom any of them."):
        if _deckmap.available():
            st.caption("The small maps are under the main map: one per expert on its own and the ensemble, with one camera (pan or zoom any of them). Cyan: each map's own area budget; colours are per map (each its own log scale).")
        else:
            small_multiples(weights, method, refine, budget, cam)


SMALL_MAP_CELLS = 1_000


def _multiples(ens_dist, weights: dict, method: str, refine: int, budget: float, cam: dict) -> list[tuple[str, mapdata.MapData]]:
    """(title, map data) of the ensemble and each expert on its own, for the linked small maps.

    ``ens_dist`` is the ensemble the main map already shows (None when it shows an expert). An expert's
    map does not depend on the weights, so a slider move reuses it (kept per view in the session).
    """
    out = []
    if any(weights.values()):
        d = ens_dist if ens_dist is not None else ensemble.distribution(weights, method=method, refine_to=refine)
        out.append(("ensemble", mapdata.map_records(d, budget, max_cells=SMALL_MAP_CELLS, view=cam)))
    cache = st.session_state.setdefault("_small_maps", {})
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


def small_multiples(weights: dict, method: str, refine: int, budget: float, cam: dict) -> None:
    """One PNG per expert plus the ensemble over the same extent (the main map's camera)."""
    extent = _extent(cam)
    cache = st.session_state.setdefault("_multiples", {})
    names = ["ensemble"] + ensemble.names
    cols = st.columns(3)
    for i, name in enumerate(names):
        if name == "ensemble":
            if not any(weights.values()):
                png = None
            else:
                d = ensemble.distribution(weights, method=method, refine_to=refine)
                png = report.render_map_png(d, extent, size=(360, 230), budget=d.within_budget(budget), max_cells=3000)
        else:
            key = (ens_key, name, refine, extent, budget)
            if key not in cache:
                d = ensemble.expert_distribution(name, refine_to=refine)
                cache[key] = report.render_map_png(d, extent, size=(360, 230), budget=d.within_budget(budget), max_cells=3000)
            png = cache[key]
        with cols[i % 3]:
            label = "ensemble" if name == "ensemble" else labels[name]
            if png is None:
                st.info("ensemble: all weights are 0")
            else:
                st.image(png, caption=f"{label}" + ("" if name == "ensemble" else f" (weight {weights.get(name, 0):g})"))
    while len(cache) > 3 * len(names):
        cache.pop(next(iter(cache)))
    st.caption("Each map is one expert on its own over the main map's area (cyan: its own area budget). Colours are per map (each its own log scale).")


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
            evidence=evidence.summary() + sun_ev.summary(),
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
