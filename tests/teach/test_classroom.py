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

from geolocate.teach import classroom as classroom_mod
from geolocate.teach.classroom import UNAVAILABLE, Classroom, ClassroomError, StoreUnavailable, clean_name, default_path, name_skeleton

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
    assert room.can_see_leaderboard(code, "Bob", tok_b) and len(room.all_guesses(code, key)) == 3
    # After the reveal a case's guesses (and so its truth) reach only those who guessed it.
    assert room.all_guesses(code) == []
    assert {(g.name, g.case_no) for g in room.all_guesses(code, name="Bob", token=tok_b)} == {("Ann", 0), ("Bob", 0)}
    assert len(room.all_guesses(code, name="Ann", token=tok_a)) == 3
    by_area = room.leaderboard(code)
    assert [r["name"] for r in by_area] == ["Bob", "Ann"] and [r["rank"] for r in by_area] == [1, 2]
    assert by_area[0]["median_distance_km"] == pytest.approx(111.195 / 2, abs=1e-3)
    assert by_area[1]["guessed"] == 2 and by_area[1]["median_distance_km"] == pytest.approx(111.195, abs=1e-3)  # both of Ann's are 1°
    assert [r["name"] for r in room.leaderboard(code, by="distance")] == ["Bob", "Ann"]


def test_names_and_codes_are_checked(room):
    assert clean_name("Ann\x00 Lee\n") == "Ann Lee"
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


def test_invisible_and_lookalike_names_are_refused(room):
    for bad in ("Alice2\u034f", "\u3164\u3164", "Ann\u200bLee", "Bob\u202e", "\u0301\u0301"):
        with pytest.raises(ClassroomError):
            clean_name(bad)
    assert clean_name("Ｂｏｂ２") == "Bob2"  # NFKC: full-width letters are the plain ones
    assert name_skeleton("Аlice2") == name_skeleton("alice2") == name_skeleton("ALICE2")  # Cyrillic А
    assert name_skeleton("B0b1") == name_skeleton("Bobl")
    code, key = room.create_round(CASES)
    room.join(code, "Alice2")
    for lookalike in ("Аlice2", "alice2", "Alicé2", "Ａlice2"):
        with pytest.raises(ClassroomError, match="looks like|taken"):
            room.join(code, lookalike)
    name, tok = room.join(code, "Bob")
    with pytest.raises(ClassroomError, match="taken"):
        room.rename(code, key, "Bob", "ALICE2")
    assert room.rename(code, key, "Bob", "Robert") == "Robert" and room.resume(code, tok) == "Robert"


def test_resume_token_one_identity_per_browser_release_and_rename(room):
    code, key = room.create_round(CASES)
    name, tok = room.join(code, "Bob2", browser="browser-1")
    room.submit(code, name, tok, 0, (0.0, 1.0))
    # A reload or a restarted server: the browser still has its token.
    assert Classroom(room.path).resume(code, tok) == "Bob2" and room.resume(code, "forged") is None
    # The same browser joining again under another name gets its first identity back.
    assert room.join(code, "Throwaway", browser="browser-1") == ("Bob2", tok)
    assert room.students(code) == ["Bob2"]
    # Another browser cannot take the name; after the teacher releases it, the next join gets it with its score.
    with pytest.raises(ClassroomError, match="taken"):
        room.join(code, "Bob2", browser="browser-2")
    with pytest.raises(ClassroomError, match="teacher"):
        room.release(code, "not the key", "Bob2")
    room.release(code, key, "Bob2")
    assert room.resume(code, tok) is None
    name2, tok2 = room.join(code, "Bob2", browser="browser-2")
    assert name2 == "Bob2" and tok2 != tok and list(room.my_guesses(code, name2, tok2)) == [0]
    room.rename(code, key, "Bob2", "Bob")
    assert room.leaderboard(code)[0]["name"] == "Bob" and room.resume(code, tok2) == "Bob"


def test_approval_rate_limit_and_late_joiners_are_flagged(room, monkeypatch):
    code, key = room.create_round(CASES, approval=True)
    name, tok = room.join(code, "Ann", client="10.0.0.1")
    assert room.pending(code, key) == ["Ann"] and not room.is_approved(code, "Ann")
    with pytest.raises(ClassroomError, match="not approved"):
        room.submit(code, name, tok, 0, (0.0, 1.0))
    room.approve(code, key, "Ann")
    room.submit(code, name, tok, 0, (0.0, 1.0))  # case 1's truth is now revealed to Ann
    late, tok_l = room.join(code, "Late", client="10.0.0.2")
    room.approve(code, key, "Late")
    room.submit(code, late, tok_l, 0, (0.0, 0.0))
    board = {r["name"]: r["late"] for r in room.leaderboard(code)}
    assert board == {"Ann": False, "Late": True}
    monkeypatch.setattr(classroom_mod, "JOINS_PER_MINUTE", 3)
    for i in range(3):
        room.join(code, f"n{i}", client="10.0.0.9")
    with pytest.raises(ClassroomError, match="too many new names"):
        room.join(code, "n9", client="10.0.0.9")
    room.join(code, "other", client="10.0.0.8")  # another address is not limited
    assert name_skeleton("n9") not in {name_skeleton(n) for n in room.students(code)}


def test_store_fails_politely_on_a_lock_a_corrupt_file_a_bad_path_and_a_deleted_file(tmp_path, monkeypatch):
    monkeypatch.setattr(classroom_mod, "RETRY_S", 0.5)
    monkeypatch.setattr(classroom_mod, "BUSY_TIMEOUT_S", 0.1)
    path = tmp_path / "c.sqlite3"
    room = Classroom(path)
    code, _ = room.create_round(CASES)
    name, tok = room.join(code, "Ann")
    # Another program holds the write lock: the write is retried, then a plain message (no path).
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")
    with pytest.raises(StoreUnavailable) as err:
        room.submit(code, name, tok, 0, (0.0, 1.0))
    assert str(err.value) == UNAVAILABLE and str(path) not in str(err.value) and "locked" in err.value.detail
    assert room.problem is not None and "locked" in room.problem[1]
    locker.execute("ROLLBACK")
    locker.close()
    room.submit(code, name, tok, 0, (0.0, 1.0))  # the same guess, retried once the lock is gone
    # A lock released within the retry time is waited out.
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")
    import threading

    threading.Timer(0.2, lambda: locker.execute("ROLLBACK")).start()
    room.submit(code, name, tok, 1, (45.0, 7.0))
    locker.close()
    # A deleted file is noticed on the next use, not silently kept open.
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    with pytest.raises(StoreUnavailable) as err:
        room.get_round(code)
    assert "deleted" in err.value.detail and room._pool.qsize() == 0
    # A corrupt file: refused at start with what to do.
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"this is not a database" * 200)
    with pytest.raises(StoreUnavailable) as err:
        Classroom(bad)
    assert str(err.value) == UNAVAILABLE and "move the file" in err.value.detail
    # An impossible path: a folder that cannot be made.
    with pytest.raises(StoreUnavailable) as err:
        Classroom("/proc/nope/rounds.sqlite3")
    assert "GEOLOCATE_CLASSROOM_DB" in err.value.detail
