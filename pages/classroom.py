"""Classroom: a teacher starts a round of benchmark photos, students join with a name and guess, a
leaderboard ranks them by median area to truth and by distance. Works offline; state lives in one SQLite
file the whole server shares (geolocate.teach.classroom)."""

from __future__ import annotations

import html
import importlib
import json
import os
import random
import secrets
import time
from types import ModuleType
from typing import Literal
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import streamlit as st

from geolocate import evidence, share
from geolocate.maps import camera, fmt
from geolocate.maps import data as mapdata
from geolocate.teach import photos as teach_photos
from geolocate.teach import projector
from geolocate.teach import reveal as teach_reveal
from geolocate.teach.classroom import UNAVAILABLE, Classroom, ClassroomError, StoreUnavailable

BUDGETS = share.log_budget_options()


# The helper modules are imported by one thread at a time (cache_resource computes a key once while
# others wait): ten sessions opening this page at once on a fresh process imported them concurrently, and
# some got "cannot import name 'offline' from 'pages._teach'" or "cannot import name '_teach' from 'pages'
# (unknown location)" (pages/ is a namespace package) in the fault-injection run.
@st.cache_resource(show_spinner=False)
def _helpers() -> tuple[ModuleType, ModuleType, ModuleType, ModuleType]:
    return tuple(importlib.import_module(f"pages.{m}") for m in ("_deckmap", "_reset", "_teach", "_teach_state"))  # type: ignore[return-value]


# The title first: a fresh server's first visitor sees the page while the helpers' heavy imports run.
st.title("Classroom")
st.caption("A teacher starts a round of benchmark photos (or their own); students join with a name and guess where each was taken. "
           "Each guess is revealed to its author at once; the leaderboard (names and scores only) opens when you have guessed every photo, "
           "and everyone's guesses once the teacher reveals the round.")
_deckmap, _reset, _teach, K = _helpers()


@st.cache_resource(show_spinner=False)
def _room(path: str) -> Classroom:
    return Classroom(path or None)


def room() -> Classroom:
    return _room(os.environ.get("GEOLOCATE_CLASSROOM_DB", ""))


BROWSER_COOKIE = "geolocate_browser"
# (Comments, not docstrings: a bare string in a page script is drawn by Streamlit's magic.)
TEACHER_COOKIE_DAYS = 7  # how long the teacher's browser keeps a round's key (a reload keeps the teacher in control)
SEARCH_BUDGET_KM2 = share.DEFAULT_BUDGET_KM2  # the ensemble's search area outlined on the reveal maps


@st.cache_resource(show_spinner=False)
def own_photos() -> teach_photos.OwnPhotos:
    """Teachers' own photos, in this server process's memory only (see geolocate.teach.photos.OwnPhotos)."""
    return teach_photos.OwnPhotos()


def teacher_cookie(code: str) -> str:
    """The cookie that keeps a round's teacher key in the teacher's browser."""
    return f"geolocate_teacher_{code}"


def _set_cookie(name: str, value: str, max_age_s: int) -> None:
    """Store a cookie in the browser (values are url-safe tokens and round codes made here, never user text)."""
    st.html(f"<script>document.cookie = {json.dumps(f'{name}={value}; path=/; max-age={max_age_s}; SameSite=Lax')};</script>", unsafe_allow_javascript=True)


def browser_id() -> str:
    """A random id this browser keeps for a year (one classroom identity per browser and round)."""
    bid = st.session_state.get(K.BROWSER_ID) or _reset.cookie(BROWSER_COOKIE) or ""
    if not bid or len(bid) > 64:
        bid = secrets.token_urlsafe(16)
    if st.session_state.get(K.BROWSER_ID) != bid:
        st.session_state[K.BROWSER_ID] = bid
        _set_cookie(BROWSER_COOKIE, bid, 365 * 86400)
    return bid


def round_cookie(code: str) -> str:
    """The cookie that keeps a student's resume token for one round."""
    return f"geolocate_round_{code}"


def client_address() -> str | None:
    """The visitor's address: the one the proxy in front added to X-Forwarded-For, else the socket's."""
    fwd = st.context.headers.get("X-Forwarded-For")
    last = fwd.split(",")[-1].strip() if isinstance(fwd, str) else ""
    ip = st.context.ip_address
    return last or (ip if isinstance(ip, str) else None)


def base_url() -> str:
    url = st.context.url or ""
    return url.split("?")[0]


def leaderboard(code: str) -> None:
    board = room().leaderboard(code)
    by = st.radio("Rank by", ["median area to truth", "median distance"], horizontal=True, key=K.BOARD_BY)
    if by == "median distance":
        board = room().leaderboard(code, by="distance")
    df = pd.DataFrame(board, columns=["rank", "name", "guessed", "median_area_km2", "median_distance_km", "points", "late"])
    st.dataframe(
        df.rename(columns={"median_area_km2": "median area to truth, km²", "median_distance_km": "median distance, km", "points": "mean points",
                           "late": "joined after a reveal"}),
        hide_index=True, key=K.LEADERBOARD, height="content" if len(df) <= 40 else "auto",  # a class fits without scrolling
        column_config={
            "median area to truth, km²": st.column_config.NumberColumn(format="%.4g"),
            "median distance, km": st.column_config.NumberColumn(format="%.1f"),
            "mean points": st.column_config.NumberColumn(format="%.1f"),
        },
    )
    st.caption(f"{len(df)} student{'s' if len(df) != 1 else ''} on the board. Area to truth of a guess: the smallest disc around it that contains the true location. "
               "'joined after a reveal': the name joined after some photo's true location had been shown to a student.")


# ---- teacher: start a round --------------------------------------------------------------------------------
def start_round() -> None:
    from geolocate import settings
    from geolocate.teach import cases
    from pages._teach import bench_specs, case_of, casebook  # process-wide caches shared with the Cases page

    st.subheader("Start a round (teacher)")
    folder_path = settings.allowed_data_path(settings.default_data_dir())
    specs = [s for s in bench_specs(str(folder_path))] if folder_path else []
    specs = [s for s in specs if s.predictions]
    if not specs:
        st.warning("No benchmarks in the server's data folder: start a round of your own photos below.")
        own_photo_round()
        return
    folder = str(folder_path)
    name = st.selectbox("Benchmark", [s.name for s in specs], key=K.ROUND_BENCH)
    book = casebook(folder, name)
    prefill = st.query_params.get("cases", "")
    title = st.text_input("Title", key=K.ROUND_TITLE, max_chars=120, placeholder="e.g. Workshop, round 1")
    upload = st.file_uploader("…or a small JSON file", type=["json"], key=K.ROUND_JSON, help='{"title": "...", "cases": ["image id", ...]}')
    if K.ROUND_CASES not in st.session_state:
        st.session_state[K.ROUND_CASES] = prefill.replace(",", "\n")[:20000]

    def _random_five():
        st.session_state[K.ROUND_CASES] = "\n".join(random.sample(book.ids, min(5, len(book))))

    st.text_area("Cases: image ids, one per line (or a JSON list)", key=K.ROUND_CASES, height=140, help="From the Cases page, or the URL (?cases=id1,id2).")
    st.button("Pick 5 random photos", on_click=_random_five)
    photo_folder_note(book.ids)
    approval = st.checkbox("I approve each name before it can guess", key=K.ROUND_APPROVAL)
    go = st.button("Start the round", type="primary", key=K.START_ROUND)
    with st.expander("…or a round of your own photos"):
        own_photo_round()
    if not go:
        return
    try:
        text = upload.getvalue().decode("utf-8", errors="replace") if upload is not None else st.session_state[K.ROUND_CASES]
        json_title, ids = cases.read_case_list(text)
        missing = [i for i in ids if i not in set(book.ids)]
        if missing:
            raise ValueError(f"{len(missing)} id(s) not in {name}, e.g. {missing[0][:80]}")
    except ValueError as err:
        st.error("The case list cannot be used:")
        st.code(str(err), language=None)  # built from user text: verbatim, never Markdown
        return
    bar = st.progress(0.0, text="Scoring the models on each photo…")
    summaries = []
    for k, i in enumerate(ids):
        summaries.append(case_of(folder, name, i).summary(SEARCH_BUDGET_KM2))
        bar.progress((k + 1) / len(ids), text=f"Scored {k + 1} of {len(ids)} photos")
    code, key = room().create_round(summaries, title=title or json_title or "", benchmark=name, approval=approval)
    st.session_state.setdefault(K.TEACHER_KEYS, {})[code] = key
    st.query_params.from_dict({"round": code})
    st.rerun()


def photo_folder_note(ids: list[str]) -> None:
    """How many of the benchmark's photos the server can show from its own folder (or how to give it one)."""
    folder, problem = _teach.folder_status()
    if problem:
        st.warning(problem)
    elif folder is None:
        st.caption("Photos: without a photo folder on the server, students' browsers load them from Flickr (not offline). " + _teach.HOW_TO_PROVIDE)
    else:
        n, _ = folder.coverage(ids)
        st.caption(f"Photos: the server's photo folder has {n:,} of this benchmark's {len(ids):,} photos; they are sent from this app, shrunk and without metadata.")


def own_photo_round() -> None:
    """A round of the teacher's own photos: each with its true position (from its EXIF GPS, or typed)."""
    st.caption(
        f"Your photos stay in this server's memory only, shrunk to {teach_photos.MAX_SIDE_PX} px with all metadata "
        f"(GPS position, camera, time) removed before any student sees them. They are deleted when you press "
        f"**Delete the round**, {teach_photos.OWN_PHOTOS_KEEP_S // 3600} hours after the round starts, or when the server "
        "restarts; they are never written to disk or logged. Their positions are only used to score the guesses."
    )
    files = st.file_uploader("Your photos", type=["jpg", "jpeg", "png", "webp", "heic", "heif"], accept_multiple_files=True, key=K.OWN_PHOTOS)
    files = list(files or [])[: teach_photos.OWN_PHOTOS_MAX]
    if not files:
        return
    ready: list[tuple[bytes, tuple[float, float] | None, str]] = []
    for k, f in enumerate(files):
        data = f.getvalue()
        try:
            clean = teach_photos.clean_photo(data)
        except teach_photos.PhotoError as err:
            st.error(f"Photo {k + 1} cannot be used:")
            st.text(f"{f.name[:80]}: {err}")  # the file name is user text: plain
            continue
        gps = teach_photos.exif_gps(data)
        tkey = K.own_latlon_key(k)
        if tkey not in st.session_state and gps is not None:
            st.session_state[tkey] = f"{gps[0]:.5f}, {gps[1]:.5f}"
        c1, c2 = st.columns([1, 3])
        c1.image(clean, width=160)
        text = c2.text_input(f"Photo {k + 1}: where it was taken (latitude, longitude)", key=tkey,
                             help="Filled in from the photo's GPS tags when it has them (the tags are not sent to students).")
        try:
            pos = evidence.parse_latlon(text) if text else None
        except ValueError:
            pos = None
            c2.caption("Not understood: type e.g. 48.85, 2.35")
        ready.append((clean, pos, f.name))
    if not st.button("Start the round with these photos", type="primary", key=K.START_OWN):
        return
    if not ready or any(pos is None for _, pos, _ in ready):
        st.error("Every photo needs its position (latitude, longitude) before the round can start.")
        return
    summaries: list[dict] = [{"image_id": f"photo {k + 1}", "lat": pos[0], "lon": pos[1], "photo_url": None, "scene": {}, "models": {}, "own_photo": True}
                             for k, (_, pos, _) in enumerate(ready) if pos is not None]
    code, key = room().create_round(summaries, title=st.session_state.get(K.ROUND_TITLE) or "Our photos", benchmark="own photos",
                                    approval=bool(st.session_state.get(K.ROUND_APPROVAL)))
    own_photos().put(code, {k: data for k, (data, _, _) in enumerate(ready)})
    st.session_state.setdefault(K.TEACHER_KEYS, {})[code] = key
    st.query_params.from_dict({"round": code})
    st.rerun()


# ---- timer ---------------------------------------------------------------------------------------------------
def timer_html(end: float, size: str = "2.2rem") -> str:
    """A countdown to ``end`` (epoch s) that the browser runs itself (no server reruns every second)."""
    ident = f"timer{int(end * 1000)}"
    return (
        f'<div id="{ident}" data-end="{int(end * 1000)}" style="font-size:{size};font-weight:700;font-variant-numeric:tabular-nums">--:--</div>'
        "<script>(function(){const el=document.getElementById(" + json.dumps(ident) + ");if(!el)return;"
        "const end=Number(el.dataset.end);const tick=()=>{if(!document.body.contains(el)){clearInterval(h);return;}"
        "const s=Math.max(0,Math.round((end-Date.now())/1000));el.textContent=s>0?"
        "('Time left '+String(Math.floor(s/60)).padStart(2,'0')+':'+String(s%60).padStart(2,'0')):'Time is up';};"
        "const h=setInterval(tick,500);tick();})();</script>"
    )


def show_timer(rnd, size: str = "2.2rem") -> None:
    """The round's timer when one runs (teacher and students see the same end time)."""
    if rnd.timer_end is not None and rnd.timer_end > time.time() - 60:
        st.html(timer_html(rnd.timer_end, size), unsafe_allow_javascript=True)


# ---- student ---------------------------------------------------------------------------------------------
# Submitting a guess reruns only the fragment `guesses` (the score, the guess map and form or the reveal):
# no app navigation, title, photo or scene is rerun or resent. Besides the one map it uses light elements
# (metrics, a static table, plain text; no data grid, no syntax-highlighted code block, whose 1.5 MB of
# JavaScript every browser would fetch and compile on its first reveal).
def student_view(rnd) -> None:
    me = st.session_state.get(K.ME, {}).get(rnd.code)
    if me is not None and room().resume(rnd.code, me[1]) != me[0]:
        me = None  # the teacher released or renamed the name
        st.session_state[K.ME].pop(rnd.code, None)
    if me is None:
        # A reload, a new tab or a restarted server: the browser's resume token brings the name back.
        token = _reset.cookie(round_cookie(rnd.code))
        name = room().resume(rnd.code, token)
        if name is not None and token:
            me = (name, token)
            st.session_state.setdefault(K.ME, {})[rnd.code] = me
            mine = room().my_guesses(rnd.code, name, token)
            st.session_state.setdefault(K.CASE_NO, {})[rnd.code] = next((i for i in range(len(rnd.cases)) if i not in mine), len(rnd.cases))
    if me is None:
        if not join_form(rnd, browser_id()):
            return
        me = st.session_state[K.ME][rnd.code]
    name, token = me
    if st.session_state.pop(K.STORE_TOKEN, None) == rnd.code:
        _set_cookie(round_cookie(rnd.code), token, 2 * 86400)
    # A class's browsers often share one machine (a demo) or run on weak laptops: Streamlit fades stale
    # elements and animates its running indicator on every rerun, and thirty pages doing that at once cost
    # more CPU than applying the reveal. A student's page needs neither animation.
    st.html("<style>*, *::before, *::after { animation: none !important; transition: none !important; }</style>")
    st.text(f"Joined as {name}")  # user text: plain, never Markdown
    if rnd.approval and not room().is_approved(rnd.code, name):
        st.info("Waiting for your teacher to approve your name.")
        if st.button("Check again"):
            st.rerun()
        return
    show_timer(rnd)
    current = st.session_state.get(K.CASE_NO, {}).get(rnd.code, 0)
    if current < len(rnd.cases):
        photo_and_scene(rnd, current)
    guesses(rnd, name, token, current)


def join_form(rnd, browser: str) -> bool:
    """The join form; True once this session has joined the round."""
    st.subheader("Join")

    def _join():
        try:
            name, token = room().join(rnd.code, st.session_state.get(K.JOIN_NAME, ""), browser=browser, client=client_address())
        except ClassroomError as err:
            st.session_state[K.JOIN_ERROR] = str(err)
        else:
            st.session_state.setdefault(K.ME, {})[rnd.code] = (name, token)
            st.session_state[K.STORE_TOKEN] = rnd.code

    with st.form("join"):
        st.text_input("Your name (shown on the leaderboard)", max_chars=40, key=K.JOIN_NAME)
        st.form_submit_button("Join", type="primary", on_click=_join)
    err = st.session_state.pop(K.JOIN_ERROR, None)
    if err:
        st.error("Could not join:")
        st.text(err)  # may quote the typed name: verbatim, never Markdown
    return st.session_state.get(K.ME, {}).get(rnd.code) is not None


def case_photo(rnd, i: int) -> bytes | None:
    """Photo ``i`` of a round as this app sends it (shrunk, no metadata): the teacher's own, or from the
    server's photo folder; None when the server has none."""
    c = rnd.public_case(i)
    if c.get("own_photo"):
        return own_photos().get(rnd.code, i)
    return _teach.local_photo(str(c["image_id"]))


def show_case_photo(rnd, i: int, width: Literal["stretch", "content"] | int = "stretch") -> None:
    c = rnd.public_case(i)
    data = case_photo(rnd, i)
    if data is not None:
        st.image(data, width=width)
    elif c.get("own_photo"):
        st.info("This photo is no longer on the server (deleted with the round, after "
                f"{teach_photos.OWN_PHOTOS_KEEP_S // 3600} hours, or at a restart); your teacher shows it.")
    elif _teach.offline() or not c.get("photo_url"):
        st.info("No photo here: this server runs offline (GEOLOCATE_OFFLINE=1) or privacy mode is on, and it has no photo folder "
                "with this photo; your teacher shows the photos." if _teach.offline() else "No photo address for this case.")
    else:
        st.image(c["photo_url"], caption="Loaded by your browser from Flickr.", width=width)


def photo_and_scene(rnd, current: int) -> None:
    c = rnd.public_case(current)
    st.subheader(f"Photo {current + 1} of {len(rnd.cases)}")
    left, right = st.columns([1, 1])
    with left:
        show_case_photo(rnd, current)
    with right:
        if c.get("scene"):
            # Progress bars, not a data grid: thirty students' browsers render this at once.
            for cls, p in c["scene"].items():
                st.progress(min(max(float(p), 0.0), 1.0), text=f"{cls}: {float(p):.0%}")
            st.caption("What a scene classifier saw in the photo.")


def _valid(lat: float, lon: float) -> bool:
    return -90 <= lat <= 90 and -180 <= lon <= 180


def pick_on_map(rnd, current: int) -> None:
    """The click-to-guess world map (borders and city names only) and a place search; both fill the guess box."""
    tkey = K.guess_text_key(current)
    try:
        typed = evidence.parse_latlon(st.session_state.get(tkey, "")) if st.session_state.get(tkey) else None
    except ValueError:
        typed = None
    _teach.place_search(tkey, key=f"{K.PLACE_QUERY}_{current}")
    # One map per photo (its own key): a photo's map starts with no click, so a click on the previous
    # photo's map is never taken for this one.
    click = _deckmap.draw(mapdata.empty_map(), camera.WORLD_VIEW, repr(("pick", rnd.code, current)), key=f"class_map_{current}", height=340, guess=typed, click=True)
    picks: dict = st.session_state.setdefault(K.CLASS_PICKS, {})
    if click is not None and picks.get((rnd.code, current)) != click.get("n"):
        picks[(rnd.code, current)] = click.get("n")
        lat, lon = float(click["lat"]), float(click["lon"])
        if _valid(lat, lon):
            st.session_state[tkey] = f"{lat:.4f}, {lon:.4f}"
            st.rerun(scope="fragment")
    st.caption("Click the map to place your guess (pink), search a place, or type it below.")


@st.fragment
def guesses(rnd, name: str, token: str, current: int) -> None:
    """The student's score, then the guess map and form for photo ``current`` or its reveal (or the end of the round)."""
    if st.session_state.get(K.PENDING_GUESS, {}).get((rnd.code, current)) is not None:
        retry_pending(rnd.code, name, token, current)  # a guess the store could not take yet
        return
    try:
        mine = room().my_guesses(rnd.code, name, token)
    except StoreUnavailable:
        st.warning(UNAVAILABLE)  # a fragment's rerun: the page's own handler does not see it
        if st.button("Try again"):
            st.rerun()
        return
    n = len(rnd.cases)
    # The session score; also makes the browser load the metric element's code before the first reveal.
    st.metric(f"Your mean points ({len(mine)} of {n} photos guessed)", f"{sum(g.points for g in mine.values()) / len(mine):.0f} / 100" if mine else "–")
    if current >= n:
        st.success(f"All {n} photos guessed.")
        if not rnd.revealed and room().can_see_leaderboard(rnd.code, name, token):  # after a reveal it is shown below
            st.subheader("Leaderboard")
            leaderboard(rnd.code)
            if st.button("Refresh"):
                st.rerun()  # the whole page: it also shows the teacher's reveal once it has happened
        return
    g = mine.get(current)
    if g is None:
        pick_on_map(rnd, current)

        def _submit():
            # Runs before the fragment, so the rerun that follows shows the reveal and no form.
            try:
                guess = evidence.parse_latlon(st.session_state.get(K.guess_text_key(current), ""))
                budget = st.session_state[K.guess_budget_key(current)] if st.session_state.get(K.guess_use_budget_key(current)) else None
            except ValueError as err:
                st.session_state[K.GUESS_ERROR] = str(err)
                return
            send_guess(rnd.code, name, token, current, guess, budget)

        with st.form(f"guess_{current}"):
            st.text_input("Your guess: latitude, longitude", key=K.guess_text_key(current), placeholder="e.g. 48.85, 2.35")
            st.checkbox("Add a search budget", key=K.guess_use_budget_key(current))
            st.select_slider("Search budget (disc around the guess)", options=BUDGETS, value=1e4, format_func=fmt.format_km2, key=K.guess_budget_key(current))
            st.form_submit_button("Submit guess", type="primary", on_click=_submit)
        err = st.session_state.pop(K.GUESS_ERROR, None)
        if err:
            st.error("Guess not recorded:")
            st.text(err)  # may quote the typed text: verbatim, never Markdown
        return
    reveal(rnd, current, g)
    # A form's button: its code is already in the browser (the guess form's), a plain button's is not.
    with st.form(f"next_{current}", border=False):
        go = st.form_submit_button("Next photo" if current + 1 < n else "Finish", type="primary")
    if go:
        st.session_state.setdefault(K.CASE_NO, {})[rnd.code] = current + 1
        st.rerun()  # the whole page: the next photo (or the end of the round)


def send_guess(code: str, name: str, token: str, case_no: int, guess: tuple[float, float], budget: float | None) -> bool:
    """Submit a guess; when the store is unavailable it is kept in the session and sent again later."""
    try:
        room().submit(code, name, token, case_no, guess, budget)
    except StoreUnavailable:
        st.session_state.setdefault(K.PENDING_GUESS, {})[(code, case_no)] = (guess, budget)
        return False
    except ClassroomError as err:
        st.session_state.get(K.PENDING_GUESS, {}).pop((code, case_no), None)
        if "already guessed" not in str(err):  # an earlier try got through: the reveal follows
            st.session_state[K.GUESS_ERROR] = str(err)
        return True
    st.session_state.get(K.PENDING_GUESS, {}).pop((code, case_no), None)
    return True


@st.fragment(run_every=3)
def retry_pending(code: str, name: str, token: str, case_no: int) -> None:
    """A kept guess, sent again every 3 s until the store takes it; then the page shows its reveal."""
    item = st.session_state.get(K.PENDING_GUESS, {}).get((code, case_no))
    if item is None or send_guess(code, name, token, case_no, *item):
        st.rerun(scope="app")
    st.warning(UNAVAILABLE)
    st.text(f"Your guess ({item[0][0]:.4f}, {item[0][1]:.4f}) is kept and sent again every few seconds; do not close this page.")


def reveal_map(case: dict, guesses: list[tuple[float, float, str]], key: str, cam_key: str, guess: tuple[float, float] | None = None, height: int = 380) -> None:
    """The GeoGuessr-style map: the truth (green), a line from each guess to it labelled with the name and
    distance, the guesses (pink, name on hover) and the ensemble's search area outlined, on the basemap."""
    truth = (float(case["lat"]), float(case["lon"]))
    lines = teach_reveal.guess_lines(truth, guesses)
    # Framed for the map as drawn (about 600 px wide in a student's column, ``height`` tall): both ends show.
    cam = camera.fit_view(np.array([truth[0]] + [p[0] for p in guesses]), np.array([truth[1]] + [p[1] for p in guesses]), pad_deg=5.0,
                          width_px=600, height_px=height)
    options: dict = {"marker": truth, "height": height}
    if guess is not None:
        options["guess"] = guess
    else:
        options["points"] = guesses  # names are user text: the map shows them as plain-text labels only
    if lines_supported():
        options["lines"] = lines
    _deckmap.draw(teach_reveal.search_area_map(case.get("search_area") or []), cam, cam_key, key=key, **options)
    area = case.get("search_budget_km2")
    st.caption("Green: the true location; pink: " + ("your guess" if guess is not None else "each guess (hover for the name)")
               + "; each line is labelled with its distance" + (f"; cyan outline: the ensemble's most likely regions within {fmt.format_km2(area)}." if area and case.get("search_area") else "."))


def lines_supported() -> bool:
    """Whether this version of the map spec draws lines (``lines`` in MapOptions)."""
    from geolocate.maps import spec as mapspec

    return "lines" in getattr(mapspec.MapOptions, "__annotations__", {})


def comparison_table(case: dict, people: list[dict], light: bool) -> None:
    """Each model's and each person's area to truth and distance, smallest area first (plain text cells)."""
    df = teach_reveal.comparison(case.get("models", {}), people, case.get("distances"))
    if light:  # a student's page: a static table (no data grid for thirty browsers to load)
        out = pd.DataFrame({
            "rank": df["rank"], "who": df["who"].str.slice(0, 40), "kind": df["kind"],
            "area to truth": [fmt.format_km2(a) for a in df["area_km2"]],
            "distance": ["–" if not np.isfinite(d) else teach_reveal.distance_text(d) for d in df["distance_km"]],
        }).set_index("rank")
        st.table(out)
    else:
        st.dataframe(df.rename(columns={"area_km2": "area to truth, km²", "distance_km": "distance, km"}), hide_index=True,
                     column_config={"area to truth, km²": st.column_config.NumberColumn(format="compact"), "distance, km": st.column_config.NumberColumn(format="%.0f")},
                     height=36 * (len(df) + 1) + 3 if len(df) <= 30 else "auto")


def reveal(rnd, current: int, g) -> None:
    """A student's own reveal: the distance and area, a map with the line from the guess to the truth, and
    the comparison with every model."""
    case = rnd.cases[current]
    st.subheader("Reveal", anchor="reveal")
    row = st.container(horizontal=True)  # one block for the four metrics (two rows of columns were ten elements)
    row.metric("Distance", f"{g.distance_km:,.1f} km")
    row.metric("Your area to truth", fmt.format_km2(g.area_km2), help="The smallest disc around your guess that contains the true location.")
    ens = case.get("models", {}).get("ensemble")
    if ens is not None:
        row.metric("Ensemble's area to truth", fmt.format_km2(ens))
    if g.budget_km2 is not None:
        row.metric("Your budget", fmt.format_km2(g.budget_km2), delta="contained the truth" if g.in_budget else "missed the truth", delta_color="normal" if g.in_budget else "inverse")
    else:
        row.metric("Points", f"{g.points:.0f} / 100")
    if ens is not None:
        ratio = max(g.area_km2, 1.0) / max(float(ens), 1.0)  # below 1 km² counts as 1 km², as the points
        st.text(f"You searched {1 / ratio:,.1f}x less area than the ensemble: you beat it." if ratio < 1
                else f"The ensemble searched {ratio:,.1f}x less area than you: it beat you this time.")
    reveal_map(case, [(g.lat, g.lon, "you")], key=f"class_reveal_{current}", cam_key=repr(("reveal", rnd.code, current)), guess=(g.lat, g.lon), height=340)
    comparison_table(case, [{"name": "you", "kind": "you", "area_km2": g.area_km2, "distance_km": g.distance_km}], light=True)


# ---- teacher view of a running round ---------------------------------------------------------------------
def join_link(rnd) -> str:
    return base_url() + "?" + urlencode({"round": rnd.code})


def join_card(rnd, big: bool) -> None:
    """The join code in large type, a QR code of the students' link (made on this server, offline) and the link."""
    link = join_link(rnd)
    left, right = st.columns([2, 3] if big else [1, 3])
    left.image(projector.qr_png(link), width="stretch" if big else 180, caption="Scan to join", output_format="PNG")  # sharp edges: no JPEG
    with right:
        # The code is made of the server's own alphabet (no user text); escaped all the same.
        size = "min(7vw, 6.5rem)" if big else "3.2rem"
        st.html(f'<div style="font-size:{size};font-weight:800;letter-spacing:.12em;font-family:monospace;line-height:1.1" '
                f'data-testid="join-code">{html.escape(projector.spaced_code(rnd.code))}</div>')
        st.markdown("Students open this link (or this page and the code):")
        st.code(link, language=None)
        show_timer(rnd, "min(8vw, 5rem)" if big else "2.2rem")


def timer_controls(rnd, key: str) -> None:
    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    minutes = c1.number_input("Round timer (minutes)", min_value=0.5, max_value=120.0, value=3.0, step=0.5, key=K.TIMER_MINUTES)
    if c2.button("Start the timer", key="timer_start"):
        room().set_timer(rnd.code, key, minutes * 60)
        st.rerun()
    if rnd.timer_end is not None and c3.button("Stop the timer", key="timer_stop"):
        room().set_timer(rnd.code, key, None)
        st.rerun()


def teacher_view(rnd, key: str) -> None:
    if _reset.cookie(teacher_cookie(rnd.code)) != key and not st.session_state.get(f"_teacher_cookie_{rnd.code}"):
        # The browser keeps the key for this round: a reload in front of the class keeps the teacher in control.
        st.session_state[f"_teacher_cookie_{rnd.code}"] = True
        _set_cookie(teacher_cookie(rnd.code), key, TEACHER_COOKIE_DAYS * 86400)
    big = st.toggle("Projector view (large code, QR code and timer; hides your controls)", key=K.PROJECTOR)
    join_card(rnd, big)
    if big:
        st.subheader("Photo on the screen")
        i = st.selectbox("Photo", list(range(len(rnd.cases))), format_func=lambda k: f"{k + 1} of {len(rnd.cases)}", key="projected_photo")
        show_case_photo(rnd, i, width=900)
        return
    st.subheader("Teacher")
    # The board is projected: the key is never shown (a password field; its eye shows it on this screen only).
    st.text_input("Your teacher link (hidden: copy it from here, keep it private)", value=base_url() + "?" + urlencode({"round": rnd.code, "teacher": key}),
                  type="password", key=K.TEACHER_LINK)
    st.caption(f"Keep this link: it gives you this round's controls on any device. This browser also remembers them for "
               f"{TEACHER_COOKIE_DAYS} days, so reloading this page keeps you in control; the students' link never does.")
    timer_controls(rnd, key)

    @st.fragment(run_every=5)
    def live():
        try:
            live_board()
        except StoreUnavailable as err:
            st.error(UNAVAILABLE)
            st.text(err.detail)

    def live_board():
        problem = room().problem
        if problem is not None and time.time() - problem[0] < 600:
            st.error(f"The classroom store reported a problem at {time.strftime('%H:%M:%S', time.localtime(problem[0]))}:")
            st.text(problem[1])  # what happened and what to do (no path: that is in the server log)
        students = room().students(rnd.code)
        guesses = room().all_guesses(rnd.code, key)
        per_case = pd.Series([g.case_no for g in guesses]).value_counts().reindex(range(len(rnd.cases)), fill_value=0)
        st.metric("Students joined", len(students))
        st.caption("Guesses per photo: " + ", ".join(f"#{i + 1}: {n}" for i, n in per_case.items()))
        if rnd.approval:
            waiting = room().pending(rnd.code, key)
            if waiting:
                st.text("Waiting for approval: " + ", ".join(waiting))  # names: plain text
        st.subheader("Leaderboard")
        leaderboard(rnd.code)

    live()
    manage_names(rnd, key)
    if not rnd.revealed:
        if st.button("Reveal the round to everyone", help="Opens the leaderboard and every guess to all students."):
            room().reveal(rnd.code, key)
            st.rerun()
    else:
        st.success("Revealed: students see the leaderboard and everyone's guesses.")
    show_guesses(rnd, key)
    with st.expander("Delete the round"):
        st.caption("Deletes the round, its students and guesses" + (", and your photos" if rnd.benchmark == "own photos" else "") + ". This cannot be undone.")
        if st.button("Delete the round now", key="delete_round"):
            room().delete_round(rnd.code, key)
            own_photos().drop(rnd.code)
            st.session_state.get(K.TEACHER_KEYS, {}).pop(rnd.code, None)
            _set_cookie(teacher_cookie(rnd.code), "", 0)
            st.query_params.clear()
            st.rerun()


def manage_names(rnd, key: str) -> None:
    """The teacher approves, releases or renames a name (released: its next join takes it over, guesses kept)."""
    names = room().students(rnd.code)
    if not names:
        return
    with st.expander("Names: approve, release, rename"):
        who = st.selectbox("Student", names, key=K.MANAGE_NAME)
        new = st.text_input("New name", key=K.MANAGE_NEW, max_chars=40)
        cols = st.columns(3)
        try:
            if rnd.approval and cols[0].button("Approve", key="manage_approve"):
                room().approve(rnd.code, key, who)
                st.rerun()
            if cols[1].button("Release the name", key="manage_release", help="The student's browser loses it; the next student to join with it gets it, with its guesses."):
                room().release(rnd.code, key, who)
                st.rerun()
            if cols[2].button("Rename", key="manage_rename") and new:
                room().rename(rnd.code, key, who, new)
                st.rerun()
        except StoreUnavailable:
            raise
        except ClassroomError as err:
            st.error("Not done:")
            st.text(str(err))  # quotes names: plain text


def show_guesses(rnd, key: str | None, me: tuple[str, str] | None = None) -> None:
    try:
        guesses = room().all_guesses(rnd.code, key, *(me or (None, None)))
    except StoreUnavailable:
        raise
    except ClassroomError:
        return
    if not guesses:
        return
    with st.expander("Every guess on a map", expanded=rnd.revealed):
        shown = sorted({g.case_no for g in guesses})  # a student sees only the photos they guessed
        i = st.selectbox("Photo", shown, format_func=lambda k: f"{k + 1}", key=K.GUESS_MAP_CASE)
        c = rnd.cases[i]
        pts = [(g.lat, g.lon, g.name) for g in guesses if g.case_no == i]
        reveal_map(c, pts, key="guess_map", cam_key=repr(("guesses", rnd.code, i)))
        people = [{"name": g.name, "area_km2": g.area_km2, "distance_km": g.distance_km} for g in guesses if g.case_no == i]
        st.markdown("**Every model and every student on this photo** (smallest area to truth first)")
        comparison_table(c, people, light=key is None)


# ---- page ------------------------------------------------------------------------------------------------


def teacher_key_for(code: str) -> str | None:
    """The teacher key this visit holds for a round: from the address (the teacher link), this session, or
    the teacher's browser (the cookie set when the teacher first opened the round); None for a student."""
    for key in (st.query_params.get("teacher"), st.session_state.get(K.TEACHER_KEYS, {}).get(code), _reset.cookie(teacher_cookie(code))):
        if key and room().is_teacher(code, key):
            return key
    return None


def page() -> None:
    """The page: a code form and the teacher's start form, or a round's teacher or student view."""
    code = (st.query_params.get("round") or "").strip().upper()[:12]
    if not code:
        with st.form("enter_code"):
            typed = st.text_input("Round code (from your teacher)", max_chars=12, key=K.CODE_IN)
            if st.form_submit_button("Go"):
                st.query_params.from_dict({"round": typed.replace(" ", "").strip().upper()})
                st.rerun()
        start_round()
        return
    try:
        rnd = room().get_round(code)
    except StoreUnavailable:
        raise
    except ClassroomError:
        st.error("No round with this code: check it with your teacher.")
        return
    st.header(f"Round {rnd.code}", anchor=False)
    if rnd.title:
        st.text(rnd.title)  # the teacher's text: plain, never Markdown
    key = teacher_key_for(rnd.code)
    if key is not None:
        st.session_state.setdefault(K.TEACHER_KEYS, {})[rnd.code] = key
        if "teacher" in st.query_params:
            del st.query_params["teacher"]  # the projected address bar does not show the key either
        teacher_view(rnd, key)
    else:
        student_view(rnd)
        if rnd.revealed:
            me = st.session_state.get(K.ME, {}).get(rnd.code)
            st.subheader("Leaderboard")
            leaderboard(rnd.code)
            show_guesses(rnd, None, me)


_reset.notice_if_reset()
_reset.show_notice()
try:
    page()
except StoreUnavailable as err:
    # A plain message for everyone (no traceback, no path); the teacher's page says what happened and what to do.
    st.error(UNAVAILABLE)
    if st.query_params.get("teacher") or st.session_state.get(K.TEACHER_KEYS):
        st.text(err.detail)
