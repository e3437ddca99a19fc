"""Classroom store: rounds, joining, scoring on the server, who may see what, leaderboard order, and
concurrent writers (threads and processes) on one round."""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from geolocate.teach.classroom import Classroom, ClassroomError, clean_name, default_path

# Two cases with hand-solved scores: 1° of longitude on the equator is 111.195 km (cap 38,842.75 km²);
# 1° of latitude anywhere is the same 111.195 km.
CASES = [
    {"image_id": "a.jpg", "lat": 0.0, "lon": 0.0, "photo_url": None, "scene": {"urban": 1.0}, "models": {"ensemble": 1e5}},
    {"image_id": "b.jpg", "lat": 45.0, "lon": 7.0, "photo_url": None, "scene": {}, "models": {"ensemble": 5e3}},
]


@pytest.fixture
def room(tmp_path):
    return Classroom(tmp_path / "c.sqlite3")


def test_database_location_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOLOCATE_CLASSROOM_DB", str(tmp_path / "x" / "rounds.db"))
    assert default_path() == tmp_path / "x" / "rounds.db"
    Classroom()
    con = sqlite3.connect(tmp_path / "x" / "rounds.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_round_scoring_and_visibility(room):
    code, key = room.create_round(CASES, title="Week 1", benchmark="toy")
    assert len(code) == 6 and room.is_teacher(code, key) and not room.is_teacher(code, "guess")
    rnd = room.get_round(code.lower())  # codes are typed by people: case-insensitive
    assert rnd.title == "Week 1" and "lat" not in rnd.public_case(0)
    ann, tok_a = room.join(code, "  Ann  ")
    assert ann == "Ann"
    bob, tok_b = room.join(code, "Bob")
    with pytest.raises(ClassroomError, match="taken"):
        room.join(code, "Ann")
    assert room.join(code, "Ann", tok_a) == ("Ann", tok_a)  # same session re-joins
    g = room.submit(code, "Ann", tok_a, 0, (0.0, 1.0), budget_km2=4e4)
    assert g.distance_km == pytest.approx(111.195, abs=1e-3) and g.area_km2 == pytest.approx(38842.75, abs=0.05) and g.in_budget
    with pytest.raises(ClassroomError, match="already guessed"):
        room.submit(code, "Ann", tok_a, 0, (0.0, 0.0))
    with pytest.raises(ClassroomError, match="join the round first"):
        room.submit(code, "Ann", tok_b, 1, (0.0, 0.0))
    with pytest.raises(ClassroomError, match="latitude"):
        room.submit(code, "Bob", tok_b, 0, (95.0, 0.0))
    # Before the reveal: Ann has not finished, Bob has not guessed; neither sees the leaderboard or others' guesses.
    assert not room.can_see_leaderboard(code, "Ann", tok_a)
    with pytest.raises(ClassroomError, match="after the teacher reveals"):
        room.all_guesses(code)
    assert room.can_see_leaderboard(code, None, None, key)
    room.submit(code, "Ann", tok_a, 1, (46.0, 7.0))
    assert room.can_see_leaderboard(code, "Ann", tok_a) and not room.can_see_leaderboard(code, "Bob", tok_b)
    room.submit(code, "Bob", tok_b, 0, (0.0, 0.5))  # 55.6 km: a quarter of Ann's area on case 1
    with pytest.raises(ClassroomError, match="teacher"):
        room.reveal(code, "not the key")
    room.reveal(code, key)
    assert room.can_see_leaderboard(code, "Bob", tok_b) and len(room.all_guesses(code)) == 3
    by_area = room.leaderboard(code)
    assert [r["name"] for r in by_area] == ["Bob", "Ann"] and [r["rank"] for r in by_area] == [1, 2]
    assert by_area[0]["median_distance_km"] == pytest.approx(111.195 / 2, abs=1e-3)
    assert by_area[1]["guessed"] == 2 and by_area[1]["median_distance_km"] == pytest.approx(111.195, abs=1e-3)  # both of Ann's are 1°
    assert [r["name"] for r in room.leaderboard(code, by="distance")] == ["Bob", "Ann"]


def test_names_and_codes_are_checked(room):
    assert clean_name("Ann\x00\u200b Lee\n") == "Ann Lee"
    with pytest.raises(ClassroomError, match="enter a name"):
        clean_name(" \t ")
    with pytest.raises(ClassroomError, match="at most 40"):
        clean_name("x" * 41)
    with pytest.raises(ClassroomError, match="no round"):
        room.get_round("ZZZZZZ")
    with pytest.raises(ClassroomError, match="not a position"):
        room.create_round([{"image_id": "x", "lat": math.nan, "lon": 0.0}])


# A separate process per student: `python -c` rather than multiprocessing, whose spawned children re-run
# the parent's __main__ (after an AppTest in the same pytest process, that is a page script).
STUDENT = """
import sys
from geolocate.teach.classroom import Classroom
path, code, i = sys.argv[1], sys.argv[2], int(sys.argv[3])
room = Classroom(path)
name, tok = room.join(code, f"p{i:02d}")
for k in range(2):
    room.submit(code, name, tok, k, (float(i % 10), float(k)))
"""


def test_threads_and_processes_write_one_round(tmp_path):
    path = tmp_path / "c.sqlite3"
    room = Classroom(path)
    code, key = room.create_round(CASES)

    def thread_student(i):
        name, tok = room.join(code, f"t{i:02d}")
        for k in range(2):
            room.submit(code, name, tok, k, (0.0, float(i % 5)))

    repo = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", STUDENT, str(path), code, str(i)], cwd=repo, env=dict(os.environ, PYTHONPATH=str(repo))) for i in range(6)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(thread_student, range(24)))
    for p in procs:
        assert p.wait(120) == 0
    board = room.leaderboard(code)
    assert len(board) == 30 and all(r["guessed"] == 2 for r in board)
    assert len(room.all_guesses(code, key)) == 60
    t07 = next(r for r in board if r["name"] == "t07")  # guessed (0, 2) for both cases
    # Case 1, truth (0, 0): 2° of longitude on the equator = 222.39 km; case 2, truth (45, 7): haversine by hand.
    d2 = 2 * 6371.0088 * math.asin(math.sqrt(math.sin(math.radians(45) / 2) ** 2 + math.cos(math.radians(45)) * math.sin(math.radians(5) / 2) ** 2))
    assert t07["median_distance_km"] == pytest.approx((222.390 + d2) / 2, abs=1e-2)


def test_connections_are_pooled_and_a_refused_request_leaves_no_transaction(tmp_path):
    from geolocate.teach.classroom import POOL_SIZE

    path = tmp_path / "c.sqlite3"
    room = Classroom(path)
    code, _ = room.create_round(CASES)
    name, tok = room.join(code, "Ann")
    room.submit(code, name, tok, 0, (0.0, 1.0))
    with pytest.raises(ClassroomError, match="already guessed"):
        room.submit(code, name, tok, 0, (0.0, 2.0))  # refused inside the write transaction
    assert room._pool.qsize() == 1  # one connection, reused and back in the pool with no open transaction
    assert Path(str(path) + "-wal").exists()  # kept open: no checkpoint-and-delete of the log after each call
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: room.join(code, f"p{i:02d}"), range(40)))
    assert 1 <= room._pool.qsize() <= POOL_SIZE
    assert len(room.students(code)) == 41 and room.my_guesses(code, name, tok)[0].lon == 1.0
    room.close()
    assert room._pool.qsize() == 0 and len(Classroom(path).leaderboard(code)) == 1
