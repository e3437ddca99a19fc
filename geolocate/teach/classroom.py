"""Classroom rounds in one SQLite file that every session and process of a server shares.

A teacher starts a *round*: a fixed list of benchmark cases, each stored with its truth and the models'
areas to truth (computed once, when the round starts, so that students' guesses cost a few database
writes). Students join with a name and guess each case; a guess is scored on the server
(:func:`geolocate.cases.score_guess`) and the student sees their own reveal at once. The leaderboard
(names and scores, never positions) opens to a student who has guessed every case, and to everyone once
the teacher reveals the round; other students' guess positions are only shown after that reveal.

Location: ``GEOLOCATE_CLASSROOM_DB`` (a file path), else ``classroom.sqlite3`` in the user data
directory (``~/.local/share/geolocate`` on Linux). The database runs in WAL mode with a busy timeout;
every write is one short ``BEGIN IMMEDIATE`` transaction on a pooled connection that one thread uses at a
time, so concurrent sessions (threads) and servers (processes) serialise on SQLite's lock instead of on
anything in Python.
"""

from __future__ import annotations

import json
import math
import os
import queue
import secrets
import sqlite3
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .cases import score_guess

BUSY_TIMEOUT_S = 30.0
POOL_SIZE = 8  # open connections kept per store
MAX_NAME = 40
MAX_STUDENTS = 500
ROUND_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud and typed

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rounds (
    code TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    cases TEXT NOT NULL,
    teacher_key TEXT NOT NULL,
    created REAL NOT NULL,
    revealed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS students (
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    token TEXT NOT NULL,
    joined REAL NOT NULL,
    PRIMARY KEY (code, name)
);
CREATE TABLE IF NOT EXISTS guesses (
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    case_no INTEGER NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    budget_km2 REAL,
    distance_km REAL NOT NULL,
    area_km2 REAL NOT NULL,
    points REAL NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (code, name, case_no)
);
"""


class ClassroomError(ValueError):
    """A request the classroom cannot honour; the message is for the user."""


def default_path() -> Path:
    """The database file (see module docstring)."""
    env = os.environ.get("GEOLOCATE_CLASSROOM_DB")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("geolocate")) / "classroom.sqlite3"


@dataclass(frozen=True)
class Round:
    """A round as stored.

    ``cases`` holds, per case, image_id, lat, lon (the truth: server side only), photo_url, scene and
    models (area to truth in km² by model name).
    """

    code: str
    title: str
    benchmark: str
    cases: list[dict]
    created: float
    revealed: bool

    def public_case(self, i: int) -> dict:
        """Case ``i`` without its truth and model scores: what a student may see before guessing."""
        c = self.cases[i]
        return {"image_id": c["image_id"], "photo_url": c.get("photo_url"), "scene": c.get("scene", {})}


@dataclass(frozen=True)
class Guess:
    """One student's guess of one case, scored on the server (distance km, area to truth km², points)."""

    name: str
    case_no: int
    lat: float
    lon: float
    budget_km2: float | None
    distance_km: float
    area_km2: float
    points: float
    in_budget: bool | None


def clean_name(name: str) -> str:
    """A student's display name: trimmed, control characters removed, at most 40 characters."""
    text = unicodedata.normalize("NFC", str(name or ""))
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C").strip()
    text = " ".join(text.split())
    if not text:
        raise ClassroomError("enter a name to join")
    if len(text) > MAX_NAME:
        raise ClassroomError(f"names are at most {MAX_NAME} characters")
    return text


class Classroom:
    """The round store; safe to share between threads.

    Connections are pooled (at most :data:`POOL_SIZE` kept open) and each one is used by one thread at a
    time. Keeping them open matters: when the last connection to a WAL database closes, SQLite checkpoints
    the log into the database and deletes it, which made every guess pay a checkpoint and an fsync
    (about 14 ms each) when each operation opened and closed its own connection.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        with self._connection() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        con.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        con.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across crashes of the app, fast commits
        return con

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection from the pool (or a new one) for this thread's exclusive use; back to the pool after."""
        try:
            con = self._pool.get_nowait()
        except queue.Empty:
            con = self._connect()
        keep = True
        try:
            yield con
        except (ClassroomError, sqlite3.IntegrityError):
            raise  # the request was refused; the connection is fine
        except BaseException:
            keep = False  # an unexpected error: do not hand this connection to anyone else
            raise
        finally:
            if keep and not con.in_transaction and self._pool.qsize() < POOL_SIZE:
                self._pool.put(con)
            else:
                con.close()

    def close(self) -> None:
        """Close the pooled connections (new ones are opened if the store is used again)."""
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed when the block ends, rolled back on an error."""
        with self._connection() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as con:
            yield con

    # ---------------------------------------------------------------------------------------- teacher

    def create_round(self, cases: list[dict], title: str = "", benchmark: str = "") -> tuple[str, str]:
        """Store a round; returns (round code, teacher key).

        Args:
            cases: per case image_id, lat, lon (degrees), and optionally photo_url, scene, models
                (see :meth:`geolocate.teach.cases.Case.summary`).
            title: the teacher's title (plain text).
            benchmark: the benchmark the cases come from.
        """
        if not cases:
            raise ClassroomError("a round needs at least one case")
        for i, c in enumerate(cases):
            lat, lon = float(c["lat"]), float(c["lon"])
            if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
                raise ClassroomError(f"case {i + 1}: ({lat}, {lon}) is not a position")
        doc = json.dumps(cases, allow_nan=False)
        key = secrets.token_urlsafe(12)
        for _ in range(20):
            code = "".join(secrets.choice(ROUND_CODE_ALPHABET) for _ in range(6))
            try:
                with self._write() as con:
                    con.execute(
                        "INSERT INTO rounds (code, title, benchmark, cases, teacher_key, created) VALUES (?, ?, ?, ?, ?, ?)",
                        (code, str(title)[:120], benchmark, doc, key, time.time()),
                    )
                return code, key
            except sqlite3.IntegrityError:
                continue  # code already taken: draw another
        raise ClassroomError("could not allocate a round code")  # pragma: no cover - 32^6 codes

    def is_teacher(self, code: str, key: str | None) -> bool:
        """Whether ``key`` is the teacher key of round ``code`` (compared in constant time)."""
        with self._read() as con:
            row = con.execute("SELECT teacher_key FROM rounds WHERE code = ?", (code,)).fetchone()
        return bool(row and key and secrets.compare_digest(row[0], str(key)))

    def reveal(self, code: str, key: str) -> None:
        """Open the round's leaderboard and guesses to everyone (teacher only)."""
        if not self.is_teacher(code, key):
            raise ClassroomError("only the teacher of this round can reveal it")
        with self._write() as con:
            con.execute("UPDATE rounds SET revealed = 1 WHERE code = ?", (code,))

    # ---------------------------------------------------------------------------------------- students

    def get_round(self, code: str) -> Round:
        """The round with this code (case-insensitive); ClassroomError when there is none."""
        code = str(code or "").strip().upper()
        with self._read() as con:
            row = con.execute("SELECT code, title, benchmark, cases, created, revealed FROM rounds WHERE code = ?", (code,)).fetchone()
        if row is None:
            raise ClassroomError(f"no round {code[:12]!r}: check the code with your teacher")
        return Round(row[0], row[1], row[2], json.loads(row[3]), row[4], bool(row[5]))

    def join(self, code: str, name: str, token: str | None = None) -> tuple[str, str]:
        """Join a round; returns (clean name, session token).

        A taken name can only be re-joined with its token (the same browser session).
        """
        rnd = self.get_round(code)
        name = clean_name(name)
        with self._write() as con:
            row = con.execute("SELECT token FROM students WHERE code = ? AND name = ?", (rnd.code, name)).fetchone()
            if row is not None:
                if token and secrets.compare_digest(row[0], token):
                    return name, token
                raise ClassroomError(f"the name {name!r} is taken in this round: choose another")
            n = con.execute("SELECT COUNT(*) FROM students WHERE code = ?", (rnd.code,)).fetchone()[0]
            if n >= MAX_STUDENTS:
                raise ClassroomError(f"this round is full ({MAX_STUDENTS} students)")
            token = secrets.token_urlsafe(12)
            con.execute("INSERT INTO students (code, name, token, joined) VALUES (?, ?, ?, ?)", (rnd.code, name, token, time.time()))
        return name, token

    def _check_student(self, con, code: str, name: str, token: str) -> None:
        row = con.execute("SELECT token FROM students WHERE code = ? AND name = ?", (code, name)).fetchone()
        if row is None or not secrets.compare_digest(row[0], str(token)):
            raise ClassroomError("join the round first")

    def submit(self, code: str, name: str, token: str, case_no: int, guess: tuple[float, float], budget_km2: float | None = None) -> Guess:
        """Record and score a guess; a case is guessed once (a second guess is refused)."""
        rnd = self.get_round(code)
        if not 0 <= case_no < len(rnd.cases):
            raise ClassroomError(f"this round has cases 1 to {len(rnd.cases)}")
        c = rnd.cases[case_no]
        try:
            s = score_guess(guess, (float(c["lat"]), float(c["lon"])), budget_km2)
        except ValueError as err:
            raise ClassroomError(str(err)) from None
        with self._write() as con:
            self._check_student(con, rnd.code, name, token)
            try:
                con.execute(
                    "INSERT INTO guesses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (rnd.code, name, case_no, float(guess[0]), float(guess[1]), budget_km2, s.distance_km, s.area_km2, s.points, time.time()),
                )
            except sqlite3.IntegrityError:
                raise ClassroomError(f"case {case_no + 1} is already guessed") from None
        return Guess(name, case_no, float(guess[0]), float(guess[1]), budget_km2, s.distance_km, s.area_km2, s.points, s.in_budget)

    def my_guesses(self, code: str, name: str, token: str) -> dict[int, Guess]:
        """A student's own guesses by case number."""
        with self._read() as con:
            self._check_student(con, code, name, token)
            rows = con.execute(
                "SELECT name, case_no, lat, lon, budget_km2, distance_km, area_km2, points FROM guesses WHERE code = ? AND name = ? ORDER BY case_no",
                (code, name),
            ).fetchall()
        return {r[1]: _guess(r) for r in rows}

    def all_guesses(self, code: str, key: str | None = None) -> list[Guess]:
        """Every guess of the round: for the teacher, or for anyone once the round is revealed."""
        rnd = self.get_round(code)
        if not (rnd.revealed or self.is_teacher(rnd.code, key)):
            raise ClassroomError("guesses are shown after the teacher reveals the round")
        with self._read() as con:
            rows = con.execute(
                "SELECT name, case_no, lat, lon, budget_km2, distance_km, area_km2, points FROM guesses WHERE code = ? ORDER BY case_no, name", (rnd.code,)
            ).fetchall()
        return [_guess(r) for r in rows]

    def students(self, code: str) -> list[str]:
        """Names of the round's students, in joining order."""
        with self._read() as con:
            return [r[0] for r in con.execute("SELECT name FROM students WHERE code = ? ORDER BY joined, name", (code,))]

    def leaderboard(self, code: str, by: str = "area") -> list[dict]:
        """Every student who has guessed, ranked by median area to truth or by median distance.

        ``by="area"`` (smallest first) or ``by="distance"``; ties by more cases guessed, then by name.

        Returns:
            dicts with rank, name, guessed (cases), median_area_km2, median_distance_km, points (mean).
        """
        if by not in ("area", "distance"):
            raise ValueError(f"rank by 'area' or 'distance', not {by!r}")
        with self._read() as con:
            rows = con.execute("SELECT name, distance_km, area_km2, points FROM guesses WHERE code = ?", (code,)).fetchall()
        per: dict[str, list] = {}
        for name, d, a, p in rows:
            per.setdefault(name, []).append((d, a, p))
        out: list[dict[str, Any]] = []
        for name, vals in per.items():
            v = np.asarray(vals, dtype=np.float64)
            out.append({"name": name, "guessed": len(v), "median_area_km2": float(np.median(v[:, 1])), "median_distance_km": float(np.median(v[:, 0])), "points": float(v[:, 2].mean())})
        key = "median_area_km2" if by == "area" else "median_distance_km"
        out.sort(key=lambda r: (r[key], -r["guessed"], r["name"]))
        for i, r in enumerate(out):
            r["rank"] = i + 1
        return [{"rank": r["rank"], **{k: v for k, v in r.items() if k != "rank"}} for r in out]

    def can_see_leaderboard(self, code: str, name: str | None, token: str | None, key: str | None = None) -> bool:
        """The teacher always; a student after guessing every case; everyone after the reveal."""
        rnd = self.get_round(code)
        if rnd.revealed or self.is_teacher(rnd.code, key):
            return True
        if not (name and token):
            return False
        try:
            return len(self.my_guesses(rnd.code, name, token)) == len(rnd.cases)
        except ClassroomError:
            return False


def _guess(r) -> Guess:
    name, case_no, lat, lon, budget, d, a, p = r
    return Guess(name, int(case_no), lat, lon, budget, d, a, p, None if budget is None else bool(a <= budget))
