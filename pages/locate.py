"""Locate: drop a photo (or add what you know), tune the experts, cut the search region to an area budget."""

from __future__ import annotations

import json
from collections import OrderedDict
from urllib.parse import urlencode

import streamlit as st

from pages._shared import (
    IMAGE_SUITE_ERROR,
    digest,
    image_experts,
    load_photo,
    session_ensemble,
    shared_countries,
    shared_layers,
    shared_priors,
    shared_weights_status,
)
from geolocate import view
from geolocate.export import regions_to_csv, regions_to_geojson, regions_to_kml
from geolocate.view import AnalystEvidence, ViewParams

REFINE_LABELS = {3: "res 3 (~12,000 km² cells)", 4: "res 4 (~1,800 km²)", 5: "res 5 (~250 km²)", 6: "res 6 (~36 km²)", 7: "res 7 (~5 km²)"}
BUDGETS = view.log_budget_options()

st.title("Locate a photo")
st.caption(
    "Each *expert* (a prior on where photos are taken, an image model, or what you know) gives a map of where the "
    "photo could be; the *ensemble* multiplies them with the weights on the left. The brightest hexagons are the "
    "most likely; the cyan-tinted ones are the places to search first, as much as the area budget allows."
)

countries = shared_countries()
iso_name = {c["iso3"]: c["name"] for c in countries}

# ---- first run of a session: restore a shared view from the URL ------------------------------------
if "_restored" not in st.session_state:
    st.session_state["_restored"] = True
    params, msgs = view.decode_query(st.query_params.to_dict(), country_codes=list(iso_name))
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
    for m in msgs:
        st.toast(f"Link: {m}")

# ---- sidebar: photo and analyst evidence --------------------------------------------------------------
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
    st.number_input("…give or take (km)", min_value=1.0, max_value=5000.0, step=10.0, key="radius")
    fmt = lambda c: f"{iso_name.get(c, c)} ({c})"  # noqa: E731
    st.multiselect("It is in one of these countries", list(iso_name), key="include", format_func=fmt)
    st.multiselect("It is not in these countries", list(iso_name), key="exclude", format_func=fmt)
    st.checkbox("Countries are certain (rule the rest out)", key="hard")
    layers = shared_layers()
    terms = [t for t, (layer, _) in view.ATTRIBUTE_TERMS.items() if layer in layers]
    st.multiselect("The photo shows", terms, key="attributes", help="Plain-language land cover / scene; each becomes an expert.")

point, evidence_msgs = None, []
if guess_text.strip():
    try:
        point = view.parse_latlon(guess_text)
    except ValueError as err:
        evidence_msgs.append(f"Guess ignored: {err}")
evidence = AnalystEvidence(
    point=point,
    radius_km=float(st.session_state["radius"]),
    include=tuple(st.session_state["include"]),
    exclude=tuple(st.session_state["exclude"]),
    hard=bool(st.session_state["hard"]),
    attributes=tuple(a for a in st.session_state["attributes"] if a in terms),
)

# ---- photos → image experts --------------------------------------------------------------------------
photos, upload_msgs, photo_key = [], [], ()
if uploads:
    if load_photo is None:
        upload_msgs.append("Photo loading is unavailable in this install: " + (IMAGE_SUITE_ERROR or ""))
    else:
        # Decode once per upload set, not on every slider move; keyed by Streamlit's upload id (or the
        # bytes' hash), never by name alone. Decoded photos stay in session memory, never on disk.
        upload_key = tuple(getattr(f, "file_id", None) or digest(f.getvalue()) for f in uploads)
        decoded = st.session_state.get("_decoded")
        if decoded is None or decoded[0] != upload_key:
            decoded = (upload_key, view.load_uploads([(f.name, f.getvalue()) for f in uploads], load_photo))
            st.session_state["_decoded"] = decoded
        photos, upload_msgs = decoded[1]
        photo_key = tuple(k for k, f in zip(upload_key, uploads) if any(p.name == f.name for p in photos))
for m in upload_msgs:
    st.error(m)

img_experts, img_msgs = [], []
if photos:
    # A small LRU, like the ensembles: each entry holds a GeoCLIP expert with (photos x 100K) arrays.
    cache = st.session_state.setdefault("_image_experts", OrderedDict())
    if photo_key in cache:
        cache.move_to_end(photo_key)
    else:
        while len(cache) >= 2:
            cache.popitem(last=False)
        if image_experts is None:
            cache[photo_key] = ([], [f"Image experts unavailable: {IMAGE_SUITE_ERROR}"])
        else:
            with st.status("Running the image experts (the first run loads the models)…", expanded=False) as status:

                def progress(*args, **kwargs):
                    text = next((a for a in (*args, *kwargs.values()) if isinstance(a, str)), None)
                    if text:
                        status.update(label=text)

                try:
                    cache[photo_key] = image_experts(photos, progress=progress)
                except Exception as err:  # noqa: BLE001 - models failing must not take the page down
                    cache[photo_key] = ([], [f"Image experts failed: {type(err).__name__}: {err}"])
                status.update(label="Image experts done", state="complete")
    img_experts, img_msgs = cache[photo_key]
    img_experts = list(img_experts)

# ---- the ensemble for this set of experts (built once per set) --------------------------------------
analyst, more_msgs = view.analyst_experts(evidence, layers)
evidence_msgs += more_msgs
ens_key = (evidence, photo_key)
with st.spinner("Evaluating the experts on the globe…"):
    ensemble = session_ensemble(ens_key, lambda: shared_priors() + analyst + img_experts)

# ---- sidebar: weights, budget, resolution -------------------------------------------------------------
url_weights = st.session_state.get("_url_weights", {})
with st.sidebar:
    st.header("Weights")
    st.caption("0 switches an expert off; 2 counts it twice.")
    weights = {}
    kinds = {e.name: e.kind for e in ensemble.soft_experts}
    for name in ensemble.names:
        key = f"w::{name}"
        if key not in st.session_state:
            st.session_state[key] = float(url_weights.get(name, view.default_weight(name)))
        weights[name] = st.slider(f"{name}  ·  {kinds[name]}", 0.0, view.WEIGHT_MAX, step=0.05, key=key)
    st.header("Search area")
    budget = st.select_slider("Area budget", options=BUDGETS, key="budget", format_func=view.format_km2, help="Log scale. Outlined hexagons: the most likely places that fit in this much area.")
    refine = st.select_slider("Finest resolution", options=list(REFINE_LABELS), key="refine", format_func=REFINE_LABELS.get, help="The most likely hexagons are split down to this resolution.")
    method = st.radio("Pooling", ["log-linear", "linear"], horizontal=True, key="method", help="log-linear: experts must agree (product). linear: any expert may be right (mixture).")

for m in evidence_msgs:
    st.warning(m)

# ---- image expert status ------------------------------------------------------------------------------
unavailable = [s for s in shared_weights_status() if not getattr(s, "available", False)]
if IMAGE_SUITE_ERROR is not None:
    st.info("Image experts unavailable in this install (the image suite did not load). Priors and your evidence still work.", icon="ℹ️")
elif unavailable:
    with st.expander(f"Image experts unavailable: {', '.join(s.name for s in unavailable)} — priors and your evidence still work"):
        for s in unavailable:
            st.markdown(f"**{s.name}**: {s.detail}")
            if getattr(s, "fix", ""):
                st.code(s.fix, language="bash")
for m in img_msgs:
    if m.startswith("warning:"):
        st.warning(m[len("warning:"):].strip(), icon="⚠️")
    else:
        st.info(m)

# ---- EXIF GPS -----------------------------------------------------------------------------------------
truth = None
gps_photos = [p for p in photos if getattr(p, "gps", None)]
if gps_photos:
    p0 = gps_photos[0]
    st.warning(
        f"**{p0.name} carries its own GPS position in EXIF** ({p0.gps[0]:.4f}, {p0.gps[1]:.4f}). "
        "Anyone receiving this file knows where it was taken; strip EXIF before sharing."
    )
    if st.checkbox("Use the EXIF position as ground truth (mark it, measure the search area)", value=True, key="use_truth"):
        truth = p0.gps

# ---- the distribution for the current weights (fast path) --------------------------------------------
show_options = ["ensemble"] + ensemble.names
url_show = st.session_state.pop("_url_show", None)
if url_show in show_options:
    st.session_state["show"] = url_show
if st.session_state.get("show") not in show_options:
    st.session_state["show"] = "ensemble"
show = st.segmented_control("Map shows", show_options, key="show", help="The ensemble, or one expert on its own.") or "ensemble"

if not any(weights.values()):
    st.warning("All weights are 0: the ensemble is uniform over the globe. Raise a slider.")
try:
    if show == "ensemble":
        dist = ensemble.distribution(weights, method=method, refine_to=refine)
    else:
        dist = ensemble.expert_distribution(show, refine_to=refine)
except ValueError as err:
    st.error(f"Could not combine the experts: {err}")
    st.stop()

data = view.map_records(dist, budget)
regions = data.budget
st.session_state["_regions"] = regions  # what the export buttons serialise (also read by tests)

c1, c2, c3, c4 = st.columns(4)
c1.metric("Regions in budget", f"{len(regions):,}")
c2.metric("Chance the photo is in them", f"{regions.total_prob:.1%}")
c3.metric("Their total area", view.format_km2(regions.total_area_km2), help=f"About a disc of radius {view.disc_radius_km(max(regions.total_area_km2, 1)):,.0f} km")
if truth is not None:
    need = dist.area_to_contain(*truth)
    c4.metric("Area needed to reach the EXIF position", view.format_km2(need), delta="inside budget" if need <= budget else "outside budget", delta_color="normal" if need <= budget else "inverse")
else:
    lat0, lon0 = dist.mode()
    c4.metric("Most likely cell", f"{lat0:.2f}, {lon0:.2f}")
if len(regions) == 0:
    st.info("The budget is smaller than the single most likely hexagon: raise the budget or choose a finer resolution.")

# The map keeps its view while sliders move: the initial view only changes with the expert set.
vkey = ("_view", ens_key)
if st.session_state.get("_view_key") != vkey:
    st.session_state["_view_key"] = vkey
    st.session_state["_view"] = view.view_state(dist, budget) if not (evidence.empty and not photos) else view.WORLD_VIEW
deck = view.build_deck(data, st.session_state["_view"], truth=truth)
st.pydeck_chart(deck, key="map", height=560)
st.caption(
    f"{len(data.records):,} hexagons drawn (they hold {data.shown_prob:.1%} of the probability); colour = log density, "
    "bright = likely. Cyan tint: the area budget (cells outside it are dimmed). Hover for probability, area and rank."
)

# ---- exports and the shareable link --------------------------------------------------------------------
params = ViewParams(weights=weights, budget_km2=budget, refine=refine, show=show, evidence=evidence)
query = view.encode_query(params)
st.query_params.from_dict(query)

with st.expander(f"Regions inside the budget ({len(regions):,}) — export", expanded=False):
    if len(regions):
        st.dataframe(regions.head(200).to_frame(), hide_index=True, height=240)
        d1, d2, d3 = st.columns(3)
        d1.download_button("GeoJSON", data=lambda: json.dumps(regions_to_geojson(regions)), file_name="search_regions.geojson", mime="application/geo+json", key="dl_geojson", on_click="ignore")
        d2.download_button("KML", data=lambda: regions_to_kml(regions), file_name="search_regions.kml", mime="application/vnd.google-earth.kml+xml", key="dl_kml", on_click="ignore")
        d3.download_button("CSV", data=lambda: regions_to_csv(regions), file_name="search_regions.csv", mime="text/csv", key="dl_csv", on_click="ignore")
    else:
        st.write("Nothing inside the budget yet.")
    base = st.context.url or ""
    st.markdown("**Link to this view** (weights, budget, your evidence; not the photo):")
    st.code((base.split("?")[0] if base else "") + ("?" + urlencode(query) if query else ""), language=None)

with st.expander("Experts in this ensemble"):
    for e in ensemble.experts:
        st.markdown(f"- {e.describe()}" + ("  (hard mask, no weight)" if getattr(e, "hard", False) else ""))
