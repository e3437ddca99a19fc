"""Cases: one benchmark photo at a time — each expert's map, the truth, and how much area each had to search.
Two modes: browse a case, or guess first and then reveal how your guess compares with the models."""

from __future__ import annotations

import random

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from geolocate import evidence, settings, share
from geolocate.maps import camera, fmt
from geolocate.maps import data as mapdata
from geolocate.maps import spec as mapspec
from geolocate.plots import rva_chart
from geolocate.teach import cases
from geolocate.teach import reveal as teach_reveal
from pages import _deckmap
from pages import _teach_state as K

BUDGETS = share.log_budget_options()
MODES = ["Browse", "Guess then reveal"]
SMALL_MAP_CELLS = 1_000  # full-resolution hexagons per small map (the densest), as Locate's small multiples


# ---- guided first visit ----------------------------------------------------------------------------------
TOUR_COOKIE = "geolocate_tour"


def tour() -> None:
    """A short "try this" path, shown until dismissed; dismissal lasts for the browser session (a session
    cookie, so a reload or another page of the app does not bring it back)."""
    if st.session_state.get(K.TOUR_DONE):
        if not st.session_state.get(K.TOUR_COOKIE_SET):
            st.session_state[K.TOUR_COOKIE_SET] = True
            # A session cookie (no expiry), set by the browser: it lives until the browser closes.
            st.html(f"<script>document.cookie = '{TOUR_COOKIE}=done; path=/; SameSite=Lax';</script>", unsafe_allow_javascript=True)
        return
    if st.context.cookies.get(TOUR_COOKIE) == "done":
        return
    with st.container(border=True, key="tour"):
        st.markdown("#### New here? Try this (one minute)")
        st.markdown(
            "1. Below is one real test photo from a benchmark, with the maps of several **experts** (geolocation "
            "models, a scene classifier, priors on where people take photos) and their **ensemble**.\n"
            "2. A **region** is a hexagon on the map; bright means likely. The **area budget** is how many km² "
            "you can afford to search: the cyan-tinted hexagons are the most likely ones that fit.\n"
            "3. The **area to truth** of a map is how much you would have searched, most likely hexagons first, "
            "before reaching the cyan true location. Smaller is better.\n"
            "4. **Recall** at an area A is the share of all test photos found within A km² — the curve at the "
            "bottom, with this photo marked on it.\n"
            "5. Then switch to **Guess then reveal**: place your own guess and see whether you beat the models."
        )
        if st.button("Got it — hide this", key=K.TOUR_HIDE):
            st.session_state[K.TOUR_DONE] = True
            st.rerun()


def _cam_key(*parts) -> str:
    return repr(parts)


def case_map(case: cases.Case, names: list[str], budget: float, zoom: bool) -> None:
    """The ensemble's map of a case with one linked small map per expert (and the ensemble), the truth marked:
    the same component and small multiples as Locate's."""

    cam = camera.fit_view(np.array([case.truth[0]]), np.array([case.truth[1]]), pad_deg=20.0) if zoom else camera.WORLD_VIEW
    ens = mapdata.map_records(case.distribution("ensemble"), budget, view=cam)
    areas = case.table.set_index("expert")["area_km2"]
    small = [
        (f"{n} · area to truth {fmt.format_km2(float(areas[n]))}", mapdata.map_records(case.distribution(n), budget, max_cells=SMALL_MAP_CELLS, view=cam))
        for n in names
    ]
    _deckmap.draw(ens, cam, _cam_key(case.image_id, zoom), key="case_map", height=420, marker=case.truth, multiples=small)


def reveal_map(case: cases.Case, guess: tuple[float, float], budget: float) -> None:
    """The ensemble's map with the truth (green), the guess (pink) and the line between them labelled with
    its distance, the ensemble's search area outlined, framed on both."""

    cam = camera.fit_view(np.array([case.truth[0], guess[0]]), np.array([case.truth[1], guess[1]]), pad_deg=5.0)
    data = mapdata.map_records(case.distribution("ensemble"), budget, view=cam)
    extra: dict = {}
    if "lines" in getattr(mapspec.MapOptions, "__annotations__", {}):
        extra["lines"] = teach_reveal.guess_lines(case.truth, [(guess[0], guess[1], "you")])
    _deckmap.draw(data, cam, _cam_key(case.image_id, guess), key="reveal_map", height=420, marker=case.truth, guess=guess, **extra)


def pick_map(image_id: str, guess: tuple[float, float] | None) -> dict | None:
    """A neutral world map to click a guess on (borders and city names only: nothing of the case); the last click."""

    return _deckmap.draw(mapdata.empty_map(), camera.WORLD_VIEW, _cam_key("pick", image_id), key=f"pick::{image_id}", height=360, guess=guess, click=True)


def rva_with_case(table: pd.DataFrame, case: cases.Case, experts: list[str], extra: dict[str, float] | None = None) -> alt.LayerChart | alt.FacetChart:
    """The benchmark's RvA curves with this photo's area to truth (the converged one, as in the table) marked on each."""
    curves = cases.rva_curves(table, experts)
    marks = cases.case_marks(table, case.image_id, experts, areas=case.model_areas())
    chart = rva_chart(curves, title=None, width=None, height=380)
    scale = alt.Scale(type="log", domain=[1, 5.1e8])
    pts = alt.Chart(marks).mark_point(size=110, filled=True, stroke="white", strokeWidth=1.5).encode(
        x=alt.X("area_km2:Q", scale=scale), y="recall:Q", color=alt.Color("expert:N"),
        tooltip=["expert", alt.Tooltip("area_km2:Q", format=".3g", title="this photo's area to truth"), alt.Tooltip("recall:Q", format=".1%", title="photos found within it")],
    )
    layers = [chart, pts]
    if extra:
        from geolocate.metrics import recall_at_area

        you = pd.DataFrame([{"who": k, "area_km2": max(v, 1.0), "recall": float(recall_at_area(table["ensemble"].to_numpy(), max(v, 1.0)))} for k, v in extra.items()])
        layers.append(alt.Chart(you).mark_point(shape="diamond", size=200, filled=True, color="#ff50c8").encode(x=alt.X("area_km2:Q", scale=scale), y="recall:Q", tooltip=["who", alt.Tooltip("area_km2:Q", format=".3g")]))
    return alt.layer(*layers)


# ---- page ------------------------------------------------------------------------------------------------
st.title("Cases: one photo at a time")
st.caption(
    "Real test photos from a benchmark: where each expert thought the photo was, where it really was, and how much "
    "area each would have had to search to find it."
)
# The first visit of a server process imports the shared model code, builds the priors, reads the benchmark
# and fits each model's error mixture, then draws every expert's map: seconds of work, shown step by step
# from the first moment (the status box is drawn before the heavy imports). Later visits reuse all of it.
_first = K.CASES_WARM not in st.session_state
_status = st.status("Preparing the first case: loading the app's model code…", expanded=True) if _first else None
from pages._teach import (  # noqa: E402 - heavy (pages._shared imports the image models' code): after the status box
    bench_specs,
    case_of,
    casebook,
    place_search,
    show_photo,
    show_scene,
    table_of,
)

tour()

folder_path = settings.allowed_data_path(settings.default_data_dir())
if folder_path is None:
    st.error("The server's default benchmark folder is not among its data folders (GEOLOCATE_DATA_DIRS).")
    st.stop()
folder = str(folder_path)
try:
    specs = [s for s in bench_specs(folder) if s.predictions]
except OSError as err:
    st.error(f"Cannot read the benchmark folder: {err.strerror or err}")
    st.stop()
if not specs:
    st.warning("No benchmarks with prediction files in the server's data folder. A benchmark is a sub-folder with gt.csv (or places365.csv) and predictions/*.csv.")
    st.code(folder, language=None)
    st.stop()

qp = st.query_params
names = [s.name for s in specs]
if K.CASES_RESTORED not in st.session_state:
    st.session_state[K.CASES_RESTORED] = True
    if qp.get("bench") in names:
        st.session_state[K.BENCH] = qp["bench"]
    if qp.get("mode") == "guess":
        st.session_state[K.MODE] = MODES[1]
    if qp.get("case"):
        st.session_state[K.CASE_ID] = qp["case"][:200]
c1, c2 = st.columns([1, 1])
name = c1.selectbox("Benchmark", names, key=K.BENCH)
st.session_state.setdefault(K.MODE, MODES[0])
mode = c2.segmented_control("Mode", MODES, key=K.MODE, required=True) or MODES[0]
if _status is not None:
    _status.update(label="Preparing the first case: loading priors and layers…")
    from pages._shared import shared_priors

    shared_priors()
    _status.update(label="Preparing the first case: reading the benchmark and fitting each model's error mixture…")
try:
    book = casebook(folder, name)
except Exception as err:  # noqa: BLE001 - a malformed benchmark file must give a message
    st.error("Could not read this benchmark:")
    st.code(str(err), language=None)
    st.stop()

if not st.session_state.get(K.CASE_ID):
    st.session_state[K.CASE_ID] = book.ids[0]

# ---- choose a case ---------------------------------------------------------------------------------------
table = table_of(folder, name)
p1, p2, p3 = st.columns([3, 1, 2])


def _random_case():
    st.session_state[K.CASE_ID] = random.choice(book.ids)


p1.text_input("Image id", key=K.CASE_ID, help=f"Any of the {len(book):,} image ids of {name}.")
p2.button("Random photo", on_click=_random_case, width="stretch")
if table is not None:
    helps, hurts = cases.extremes(table, k=15)
    options = ["(choose)"] + [f"helps: {i}" for i in helps] + [f"hurts: {i}" for i in hurts]

    def _pick():
        v = st.session_state.get(K.PICK_LIST, "(choose)")
        if v != "(choose)":
            st.session_state[K.CASE_ID] = v.split(": ", 1)[1]

    p3.selectbox(
        "Where the ensemble helps / hurts most", options, key=K.PICK_LIST, on_change=_pick,
        help=f"Ranked by the ensemble's area to truth over that of the best single expert ({table.attrs['best_single']}), on the res-{table.attrs['resolution']} grid.",
    )
else:
    with p3:
        if st.button("Rank all photos (about a minute, once)", help="Areas to truth of every photo for every expert: needed for the 'helps / hurts most' lists and the Recall-vs-Area curves."):
            with settings.HEAVY_RUN.take() as got:
                if not got:
                    st.warning("Another heavy job is running on this server; try again in a minute.")
                else:
                    bar = st.progress(0.0, text="Ranking every photo…")
                    table = table_of(folder, name, compute=True, progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=m))
                    bar.empty()
                    st.rerun()

image_id = st.session_state[K.CASE_ID].strip()
try:
    book.row(image_id)
except KeyError:
    st.error(f"No image with this id in {name}:")  # the id is user text: shown verbatim, never as Markdown
    st.code(image_id[:200], language=None)
    st.stop()
if _status is not None:
    _status.update(label="Preparing the first case: drawing every expert's map for this photo…")
case = case_of(folder, name, image_id)
if _status is not None:
    _status.update(label="Ready", state="complete", expanded=False)
st.session_state[K.CASES_WARM] = True
qp.from_dict({"bench": name, "case": image_id} | ({"mode": "guess"} if mode == MODES[1] else {}))
st.caption(
    "Link to this case: add `?" + "&".join(f"{k}={v}" for k, v in qp.to_dict().items()) + "` to this page's address. "
    f"A classroom round with it: `/classroom?cases={image_id}` (add more ids after commas)."
)
if book.fit_half[book.row(image_id)]:
    st.caption("This photo is in the half the point models' error mixtures were fitted on (the other half never saw it).")

top = case.table.set_index("expert")
experts = [n for n in case.table["expert"] if n != "ensemble"]


def _fmt_table(extra: list[dict] | None = None) -> pd.DataFrame:
    """One row per expert (and the ensemble, and the guess when given): one area to truth each, the converged one."""
    rows = case.table[["expert", "kind", "area_km2", "rank", "distance_km", "points"]].copy()
    if extra:
        rows = pd.concat([pd.DataFrame(extra), rows], ignore_index=True)
    return rows.sort_values("area_km2", kind="stable").rename(
        columns={"area_km2": "area to truth, km²", "rank": "rank of the truth's hexagon", "distance_km": "distance, km", "points": "points (0-100)"}
    )


def show_table(df: pd.DataFrame) -> None:
    """Every row visible (no inner scrolling), areas in compact notation (3.17K, 27.2M)."""
    cfg = dict(NUM) | {c: st.column_config.NumberColumn(format="compact") for c in df.columns if "km²" in c}
    st.dataframe(df, hide_index=True, column_config=cfg, height=36 * (len(df) + 1) + 3)


NUM = {
    "distance, km": st.column_config.NumberColumn(format="%.0f"),
    "points (0-100)": st.column_config.NumberColumn(format="%.0f"),
}

# ---- guess then reveal -----------------------------------------------------------------------------------
if mode == MODES[1]:
    scores: dict = st.session_state.setdefault(K.GUESS_SCORES, {})
    left, right = st.columns([1, 1])
    with left:
        show_photo(case.photo, image_id=case.image_id)
    with right:
        st.subheader("Clues")
        show_scene(case.scene)
    done = scores.get((name, image_id))
    if done is None:
        st.subheader("Your guess")
        st.caption("The true location stays hidden until you reveal it. Place your guess; optionally say how much area you would search around it.")
        gkey = K.guess_key(image_id)
        try:
            typed = evidence.parse_latlon(st.session_state.get(gkey, "")) if st.session_state.get(gkey) else None
        except ValueError:
            typed = None
        place_search(gkey, key=f"{K.PLACE_QUERY}::{image_id}")
        click = pick_map(image_id, typed)
        if click and st.session_state.get(K.APPLIED_PICK) != (image_id, click["n"]):
            # A new click: its position becomes the guess (set before the text box is drawn).
            st.session_state[K.APPLIED_PICK] = (image_id, click["n"])
            lat, lon = float(click["lat"]), float(click["lon"])
            if -90 <= lat <= 90 and -180 <= lon <= 180:
                st.session_state[gkey] = f"{lat:.4f}, {lon:.4f}"
                st.rerun()
        st.caption("Click the map to place your guess (pink), or type it below.")
        g1, g2 = st.columns([2, 2])
        guess_text = g1.text_input("Latitude, longitude", key=gkey, placeholder="e.g. 48.85, 2.35 or 33.9S 151.2E")
        use_budget = g2.checkbox("I also give a search budget", key=K.USE_BUDGET)
        budget = g2.select_slider("Search budget (a disc around my guess)", options=BUDGETS, value=1e4, format_func=fmt.format_km2, key=K.GUESS_BUDGET, disabled=not use_budget)
        if st.button("Reveal", type="primary", key=K.REVEAL):
            try:
                guess = evidence.parse_latlon(guess_text)
            except ValueError as err:
                st.error(f"Guess not understood: {err}")
            else:
                scored = cases.score_guess(guess, case.truth, budget if use_budget else None)
                scores[(name, image_id)] = {"guess": guess, "score": scored, "ensemble": float(top.loc["ensemble", "area_km2"])}
                st.rerun()
    else:
        s: cases.GuessScore = done["score"]
        st.subheader("Reveal")
        st.markdown("**The true location is revealed.**", help="Scored on the server: distance by haversine; your area to truth is the area of the smallest disc around your guess that contains the truth.")
        m = st.columns(4)
        m[0].metric("Distance", f"{s.distance_km:,.0f} km" if s.distance_km >= 10 else f"{s.distance_km:.2f} km")
        m[1].metric("Your area to truth", fmt.format_km2(s.area_km2), help="The smallest disc around your guess that contains the true location.")
        ens_area = float(top.loc["ensemble", "area_km2"])
        m[2].metric("Ensemble's area to truth", fmt.format_km2(ens_area))
        if s.in_budget is None or s.budget_km2 is None:
            m[3].metric("Points", f"{s.points:.0f} / 100")
        else:
            m[3].metric("Your budget", fmt.format_km2(s.budget_km2), delta="contained the truth" if s.in_budget else "missed the truth", delta_color="normal" if s.in_budget else "inverse")
        ratio = max(s.area_km2, 1.0) / max(ens_area, 1.0)  # below 1 km² counts as 1 km², as the points
        st.text(f"You searched {1 / ratio:,.1f}x less area than the ensemble: you beat it." if ratio < 1
                else f"The ensemble searched {ratio:,.1f}x less area than you: it beat you this time.")
        st.caption(f"Truth: {case.truth[0]:.4f}, {case.truth[1]:.4f}. Your guess: {done['guess'][0]:.4f}, {done['guess'][1]:.4f}. Points: {s.points:.0f} of 100 (100 = within 1 km², 0 = the whole Earth).")
        you = [{"expert": "you", "kind": "your guess", "area_km2": s.area_km2, "rank": None, "distance_km": s.distance_km, "points": s.points}]
        show_table(_fmt_table(you))
        reveal_map(case, done["guess"], share.DEFAULT_BUDGET_KM2)
        st.caption("The ensemble's map; green dot: the true location; pink: your guess, with the line to the truth and its distance; cyan outline: the ensemble's most likely regions within 10,000 km².")
        if st.button("Next photo", type="primary", on_click=_random_case):
            pass
    if scores:
        st.subheader("Your session")
        rows = [{"benchmark": b, "image id": i, "distance, km": v["score"].distance_km, "your area, km²": v["score"].area_km2,
                 "ensemble's area, km²": v["ensemble"], "you beat the ensemble": v["score"].area_km2 < v["ensemble"], "points": v["score"].points}
                for (b, i), v in scores.items()]
        df = pd.DataFrame(rows)
        s1, s2, s3 = st.columns(3)
        s1.metric("Photos", len(df))
        s2.metric("Session score", f"{df['points'].mean():.0f} / 100", help="Mean points per photo: 100 (L - log10 area) / L, L = log10(5.1e8 km²), the RvA AUC scale.")
        s3.metric("Beat the ensemble", f"{int(df['you beat the ensemble'].sum())} of {len(df)}")
        st.dataframe(df, hide_index=True, column_config={"your area, km²": st.column_config.NumberColumn(format="compact"), "ensemble's area, km²": st.column_config.NumberColumn(format="compact"), "distance, km": st.column_config.NumberColumn(format="%.0f"), "points": st.column_config.NumberColumn(format="%.0f")})
    st.stop()

# ---- browse ----------------------------------------------------------------------------------------------
left, right = st.columns([1, 1])
with left:
    show_photo(case.photo, image_id=case.image_id)
with right:
    st.subheader("Truth and scene")
    m1, m2 = st.container(), st.container()
    m1.metric("True location", f"{case.truth[0]:.3f}, {case.truth[1]:.3f}")
    best = case.table[case.table["expert"] != "ensemble"].sort_values("area_km2").iloc[0]
    m2.metric("Ensemble's area to truth", fmt.format_km2(float(top.loc["ensemble", "area_km2"])), help=f"Best single expert here: {best['expert']} with {fmt.format_km2(float(best['area_km2']))}.")
    show_scene(case.scene)

budget = st.select_slider("Area budget (cyan on every map)", options=BUDGETS, value=share.DEFAULT_BUDGET_KM2, format_func=fmt.format_km2, key=K.BROWSE_BUDGET)
st.subheader("Each expert's map, and the ensemble")
zoom = st.toggle("Zoom the maps around the true location", key=K.ZOOM_MAPS, help="Off: the whole world, where each expert put its probability. On: about 80° x 45° around the truth.")
case_map(case, ["ensemble"] + experts, budget, zoom)
st.caption(
    "Top: the ensemble. Below: each expert on its own and the ensemble, one camera for all (pan or zoom any map). "
    "Green dot: the true location; cyan: each map's own area budget; colours are per map (each its own log scale)."
)

st.subheader("Area to truth, per expert")
show_table(_fmt_table())
st.caption(
    "*Area to truth*: the area denser than the truth under each map's continuous density, as the Benchmark page "
    f"computes it (converged: hexagons split until settled). *Rank*: of the truth's hexagon on the drawn map "
    f"(refined to res {case.refine_to} around the densest hexagons). *Distance*: a point model's own prediction, "
    "or the densest hexagon's centre, to the truth. *Points*: 100 = within 1 km², 0 = the whole Earth (the RvA AUC scale)."
)

st.subheader("Recall vs Area, with this photo marked")
if table is None:
    st.info("Press **Rank all photos** above to draw the benchmark's curves with this photo on them.")
else:
    st.altair_chart(rva_with_case(table, case, ["ensemble"] + experts), width="stretch")
    st.caption(
        f"Curves: all {len(table):,} photos on the res-{table.attrs['resolution']} grid (no refinement: fast for every photo). "
        "Dots: this photo's area to truth from the table above, at the share of photos found within it on that curve."
    )
