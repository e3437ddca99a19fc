"""Classroom: a teacher starts a round of benchmark photos, students join with a name and guess, a
leaderboard ranks them by median area to truth and by distance. Works offline; state lives in one SQLite
file the whole server shares (geolocate.teach.classroom)."""

from __future__ import annotations

import importlib
import json
import os
import random
import secrets
import time
from types import ModuleType
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import streamlit as st

from geolocate import evidence, share
from geolocate.maps import camera, fmt
from geolocate.maps import data as mapdata
from geolocate.teach.classroom import UNAVAILABLE, Classroom, ClassroomError, StoreUnavailable

BUDGETS = share.log_budget_options()


# The helper modules are imported by one thread at a time (cache_resource computes a key once while
# others wait): ten sessions opening this page at once on a fresh process imported them concurrently, and
# some got "cannot import name 'offline' from 'pages._teach'" or "cannot import name '_teach' from 'pages'
# (unknown location)" (pages/ is a namespace package) in the fault-injection run.
@st.cache_resource(show_spinner=False)
def _helpers() -> tuple[ModuleType, ModuleType, ModuleType]:
    return tuple(importlib.import_module(f"pages.{m}") for m in ("_deckmap", "_reset", "_teach"))  # type: ignore[return-value]


_deckmap, _reset, _teach = _helpers()


@st.cache_resource(show_spinner=False)
def _room(path: str) -> Classroom:
    return Classroom(path or None)


def room() -> Classroom:
    return _room(os.environ.get("GEOLOCATE_CLASSROOM_DB", ""))


BROWSER_COOKIE = "geolocate_browser"


def _set_cookie(name: str, value: str, max_age_s: int) -> None:
    """Store a cookie in the browser (values are url-safe tokens and round codes made here, never user text)."""
    st.html(f"<script>document.cookie = {json.dumps(f'{name}={value}; path=/; max-age={max_age_s}; SameSite=Lax')};</script>", unsafe_allow_javascript=True)


def browser_id() -> str:
    """A random id this browser keeps for a year (one classroom identity per browser and round)."""
    bid = st.session_state.get("_browser_id") or _reset.cookie(BROWSER_COOKIE) or ""
    if not bid or len(bid) > 64:
        bid = secrets.token_urlsafe(16)
    if st.session_state.get("_browser_id") != bid:
        st.session_state["_browser_id"] = bid
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
    by = st.radio("Rank by", ["median area to truth", "median distance"], horizontal=True, key="board_by")
    if by == "median distance":
        board = room().leaderboard(code, by="distance")
    df = pd.DataFrame(board, columns=["rank", "name", "guessed", "median_area_km2", "median_distance_km", "points", "late"])
    st.dataframe(
        df.rename(columns={"median_area_km2": "median area to truth, km²", "median_distance_km": "median distance, km", "points": "mean points",
                           "late": "joined after a reveal"}),
        hide_index=True, key="leaderboard", height="content" if len(df) <= 40 else "auto",  # a class fits without scrolling
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
        st.warning("No benchmarks in the server's data folder: a round is made of benchmark photos.")
        return
    folder = str(folder_path)
    name = st.selectbox("Benchmark", [s.name for s in specs], key="round_bench")
    book = casebook(folder, name)
    prefill = st.query_params.get("cases", "")
    title = st.text_input("Title", key="round_title", max_chars=120, placeholder="e.g. Workshop, round 1")
    upload = st.file_uploader("…or a small JSON file", type=["json"], key="round_json", help='{"title": "...", "cases": ["image id", ...]}')
    if "round_cases" not in st.session_state:
        st.session_state["round_cases"] = prefill.replace(",", "\n")[:20000]

    def _random_five():
        st.session_state["round_cases"] = "\n".join(random.sample(book.ids, min(5, len(book))))

    st.text_area("Cases: image ids, one per line (or a JSON list)", key="round_cases", height=140, help="From the Cases page, or the URL (?cases=id1,id2).")
    st.button("Pick 5 random photos", on_click=_random_five)
    approval = st.checkbox("I approve each name before it can guess", key="round_approval")
    if not st.button("Start the round", type="primary", key="start_round"):
        return
    try:
        text = upload.getvalue().decode("utf-8", errors="replace") if upload is not None else st.session_state["round_cases"]
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
        summaries.append(case_of(folder, name, i).summary())
        bar.progress((k + 1) / len(ids), text=f"Scored {k + 1} of {len(ids)} photos")
    code, key = room().create_round(summaries, title=title or json_title or "", benchmark=name, approval=approval)
    st.session_state.setdefault("teacher_keys", {})[code] = key
    st.query_params.from_dict({"round": code})
    st.rerun()


# ---- student ---------------------------------------------------------------------------------------------
# Submitting a guess reruns only the fragment `guesses` (the score, the guess form or the reveal): no app
# navigation, title, photo or scene is rerun or resent. It uses only light elements (metrics, plain text;
# no data grid, no syntax-highlighted code block, whose 1.5 MB of JavaScript every browser would fetch and
# compile on its first reveal), so thirty browsers that submit together each have little to render.
def student_view(rnd) -> None:
    me = st.session_state.get("me", {}).get(rnd.code)
    if me is not None and room().resume(rnd.code, me[1]) != me[0]:
        me = None  # the teacher released or renamed the name
        st.session_state["me"].pop(rnd.code, None)
    if me is None:
        # A reload, a new tab or a restarted server: the browser's resume token brings the name back.
        token = _reset.cookie(round_cookie(rnd.code))
        name = room().resume(rnd.code, token)
        if name is not None and token:
            me = (name, token)
            st.session_state.setdefault("me", {})[rnd.code] = me
            mine = room().my_guesses(rnd.code, name, token)
            st.session_state.setdefault("case_no", {})[rnd.code] = next((i for i in range(len(rnd.cases)) if i not in mine), len(rnd.cases))
    if me is None:
        if not join_form(rnd, browser_id()):
            return
        me = st.session_state["me"][rnd.code]
    name, token = me
    if st.session_state.pop("_store_token", None) == rnd.code:
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
    current = st.session_state.get("case_no", {}).get(rnd.code, 0)
    if current < len(rnd.cases):
        photo_and_scene(rnd, current)
    guesses(rnd, name, token, current)


def join_form(rnd, browser: str) -> bool:
    """The join form; True once this session has joined the round."""
    st.subheader("Join")

    def _join():
        try:
            name, token = room().join(rnd.code, st.session_state.get("join_name", ""), browser=browser, client=client_address())
        except ClassroomError as err:
            st.session_state["_join_error"] = str(err)
        else:
            st.session_state.setdefault("me", {})[rnd.code] = (name, token)
            st.session_state["_store_token"] = rnd.code

    with st.form("join"):
        st.text_input("Your name (shown on the leaderboard)", max_chars=40, key="join_name")
        st.form_submit_button("Join", type="primary", on_click=_join)
    err = st.session_state.pop("_join_error", None)
    if err:
        st.error("Could not join:")
        st.text(err)  # may quote the typed name: verbatim, never Markdown
    return st.session_state.get("me", {}).get(rnd.code) is not None


def photo_and_scene(rnd, current: int) -> None:
    c = rnd.public_case(current)
    st.subheader(f"Photo {current + 1} of {len(rnd.cases)}")
    left, right = st.columns([1, 1])
    with left:
        offline = _teach.offline()
        if offline or not c.get("photo_url"):
            st.info("No photo here: this server runs offline (GEOLOCATE_OFFLINE=1) or privacy mode is on; your teacher shows the photos." if offline else "No photo address for this case.")
        else:
            st.image(c["photo_url"], caption="Loaded by your browser from Flickr.", width="stretch")
    with right:
        if c.get("scene"):
            # Progress bars, not a data grid: thirty students' browsers render this at once.
            for cls, p in c["scene"].items():
                st.progress(min(max(float(p), 0.0), 1.0), text=f"{cls}: {float(p):.0%}")
            st.caption("What a scene classifier saw in the photo.")


@st.fragment
def guesses(rnd, name: str, token: str, current: int) -> None:
    """The student's score, then the guess form for photo ``current`` or its reveal (or the end of the round)."""
    if st.session_state.get("_pending_guess", {}).get((rnd.code, current)) is not None:
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

        def _submit():
            # Runs before the fragment, so the rerun that follows shows the reveal and no form.
            try:
                guess = evidence.parse_latlon(st.session_state.get(f"g_text_{current}", ""))
                budget = st.session_state[f"g_budget_{current}"] if st.session_state.get(f"g_usebudget_{current}") else None
            except ValueError as err:
                st.session_state["_guess_error"] = str(err)
                return
            send_guess(rnd.code, name, token, current, guess, budget)


        with st.form(f"guess_{current}"):
            st.text_input("Your guess: latitude, longitude", key=f"g_text_{current}", placeholder="e.g. 48.85, 2.35")
            st.checkbox("Add a search budget", key=f"g_usebudget_{current}")
            st.select_slider("Search budget (disc around the guess)", options=BUDGETS, value=1e4, format_func=fmt.format_km2, key=f"g_budget_{current}")
            st.form_submit_button("Submit guess", type="primary", on_click=_submit)
        err = st.session_state.pop("_guess_error", None)
        if err:
            st.error("Guess not recorded:")
            st.text(err)  # may quote the typed text: verbatim, never Markdown
        return
    reveal(rnd.cases[current], g)
    # A form's button: its code is already in the browser (the guess form's), a plain button's is not.
    with st.form(f"next_{current}", border=False):
        go = st.form_submit_button("Next photo" if current + 1 < n else "Finish", type="primary")
    if go:
        st.session_state.setdefault("case_no", {})[rnd.code] = current + 1
        st.rerun()  # the whole page: the next photo (or the end of the round)


def send_guess(code: str, name: str, token: str, case_no: int, guess: tuple[float, float], budget: float | None) -> bool:
    """Submit a guess; when the store is unavailable it is kept in the session and sent again later."""
    try:
        room().submit(code, name, token, case_no, guess, budget)
    except StoreUnavailable:
        st.session_state.setdefault("_pending_guess", {})[(code, case_no)] = (guess, budget)
        return False
    except ClassroomError as err:
        st.session_state.get("_pending_guess", {}).pop((code, case_no), None)
        if "already guessed" not in str(err):  # an earlier try got through: the reveal follows
            st.session_state["_guess_error"] = str(err)
        return True
    st.session_state.get("_pending_guess", {}).pop((code, case_no), None)
    return True


@st.fragment(run_every=3)
def retry_pending(code: str, name: str, token: str, case_no: int) -> None:
    """A kept guess, sent again every 3 s until the store takes it; then the page shows its reveal."""
    item = st.session_state.get("_pending_guess", {}).get((code, case_no))
    if item is None or send_guess(code, name, token, case_no, *item):
        st.rerun(scope="app")
    st.warning(UNAVAILABLE)
    st.text(f"Your guess ({item[0][0]:.4f}, {item[0][1]:.4f}) is kept and sent again every few seconds; do not close this page.")


def reveal(case: dict, g) -> None:
    """A student's own reveal: metrics and plain text only (light for thirty browsers at once)."""
    st.subheader("Reveal", anchor="reveal")
    row = st.container(horizontal=True)  # one block for the four metrics (two rows of columns were ten elements)
    row.metric("Distance", f"{g.distance_km:,.1f} km")
    row.metric("Your area to truth", fmt.format_km2(g.area_km2), help="The smallest disc around your guess that contains the true location.")
    ens = case.get("models", {}).get("ensemble")
    if ens is not None:
        row.metric("Ensemble's area to truth", fmt.format_km2(ens), delta="you beat it" if g.area_km2 < ens else "it beat you", delta_color="normal" if g.area_km2 < ens else "inverse")
    if g.budget_km2 is not None:
        row.metric("Your budget", fmt.format_km2(g.budget_km2), delta="contained the truth" if g.in_budget else "missed the truth", delta_color="normal" if g.in_budget else "inverse")
    else:
        row.metric("Points", f"{g.points:.0f} / 100")
    # One plain-text element (model names come from file names: never Markdown), no expander: each element
    # is one more message for thirty browsers to process at the same moment.
    lines = [f"True location: {case['lat']:.4f}, {case['lon']:.4f}", "Area to truth, you and each model:"]
    rows = sorted([("you", g.area_km2)] + [(str(k), float(v)) for k, v in case.get("models", {}).items()], key=lambda r: r[1])
    lines += [f"  {who[:28]:<28} {fmt.format_km2(a):>14}" for who, a in rows]
    st.text("\n".join(lines))


# ---- teacher view of a running round ---------------------------------------------------------------------
def teacher_view(rnd, key: str) -> None:
    st.subheader("Teacher")
    link = base_url() + "?" + urlencode({"round": rnd.code})
    st.markdown("Students open this link (or this page and the code):")
    st.code(link, language=None)
    # The board is projected: the key is never shown (a password field; its eye shows it on this screen only).
    st.text_input("Your teacher link (hidden: copy it from here, keep it private)", value=base_url() + "?" + urlencode({"round": rnd.code, "teacher": key}),
                  type="password", key="teacher_link")

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


def manage_names(rnd, key: str) -> None:
    """The teacher approves, releases or renames a name (released: its next join takes it over, guesses kept)."""
    names = room().students(rnd.code)
    if not names:
        return
    with st.expander("Names: approve, release, rename"):
        who = st.selectbox("Student", names, key="manage_name")
        new = st.text_input("New name", key="manage_new", max_chars=40)
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
        i = st.selectbox("Photo", shown, format_func=lambda k: f"{k + 1}", key="guess_map_case")
        c = rnd.cases[i]
        truth = (float(c["lat"]), float(c["lon"]))
        # Student names are user text: the map shows them as plain-text hover labels only.
        pts = [(g.lat, g.lon, g.name) for g in guesses if g.case_no == i]
        cam = camera.fit_view(np.array([truth[0]] + [p[0] for p in pts]), np.array([truth[1]] + [p[1] for p in pts]), pad_deg=5.0)
        _deckmap.draw(mapdata.empty_map(), cam, repr(("guesses", rnd.code, i)), key="guess_map", height=380, marker=truth, points=pts)
        st.caption("Green: the true location; pink: each guess (hover for the name).")


# ---- page ------------------------------------------------------------------------------------------------
st.title("Classroom")
st.caption("A teacher starts a round of benchmark photos; students join with a name and guess where each was taken. "
           "Each guess is revealed to its author at once; the leaderboard (names and scores only) opens when you have guessed every photo, "
           "and everyone's guesses once the teacher reveals the round.")

def page() -> None:
    """The page: a code form and the teacher's start form, or a round's teacher or student view."""
    code = (st.query_params.get("round") or "").strip().upper()[:12]
    if not code:
        with st.form("enter_code"):
            typed = st.text_input("Round code (from your teacher)", max_chars=12, key="code_in")
            if st.form_submit_button("Go"):
                st.query_params.from_dict({"round": typed.strip().upper()})
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
    key = st.query_params.get("teacher") or st.session_state.get("teacher_keys", {}).get(rnd.code)
    if key and room().is_teacher(rnd.code, key):
        st.session_state.setdefault("teacher_keys", {})[rnd.code] = key
        if "teacher" in st.query_params:
            del st.query_params["teacher"]  # the projected address bar does not show the key either
        teacher_view(rnd, key)
    else:
        student_view(rnd)
        if rnd.revealed:
            me = st.session_state.get("me", {}).get(rnd.code)
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
    if st.query_params.get("teacher") or st.session_state.get("teacher_keys"):
        st.text(err.detail)
