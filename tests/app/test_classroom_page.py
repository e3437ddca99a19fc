"""AppTest of the Classroom page: a teacher starts a round from a case list, students join and guess,
each sees only their own reveal, the leaderboard opens after the last guess and ranks by median area."""

from __future__ import annotations

import pytest
from apphelpers import PAGES, map_spec
from streamlit.testing.v1 import AppTest

from geolocate.teach.classroom import Classroom

CASES = [
    {"image_id": "a.jpg", "lat": 0.0, "lon": 0.0, "photo_url": "https://live.staticflickr.com/1/2_ab.jpg", "scene": {"urban": 0.7, "natural": 0.2, "indoor": 0.1}, "models": {"ensemble": 1e5, "m": 5e6}},
    {"image_id": "b.jpg", "lat": 45.0, "lon": 7.0, "photo_url": None, "scene": {}, "models": {"ensemble": 5e3}},
]


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOLOCATE_CLASSROOM_DB", str(tmp_path / "rounds.sqlite3"))
    monkeypatch.setenv("GEOLOCATE_OFFLINE", "1")
    return Classroom(tmp_path / "rounds.sqlite3")


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _student(code: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / "classroom.py"), default_timeout=60)
    at.query_params["round"] = code
    return _run(at)


def _join(at: AppTest, name: str) -> None:
    at.text_input(key="join_name").input(name)
    at.button[0].click()  # the join form's submit button
    _run(at)


def _guess(at: AppTest, case: int, text: str, budget: float | None = None) -> dict:
    at.text_input(key=f"g_text_{case}").input(text)
    if budget is not None:
        at.checkbox(key=f"g_usebudget_{case}").check()
        at.select_slider(key=f"g_budget_{case}").set_value(budget)
    next(b for b in at.button if b.label == "Submit guess").click()
    _run(at)
    return {m.label: m for m in at.metric}


def test_students_guess_and_the_board_opens_after_the_last_photo(db):
    code, key = db.create_round(CASES, title="*Week* 1", benchmark="toy")
    ann = _student(code)
    assert ann.header[0].value == f"Round {code}"
    assert any(t.value == "*Week* 1" for t in ann.text)  # the teacher's title as plain text
    _join(ann, "Ann")
    assert any("offline" in i.value for i in ann.info)  # no photo offline, with the reason
    # A student's page switches off Streamlit's animations (thirty pages animating cost more CPU than the reveal).
    assert any("animation: none !important" in h.proto.body for h in ann.get("html"))
    m = _guess(ann, 0, "0, 1", budget=5.6e4)
    assert m["Distance"].value == "111.2 km"  # 1° on the equator
    assert m["Your area to truth"].value == "38,843 km²"  # 2 pi R² (1 - cos 1°)
    assert m["Your budget"].delta == "contained the truth"
    assert m["Ensemble's area to truth"].value == "100,000 km²"
    assert any(t.value.startswith("You searched 2.6x less area than the ensemble: you beat it") for t in ann.text)  # 1e5 / 38,843
    assert not any(d.proto.id == "leaderboard" for d in ann.dataframe) and len(ann.dataframe) <= 2
    # The reveal map: a line from the guess to the truth labelled with the distance, the truth and the guess.
    spec = map_spec(ann)
    assert spec["marker"] == [0.0, 0.0] and spec["guess"] == [0.0, 1.0]
    if "lines" in spec:  # the map component draws lines (geolocate.maps.spec)
        assert spec["lines"] == [[0.0, 1.0, 0.0, 0.0, "you: 111 km"]]
    # The comparison table: you and every model, smallest area first (a static table: light for the class).
    table = ann.table[0].value
    assert table["who"].tolist() == ["you", "ensemble", "m"] and table["area to truth"].tolist()[0] == "38,843 km²"
    bob = _student(code)
    _join(bob, "Ann")
    assert any("taken" in t.value for t in bob.text)  # verbatim text, never Markdown
    _join(bob, "Bob")
    _guess(bob, 0, "0, 0.5")
    next(b for b in bob.button if b.label == "Next photo").click()
    _run(bob)
    assert "Photo 2 of 2" in [s.value for s in bob.subheader]
    m = _guess(bob, 1, "45, 7")
    assert m["Distance"].value == "0.0 km"
    next(b for b in bob.button if b.label == "Finish").click()
    _run(bob)
    board = bob.dataframe[-1].value
    assert board["name"].tolist() == ["Bob", "Ann"]  # Bob's median area is smaller (he finished; Ann has one guess)
    assert board["guessed"].tolist() == [2, 1]
    # Ann, still on photo 1 of 2, has no leaderboard and cannot see Bob's guesses.
    _run(ann)
    assert "Leaderboard" not in [s.value for s in ann.subheader]


def test_bad_guess_and_unknown_round_are_messages(db):
    code, _ = db.create_round(CASES)
    at = _student(code)
    _join(at, "Cy")
    _guess(at, 0, "nowhere")
    assert at.error and "not recorded" in at.error[0].value
    assert any(t.value.startswith("enter latitude and longitude") for t in at.text)
    at = _student("NOPE42")
    assert at.error and "No round" in at.error[0].value


def test_teacher_starts_a_round_from_a_case_list(db, toy_bench, tmp_path, monkeypatch):
    IDS = toy_bench.ids
    monkeypatch.setenv("GEOLOCATE_DATA_DIR", str(toy_bench.root))
    monkeypatch.setenv("GEOLOCATE_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(PAGES / "classroom.py"), default_timeout=120)
    at.query_params["cases"] = f"{IDS[0]},{IDS[1]}"
    _run(at)
    assert at.text_area(key="round_cases").value == f"{IDS[0]}\n{IDS[1]}"
    at.text_input(key="round_title").input("Demo")
    at.button(key="start_round").click()
    _run(at)
    code = at.query_params["round"]
    code = code[0] if isinstance(code, list) else code
    rnd = db.get_round(code)
    assert [c["image_id"] for c in rnd.cases] == IDS[:2] and rnd.title == "Demo"
    assert (rnd.cases[1]["lat"], rnd.cases[1]["lon"]) == (45.0, 7.0)
    assert {"ensemble", "exact", "off"} <= set(rnd.cases[0]["models"])
    assert at.metric[0].label == "Students joined" and at.metric[0].value == "0"
    # A student joins and guesses; the teacher's board shows them, then the teacher reveals the round.
    st_ = _student(code)
    _join(st_, "Dee")
    _guess(st_, 0, "0, 11")  # the toy's first truth is (0, 10): 111.195 km
    _run(at)
    board = at.dataframe[0].value
    assert board["name"].tolist() == ["Dee"] and board["median distance, km"].iloc[0] == pytest.approx(111.195, abs=1e-3)
    # The teacher's comparison: every model and the student on one table, smallest area to truth first.
    comp = at.dataframe[-1].value
    assert {"ensemble", "exact", "off", "Dee"} <= set(comp["who"]) and comp["area to truth, km²"].is_monotonic_increasing
    dee = comp.set_index("who").loc["Dee"]
    assert dee["kind"] == "student" and dee["distance, km"] == pytest.approx(111.195, abs=1e-3)
    assert comp.set_index("who").loc["off", "distance, km"] == pytest.approx(555.97, abs=0.01)  # the "off" model: 5° south
    # The round stored the ensemble's search area (H3 cells within the budget) for the reveal's outline.
    assert 0 < len(rnd.cases[0]["search_area"]) <= 400
    next(b for b in at.button if b.label.startswith("Reveal the round")).click()
    _run(at)
    assert db.get_round(code).revealed
    assert any("Revealed" in x.value for x in at.success)
    # After the reveal every student sees the board and everyone's guesses on the map.
    _run(st_)
    assert "Leaderboard" in [s.value for s in st_.subheader] and st_.dataframe[-1].value["name"].tolist() == ["Dee"]
    assert not st_.get("deck_gl_json_chart")  # one map backend: the component, with the truth and each guess
    spec = _class_map(st_)  # beside the student's own reveal map
    assert spec["marker"] == [0.0, 10.0] and spec["points"] == [["Dee", 0.0, 11.0]]
    assert spec["density"]["h3"] == "" and spec["borders"]["n"] > 100 and spec["cities"]
    assert spec["outline"]["n"] >= 1  # the ensemble's search area, outlined
    if "lines" in spec:
        assert spec["lines"] == [[0.0, 11.0, 0.0, 10.0, "Dee: 111 km"]]


def _class_map(at: AppTest) -> dict:
    """The spec of the map of everyone's guesses (the one with labelled points)."""
    import json

    specs = [json.loads(el.proto.json_args)["spec"] for el in at.get("component_instance") if el.proto.component_name.endswith("geolocate_map")]
    found = [s for s in specs if s["points"]]
    assert len(found) == 1, f"{len(found)} maps with points of {len(specs)}"
    return found[0]


def test_bad_case_list_is_a_message(db, toy_bench, monkeypatch):
    monkeypatch.setenv("GEOLOCATE_DATA_DIR", str(toy_bench.root))
    at = AppTest.from_file(str(PAGES / "classroom.py"), default_timeout=120)
    _run(at)
    at.text_area(key="round_cases").input("not_a_photo.jpg")
    at.button(key="start_round").click()
    _run(at)
    assert at.error and "cannot be used" in at.error[0].value
    assert "not in toy" in at.code[0].value


@pytest.fixture
def browser_cookies(monkeypatch):
    """The cookies the page's browser sends (AppTest has no browser): a dict the test fills."""
    from streamlit.runtime.context import ContextProxy, StreamlitCookies

    jar: dict[str, str] = {}
    monkeypatch.setattr(ContextProxy, "cookies", property(lambda self: StreamlitCookies(dict(jar))))
    return jar


def _cookie_scripts(at: AppTest) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


def test_a_reload_or_a_restart_brings_the_student_back(db, browser_cookies):
    code, key = db.create_round(CASES)
    at = _student(code)
    bid = at.session_state["_browser_id"]
    assert f"geolocate_browser={bid}" in _cookie_scripts(at)  # a browser id, kept for a year
    _join(at, "Bob2")
    token = db._run(lambda con: con.execute("SELECT token FROM students WHERE name = 'Bob2'").fetchone()[0])
    assert f"geolocate_round_{code}={token}" in _cookie_scripts(at)  # the resume token is kept in the browser, for this round
    _guess(at, 0, "0, 1")
    # A reload (a new session of the same browser; after a server restart too): back to the name and score.
    browser_cookies.update({f"geolocate_round_{code}": token, "geolocate_browser": bid})
    again = _student(code)
    assert any(t.value == "Joined as Bob2" for t in again.text) and "join_name" not in [t.key for t in again.text_input]
    assert "Photo 2 of 2" in [s.value for s in again.subheader]  # on the next photo to guess
    assert "1 of 2 photos guessed" in again.metric[0].label
    # The teacher releases the name: the old browser gets the join form again.
    db.release(code, key, "Bob2")
    _run(again)
    assert "join_name" in [t.key for t in again.text_input]


def test_the_same_browser_joining_again_resumes_its_first_name(db, browser_cookies):
    code, _ = db.create_round(CASES)
    at = _student(code)
    _join(at, "Real")
    browser_cookies["geolocate_browser"] = at.session_state["_browser_id"]  # the round cookie was cleared, the browser id not
    other = _student(code)
    _join(other, "Throwaway")
    assert any(t.value == "Joined as Real" for t in other.text) and db.students(code) == ["Real"]


def test_the_teacher_key_is_never_on_the_projected_board(db):
    code, key = db.create_round(CASES)
    at = AppTest.from_file(str(PAGES / "classroom.py"), default_timeout=60)
    at.query_params.update({"round": code, "teacher": key})
    _run(at)
    assert at.metric[0].label == "Students joined"
    shown = [c.value for c in at.code] + [t.value for t in at.text] + [m.value for m in at.markdown] + [c.value for c in at.caption]
    assert not any(key in v for v in shown)
    link = at.text_input(key="teacher_link")
    assert link.proto.type == link.proto.PASSWORD and key in link.value  # hidden field, for copying
    assert "teacher" not in at.query_params  # nor in the projected address bar


def test_a_locked_store_keeps_the_guess_and_sends_it_later(db, monkeypatch):
    import sqlite3

    from geolocate.teach import classroom as classroom_mod

    monkeypatch.setattr(classroom_mod, "RETRY_S", 0.3)
    monkeypatch.setattr(classroom_mod, "BUSY_TIMEOUT_S", 0.1)
    code, _ = db.create_round(CASES)
    at = _student(code)
    _join(at, "Lee")
    locker = sqlite3.connect(db.path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        at.text_input(key="g_text_0").input("0, 1")
        next(b for b in at.button if b.label == "Submit guess").click()
        _run(at)
        assert [w.value for w in at.warning] == [classroom_mod.UNAVAILABLE]
        assert any("is kept" in t.value for t in at.text) and not at.exception
        assert str(db.path) not in repr([e.value for e in at.error] + [t.value for t in at.text])
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    _run(at)  # the fragment's next tick
    assert {m.label: m for m in at.metric}["Distance"].value == "111.2 km"
    assert len(db.my_guesses(code, "Lee", db._run(lambda con: con.execute("SELECT token FROM students").fetchone()[0]))) == 1


def test_a_corrupt_store_is_a_plain_message(tmp_path, monkeypatch):
    bad = tmp_path / "rounds.sqlite3"
    bad.write_bytes(b"not a database" * 500)
    monkeypatch.setenv("GEOLOCATE_CLASSROOM_DB", str(bad))
    at = AppTest.from_file(str(PAGES / "classroom.py"), default_timeout=60)
    at.query_params["round"] = "ABCDEF"
    _run(at)
    assert [e.value for e in at.error] == ["the classroom store is unavailable: the teacher has been told"]
    assert str(bad) not in repr([t.value for t in at.text])


def test_a_page_moved_to_another_process_is_told_it_was_reset(db, browser_cookies):
    from pages import _reset

    code, _ = db.create_round(CASES)
    assert not _student(code).warning  # a first visit: no notice
    browser_cookies[_reset.COOKIE] = _reset.PROCESS_ID
    assert not _student(code).warning  # a reload on the same process: no notice
    browser_cookies[_reset.COOKIE] = "another-process"
    at = _student(code)
    assert [w.value for w in at.warning] == [_reset.NOTICE]
    assert f"{_reset.COOKIE}={_reset.PROCESS_ID}" in _cookie_scripts(at)


def test_the_teacher_reloads_and_keeps_control_a_student_link_never_does(db, browser_cookies):
    code, key = db.create_round(CASES)
    at = AppTest.from_file(str(PAGES / "classroom.py"), default_timeout=60)
    at.query_params.update({"round": code, "teacher": key})
    _run(at)
    # The teacher's browser is told to keep the key for this round (a cookie), and the key leaves the address.
    assert f"geolocate_teacher_{code}={key}" in _cookie_scripts(at)
    assert not at.markdown or not any("teacher key" in m.value for m in at.markdown)  # no stray docstring drawn by magic
    assert "teacher" not in at.query_params
    assert any("Keep this link" in c.value for c in at.caption)
    # A reload: a new session, the address without the key, the browser's cookie sent with it.
    browser_cookies[f"geolocate_teacher_{code}"] = key
    again = _student(code)
    assert again.metric[0].label == "Students joined"
    assert any(b.label == "Reveal the round to everyone" for b in again.button)
    # A student's link (no cookie), or one with a made-up key or another round's key, is a student's page.
    browser_cookies.clear()
    other_code, other_key = db.create_round(CASES)
    for extra in ({}, {"teacher": "guessed-key"}, {"teacher": other_key}):
        st_ = AppTest.from_file(str(PAGES / "classroom.py"), default_timeout=60)
        st_.query_params.update({"round": code, **extra})
        _run(st_)
        assert not any(b.label.startswith("Reveal the round") for b in st_.button)
        assert "join_name" in [t.key for t in st_.text_input]
        assert "Students joined" not in [m.label for m in st_.metric]
    browser_cookies[f"geolocate_teacher_{code}"] = "not-the-key"
    st_ = _student(code)
    assert not any(b.label.startswith("Reveal the round") for b in st_.button)
    with pytest.raises(Exception, match="only the teacher"):
        db.reveal(code, "not-the-key")
    assert not db.get_round(code).revealed


def _media_bytes(sent: dict[str, bytes], url: str) -> bytes:
    return sent[url.rsplit("/", 1)[-1].split(".")[0]]


def test_projector_view_has_a_large_code_a_qr_code_of_the_join_link_and_a_timer(db, served_media):
    import cv2
    import numpy as np

    code, key = db.create_round(CASES)
    at = AppTest.from_file(str(PAGES / "classroom.py"), default_timeout=60)
    at.query_params.update({"round": code, "teacher": key})
    _run(at)
    # The round timer: started by the teacher, its end stored with the round, counted down by the browser.
    at.number_input(key="timer_minutes").set_value(2.0)
    next(b for b in at.button if b.label == "Start the timer").click()
    _run(at)
    end = db.get_round(code).timer_end
    assert end is not None and 110 < end - __import__("time").time() <= 120
    at.toggle(key="projector").set_value(True)
    _run(at)
    assert any(f'data-end="{int(end * 1000)}"' in h.proto.body and "5rem" in h.proto.body for h in at.get("html"))  # big on the projector
    assert not any(b.label.startswith("Reveal the round") for b in at.button)  # the controls are hidden
    big = [h.proto.body for h in at.get("html") if "join-code" in h.proto.body]
    assert big and f"{code[:3]} {code[3:]}" in big[0] and "6.5rem" in big[0]
    # The QR code (a PNG made on the server) decodes to the students' link.
    qr = next(i for i in at.get("image") if "Scan to join" in i.captions)
    png = _media_bytes(served_media, qr.value[0])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE))
    link = next(c.value for c in at.code)
    assert text == link and text.endswith(f"?round={code}")



def test_students_see_folder_and_own_photos_without_gps(db, tmp_path, monkeypatch, served_media):
    from geolocate.teach import photos
    from tests.teach.test_photos import gps_jpeg

    folder = tmp_path / "case_photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(gps_jpeg(0.0, 0.0, size=(1600, 1200)))
    monkeypatch.setenv("GEOLOCATE_CASE_PHOTOS", str(folder))
    code, _ = db.create_round(CASES)
    at = _student(code)
    _join(at, "Eve")
    img = at.get("image")
    assert len(img) == 1
    sent = _media_bytes(served_media, img[0].value[0])
    assert not photos.has_metadata(sent)["gps"] and photos.exif_gps(sent) is None

    # A round of the teacher's own photos: the position comes from the photo's GPS tags, the students get none.
    monkeypatch.setenv("GEOLOCATE_DATA_DIR", str(tmp_path / "no_benchmarks"))
    (tmp_path / "no_benchmarks").mkdir()
    teacher = AppTest.from_file(str(PAGES / "classroom.py"), default_timeout=60)
    _run(teacher)
    assert any("never written to disk or logged" in m.value for m in teacher.caption)  # the retention rule, shown
    teacher.file_uploader(key="own_photos").set_value([("opera.jpg", gps_jpeg(-33.8568, 151.2153, size=(1200, 900), seed=3), "image/jpeg")])
    _run(teacher)
    assert teacher.text_input(key="own_latlon_0").value == "-33.85680, 151.21530"  # from its EXIF GPS
    teacher.button(key="start_own").click()
    _run(teacher)
    own_code = teacher.query_params["round"]
    own_code = own_code[0] if isinstance(own_code, list) else own_code
    rnd = db.get_round(own_code)
    assert rnd.benchmark == "own photos" and (rnd.cases[0]["lat"], rnd.cases[0]["lon"]) == (-33.8568, 151.2153)
    stu = _student(own_code)
    _join(stu, "Fay")
    sent = _media_bytes(served_media, stu.get("image")[0].value[0])
    assert photos.has_metadata(sent) == {"exif": False, "gps": False, "icc": False, "xmp": False}
    m = _guess(stu, 0, "-33.8568, 151.2153")
    assert m["Distance"].value == "0.0 km"
    # Deleting the round deletes the photos with it.
    _run(teacher)
    teacher.button(key="delete_round").click()
    _run(teacher)
    with pytest.raises(Exception, match="no round"):
        db.get_round(own_code)
    gone = _student(own_code)
    assert gone.error and "No round" in gone.error[0].value
