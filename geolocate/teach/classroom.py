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

import hashlib
import json
import logging
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

BUSY_TIMEOUT_S = 2.0  # SQLite's own wait per attempt; :data:`RETRY_S` bounds the whole operation
RETRY_S = 6.0  # how long an operation retries a locked database before the store is "unavailable"
POOL_SIZE = 8  # open connections kept per store
MAX_NAME = 40
MAX_STUDENTS = 500
JOINS_PER_MINUTE = int(os.environ.get("GEOLOCATE_CLASSROOM_JOINS_PER_MINUTE", "30"))  # per client address and round
UNAVAILABLE = "the classroom store is unavailable: the teacher has been told"
log = logging.getLogger(__name__)
ROUND_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud and typed

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rounds (
    code TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    cases TEXT NOT NULL,
    teacher_key TEXT NOT NULL,
    created REAL NOT NULL,
    revealed INTEGER NOT NULL DEFAULT 0,
    approval INTEGER NOT NULL DEFAULT 0,
    timer_end REAL
);
CREATE TABLE IF NOT EXISTS students (
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    token TEXT NOT NULL,
    joined REAL NOT NULL,
    skeleton TEXT NOT NULL DEFAULT '',
    browser TEXT NOT NULL DEFAULT '',
    approved INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (code, name)
);
CREATE TABLE IF NOT EXISTS joins (
    code TEXT NOT NULL,
    client TEXT NOT NULL,
    t REAL NOT NULL
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
# Columns added after the first release: an older database gains them when it is opened.
_COLUMNS = {
    "rounds": [("approval", "INTEGER NOT NULL DEFAULT 0"), ("timer_end", "REAL")],
    "students": [("skeleton", "TEXT NOT NULL DEFAULT ''"), ("browser", "TEXT NOT NULL DEFAULT ''"), ("approved", "INTEGER NOT NULL DEFAULT 1")],
}


class ClassroomError(ValueError):
    """A request the classroom cannot honour; the message is for the user."""


class StoreUnavailable(ClassroomError):
    """The database cannot be used now (locked, corrupt, deleted, unwritable).

    ``str(err)`` is the plain message for anyone (:data:`UNAVAILABLE`: no path, no traceback);
    ``err.detail`` says what happened and what to do, for the teacher and the server log.
    """

    def __init__(self, detail: str):
        super().__init__(UNAVAILABLE)
        self.detail = detail


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
    approval: bool = False
    timer_end: float | None = None
    """When the teacher's round timer ends (epoch seconds), or None when no timer runs."""

    def public_case(self, i: int) -> dict:
        """Case ``i`` without its truth and model scores: what a student may see before guessing."""
        c = self.cases[i]
        return {"image_id": c["image_id"], "photo_url": c.get("photo_url"), "scene": c.get("scene", {}), "own_photo": bool(c.get("own_photo"))}


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


# Default-ignorable and blank-looking code points that are not control/format characters (category C):
# combining grapheme joiner, Hangul fillers, Mongolian and other variation selectors, Khmer inherent vowels.
_INVISIBLE = {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180E, 0x180F, 0x2800, 0x3164, 0xFFA0}
_INVISIBLE_RANGES = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
# Letters of other scripts that look like Latin ones, and digits that look like letters (a small subset of
# Unicode's confusables.txt: the ones a keyboard layout or a copy-paste gives a class).
_LOOKALIKES = str.maketrans({
    **dict(zip("аеорсухіјѕԁԛԝһ", "aeopcyxijsdqwh")), **dict(zip("АВЕКМНОРСТХІЈЅԌ", "abekmhopctxijsg")),
    **dict(zip("αβεικνορτυχ", "abeiknoptux")), **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "abezhikmnoptyx")),
    "0": "o", "1": "i", "l": "i", "|": "i", "ӏ": "i", "5": "s", "ı": "i", "ɑ": "a", "ɡ": "g",
})


def _invisible(ch: str) -> bool:
    o = ord(ch)
    return o in _INVISIBLE or any(a <= o <= b for a, b in _INVISIBLE_RANGES)


def clean_name(name: str) -> str:
    """A student's display name: NFKC, trimmed, at most 40 characters.

    Control characters are dropped; format (zero-width, bidi) and other invisible characters are refused,
    as is a name with no visible letter, digit or sign.
    """
    text = unicodedata.normalize("NFKC", str(name or ""))
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Zl", "Zp"))
    if any(unicodedata.category(ch) in ("Cf", "Co", "Cs", "Cn") or _invisible(ch) for ch in text):
        raise ClassroomError("names cannot contain invisible characters")
    text = " ".join(text.split())
    if not text or all(unicodedata.category(ch)[0] in ("M", "Z") for ch in text):
        raise ClassroomError("enter a name to join")
    if len(text) > MAX_NAME:
        raise ClassroomError(f"names are at most {MAX_NAME} characters")
    return text


def name_skeleton(name: str) -> str:
    """What a name looks like: lower case, accents dropped, lookalike letters and digits folded.

    Two names with one skeleton cannot both be in a round (``Alice`` and Cyrillic ``Аlice``, ``Bob1`` and
    ``bobl``).
    """
    text = unicodedata.normalize("NFKD", clean_name(name).casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).translate(_LOOKALIKES)
    return "".join(ch for ch in text if not ch.isspace() and ch not in "-_.'")


class Classroom:
    """The round store; safe to share between threads.

    Connections are pooled (at most :data:`POOL_SIZE` kept open) and each one is used by one thread at a
    time. Keeping them open matters: when the last connection to a WAL database closes, SQLite checkpoints
    the log into the database and deletes it, which made every guess pay a checkpoint and an fsync
    (about 14 ms each) when each operation opened and closed its own connection.

    Failures of the file itself raise :class:`StoreUnavailable` (a plain message, details in ``detail``
    and in :attr:`problem`): a lock held longer than :data:`RETRY_S`, a file that is not a database or
    fails SQLite's quick check (at start and when an operation meets it), a folder that cannot be made, a
    file deleted or replaced while the server runs (noticed on the next operation; the old file is not
    kept open).
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_path()
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._inode: tuple[int, int] | None = None
        self.problem: tuple[float, str] | None = None  # (time, what happened and what to do): the last failure
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise self._fail(f"cannot make the classroom database's folder ({err.strerror}): set GEOLOCATE_CLASSROOM_DB to a writable file path and restart the server") from None
        self._open()

    def _open(self) -> None:
        """Create or check the database (schema, WAL, quick check); remember which file it is."""
        existed = self.path.exists()

        def setup(con: sqlite3.Connection) -> None:
            con.execute("PRAGMA journal_mode=WAL")
            if existed:
                ok = con.execute("PRAGMA quick_check").fetchone()[0]
                if ok != "ok":
                    raise sqlite3.DatabaseError(f"quick_check: {str(ok)[:200]}")
            con.executescript(_SCHEMA)
            for table, cols in _COLUMNS.items():
                have = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
                for col, decl in cols:
                    if col not in have:
                        con.execute(f"ALTER TABLE {table} ADD COLUMN {col} {decl}")

        self._run(setup, check_file=False)
        st = self.path.stat()
        self._inode = (st.st_dev, st.st_ino)

    def _fail(self, detail: str) -> StoreUnavailable:
        """Record a failure for the teacher and the server log (one line, no traceback); the error to raise."""
        self.problem = (time.time(), detail)
        log.warning("classroom store %s: %s", self.path, detail)
        return StoreUnavailable(detail)

    def _check_file(self) -> None:
        """Refuse to go on with a database file that was deleted or replaced since it was opened."""
        try:
            st = self.path.stat()
            same = (st.st_dev, st.st_ino) == self._inode
        except OSError:
            same = False
        if not same:
            self.close()  # do not keep writing into a deleted file: what it got would be lost on restart
            raise self._fail("the classroom database file was deleted or replaced while the server ran; "
                             "rounds since then cannot be stored: restore the file from a backup or restart the server (a new empty store is made)")

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        con.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        con.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across crashes of the app, fast commits
        return con

    def _run(self, fn, write: bool = False, check_file: bool = True):
        """``fn(con)`` on a pooled connection (in one ``BEGIN IMMEDIATE`` transaction when ``write``).

        A locked or busy database is retried until :data:`RETRY_S` has passed; then, or for a file that is
        not a database, unreadable or gone, :class:`StoreUnavailable`.
        """
        deadline = time.monotonic() + RETRY_S
        wait = 0.05
        while True:
            if check_file:
                self._check_file()
            try:
                with (self._write() if write else self._read()) as con:
                    return fn(con)
            except sqlite3.OperationalError as err:
                text = str(err).lower()
                if ("locked" in text or "busy" in text) and time.monotonic() < deadline:
                    time.sleep(wait)
                    wait = min(wait * 2, 0.5)
                    continue
                if "locked" in text or "busy" in text:
                    raise self._fail(f"the database stayed locked for more than {RETRY_S:.0f} s (another program holds it: "
                                     "a backup, an editor or a stuck process); it is retried on the next request") from None
                raise self._fail(f"the database cannot be used ({err}): check that its folder is writable and the disk not full") from None
            except sqlite3.DatabaseError as err:
                self.close()
                raise self._fail(f"the database file is damaged or not a classroom database ({err}): stop the server, "
                                 "move the file named in the server log aside (a new empty store is made), and restart") from None

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
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as con:
            yield con

    # ---------------------------------------------------------------------------------------- teacher

    def create_round(self, cases: list[dict], title: str = "", benchmark: str = "", approval: bool = False) -> tuple[str, str]:
        """Store a round; returns (round code, teacher key).

        Args:
            cases: per case image_id, lat, lon (degrees), and optionally photo_url, scene, models
                (see :meth:`geolocate.teach.cases.Case.summary`).
            title: the teacher's title (plain text).
            benchmark: the benchmark the cases come from.
            approval: whether the teacher approves each name before its guesses count.
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
                row = (code, str(title)[:120], benchmark, doc, key, time.time(), int(bool(approval)))
                self._run(lambda con, row=row: con.execute(
                    "INSERT INTO rounds (code, title, benchmark, cases, teacher_key, created, approval) VALUES (?, ?, ?, ?, ?, ?, ?)", row), write=True)
                return code, key
            except sqlite3.IntegrityError:
                continue  # code already taken: draw another
        raise ClassroomError("could not allocate a round code")  # pragma: no cover - 32^6 codes

    def is_teacher(self, code: str, key: str | None) -> bool:
        """Whether ``key`` is the teacher key of round ``code`` (compared in constant time)."""
        row = self._run(lambda con: con.execute("SELECT teacher_key FROM rounds WHERE code = ?", (code,)).fetchone())
        return bool(row and key and secrets.compare_digest(row[0], str(key)))

    def _need_teacher(self, code: str, key: str | None) -> None:
        if not self.is_teacher(code, key):
            raise ClassroomError("only the teacher of this round can do that")

    def reveal(self, code: str, key: str) -> None:
        """Open the round's leaderboard and guesses to everyone (teacher only)."""
        if not self.is_teacher(code, key):
            raise ClassroomError("only the teacher of this round can reveal it")
        self._run(lambda con: con.execute("UPDATE rounds SET revealed = 1 WHERE code = ?", (code,)), write=True)

    def set_timer(self, code: str, key: str, seconds: float | None, now: float | None = None) -> float | None:
        """Start the round's timer for ``seconds`` from now, or stop it (None); returns its end (epoch s) (teacher only)."""
        self._need_teacher(code, key)
        end = None if seconds is None else (time.time() if now is None else now) + max(0.0, float(seconds))
        self._run(lambda con: con.execute("UPDATE rounds SET timer_end = ? WHERE code = ?", (end, code)), write=True)
        return end

    def delete_round(self, code: str, key: str) -> None:
        """Delete a round with its students and guesses (teacher only)."""
        self._need_teacher(code, key)

        def go(con):
            for table in ("guesses", "students", "joins", "rounds"):
                con.execute(f"DELETE FROM {table} WHERE code = ?", (code,))

        self._run(go, write=True)

    def pending(self, code: str, key: str) -> list[str]:
        """Names waiting for the teacher's approval (teacher only), in joining order."""
        self._need_teacher(code, key)
        return [r[0] for r in self._run(lambda con: con.execute("SELECT name FROM students WHERE code = ? AND approved = 0 ORDER BY joined, name", (code,)).fetchall())]

    def approve(self, code: str, key: str, name: str) -> None:
        """Let a pending name guess (teacher only)."""
        self._need_teacher(code, key)
        self._run(lambda con: con.execute("UPDATE students SET approved = 1 WHERE code = ? AND name = ?", (code, name)), write=True)

    def release(self, code: str, key: str, name: str) -> None:
        """Free a name (teacher only).

        Its browser loses it, and the next student to join with it gets it and its guesses (a student on a
        new device, or a name someone else took). A pending name is removed.
        """
        self._need_teacher(code, key)

        def go(con):
            con.execute("DELETE FROM students WHERE code = ? AND name = ? AND approved = 0", (code, name))
            con.execute("UPDATE students SET token = '', browser = '' WHERE code = ? AND name = ?", (code, name))

        self._run(go, write=True)

    def rename(self, code: str, key: str, name: str, new: str) -> str:
        """Rename a student, their guesses with them (teacher only); returns the cleaned new name."""
        self._need_teacher(code, key)
        new = clean_name(new)
        skel = name_skeleton(new)

        def go(con):
            for other, other_skel in con.execute("SELECT name, skeleton FROM students WHERE code = ? AND name != ?", (code, name)):
                if other == new or (other_skel or name_skeleton(other)) == skel:
                    raise ClassroomError(f"the name {new!r} is taken in this round (or looks like {other!r})")
            if con.execute("UPDATE students SET name = ?, skeleton = ? WHERE code = ? AND name = ?", (new, skel, code, name)).rowcount != 1:
                raise ClassroomError(f"no student {name!r} in this round")
            con.execute("UPDATE guesses SET name = ? WHERE code = ? AND name = ?", (new, code, name))

        self._run(go, write=True)
        return new

    # ---------------------------------------------------------------------------------------- students

    def get_round(self, code: str) -> Round:
        """The round with this code (case-insensitive); ClassroomError when there is none."""
        code = str(code or "").strip().upper()
        row = self._run(lambda con: con.execute("SELECT code, title, benchmark, cases, created, revealed, approval, timer_end FROM rounds WHERE code = ?", (code,)).fetchone())
        if row is None:
            raise ClassroomError(f"no round {code[:12]!r}: check the code with your teacher")
        return Round(row[0], row[1], row[2], json.loads(row[3]), row[4], bool(row[5]), bool(row[6]), None if row[7] is None else float(row[7]))

    def join(self, code: str, name: str, token: str | None = None, browser: str | None = None, client: str | None = None) -> tuple[str, str]:
        """Join a round; returns (clean name, the student's resume token).

        One identity per browser: when ``browser`` (a random id the browser keeps) already holds a name in
        this round, that name and its token come back whatever was typed. A taken name can only be re-joined
        with its token; a name the teacher released is taken over with its guesses. A name that looks like
        a taken one (:func:`name_skeleton`) is refused. New names from one ``client`` address are limited to
        :data:`JOINS_PER_MINUTE` per minute and round (the address is stored hashed, for a minute).
        """
        rnd = self.get_round(code)
        browser_h = _hash(rnd.code, browser) if browser else ""
        now = time.time()

        def go(con):
            if browser_h:
                row = con.execute("SELECT name, token FROM students WHERE code = ? AND browser = ? AND token != ''", (rnd.code, browser_h)).fetchone()
                if row is not None:
                    return row[0], row[1]
            clean = clean_name(name)
            row = con.execute("SELECT token FROM students WHERE code = ? AND name = ?", (rnd.code, clean)).fetchone()
            if row is not None:
                if token and row[0] and secrets.compare_digest(row[0], token):
                    return clean, token
                if row[0]:
                    raise ClassroomError(f"the name {clean!r} is taken in this round: choose another")
                new = secrets.token_urlsafe(16)  # released by the teacher: this browser takes it over
                con.execute("UPDATE students SET token = ?, browser = ? WHERE code = ? AND name = ?", (new, browser_h, rnd.code, clean))
                return clean, new
            skel = name_skeleton(clean)
            for other, other_skel in con.execute("SELECT name, skeleton FROM students WHERE code = ?", (rnd.code,)):
                if (other_skel or name_skeleton(other)) == skel:
                    raise ClassroomError(f"the name {clean!r} looks like {other!r}, already in this round: choose another")
            n = con.execute("SELECT COUNT(*) FROM students WHERE code = ?", (rnd.code,)).fetchone()[0]
            if n >= MAX_STUDENTS:
                raise ClassroomError(f"this round is full ({MAX_STUDENTS} students)")
            if client:
                client_h = _hash(rnd.code, client)
                con.execute("DELETE FROM joins WHERE t < ?", (now - 60,))
                recent = con.execute("SELECT COUNT(*), MIN(t) FROM joins WHERE code = ? AND client = ?", (rnd.code, client_h)).fetchone()
                if recent[0] >= JOINS_PER_MINUTE:
                    raise ClassroomError(f"too many new names from your network in the last minute: try again in {max(1, int(recent[1] + 61 - now))} s")
                con.execute("INSERT INTO joins VALUES (?, ?, ?)", (rnd.code, client_h, now))
            new = secrets.token_urlsafe(16)
            con.execute(
                "INSERT INTO students (code, name, token, joined, skeleton, browser, approved) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rnd.code, clean, new, now, skel, browser_h, int(not rnd.approval)),
            )
            return clean, new

        return self._run(go, write=True)

    def resume(self, code: str, token: str | None) -> str | None:
        """The name that holds ``token`` in round ``code`` (a reload, a new tab, a restarted server), else None."""
        if not token:
            return None
        row = self._run(lambda con: con.execute("SELECT name FROM students WHERE code = ? AND token = ? AND token != ''", (str(code).upper(), str(token))).fetchone())
        return None if row is None else row[0]

    def is_approved(self, code: str, name: str) -> bool:
        """Whether the student may guess (always, unless the round needs approval and it is pending)."""
        row = self._run(lambda con: con.execute("SELECT approved FROM students WHERE code = ? AND name = ?", (code, name)).fetchone())
        return bool(row and row[0])

    def _check_student(self, con, code: str, name: str, token: str) -> None:
        row = con.execute("SELECT token, approved FROM students WHERE code = ? AND name = ?", (code, name)).fetchone()
        if row is None or not row[0] or not secrets.compare_digest(row[0], str(token)):
            raise ClassroomError("join the round first")
        if not row[1]:
            raise ClassroomError("your teacher has not approved your name yet")

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

        def go(con):
            self._check_student(con, rnd.code, name, token)
            try:
                con.execute(
                    "INSERT INTO guesses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (rnd.code, name, case_no, float(guess[0]), float(guess[1]), budget_km2, s.distance_km, s.area_km2, s.points, time.time()),
                )
            except sqlite3.IntegrityError:
                raise ClassroomError(f"case {case_no + 1} is already guessed") from None

        self._run(go, write=True)
        return Guess(name, case_no, float(guess[0]), float(guess[1]), budget_km2, s.distance_km, s.area_km2, s.points, s.in_budget)

    def my_guesses(self, code: str, name: str, token: str) -> dict[int, Guess]:
        """A student's own guesses by case number."""

        def go(con):
            self._check_student_token(con, code, name, token)
            return con.execute(
                "SELECT name, case_no, lat, lon, budget_km2, distance_km, area_km2, points FROM guesses WHERE code = ? AND name = ? ORDER BY case_no",
                (code, name),
            ).fetchall()

        return {r[1]: _guess(r) for r in self._run(go)}

    def _check_student_token(self, con, code: str, name: str, token: str) -> None:
        row = con.execute("SELECT token FROM students WHERE code = ? AND name = ?", (code, name)).fetchone()
        if row is None or not row[0] or not secrets.compare_digest(row[0], str(token)):
            raise ClassroomError("join the round first")

    def all_guesses(self, code: str, key: str | None = None, name: str | None = None, token: str | None = None) -> list[Guess]:
        """Every guess of the round: for the teacher, or after the reveal.

        After the reveal a student gets the guesses of the cases they have guessed themselves (a case's
        truth only reaches those who guessed it); a visitor who has not joined gets none.
        """
        rnd = self.get_round(code)
        teacher = self.is_teacher(rnd.code, key)
        if not (rnd.revealed or teacher):
            raise ClassroomError("guesses are shown after the teacher reveals the round")
        rows = self._run(lambda con: con.execute(
            "SELECT name, case_no, lat, lon, budget_km2, distance_km, area_km2, points FROM guesses WHERE code = ? ORDER BY case_no, name", (rnd.code,)
        ).fetchall())
        out = [_guess(r) for r in rows]
        if teacher:
            return out
        mine = set(self.my_guesses(rnd.code, name, token)) if name and token else set()
        return [g for g in out if g.case_no in mine]

    def students(self, code: str) -> list[str]:
        """Names of the round's students, in joining order."""
        return [r[0] for r in self._run(lambda con: con.execute("SELECT name FROM students WHERE code = ? ORDER BY joined, name", (code,)).fetchall())]

    def leaderboard(self, code: str, by: str = "area") -> list[dict]:
        """Every student who has guessed, ranked by median area to truth or by median distance.

        ``by="area"`` (smallest first) or ``by="distance"``; ties by more cases guessed, then by name.

        Returns:
            dicts with rank, name, guessed (cases), median_area_km2, median_distance_km, points (mean), and
            late: the student joined after some case's truth had been revealed to someone (a first guess
            of it), so they may have learnt it from a classmate's screen or a throwaway name.
        """
        if by not in ("area", "distance"):
            raise ValueError(f"rank by 'area' or 'distance', not {by!r}")

        def go(con):
            rows = con.execute("SELECT name, distance_km, area_km2, points FROM guesses WHERE code = ?", (code,)).fetchall()
            first = con.execute("SELECT MIN(created) FROM guesses WHERE code = ?", (code,)).fetchone()[0]
            joined = dict(con.execute("SELECT name, joined FROM students WHERE code = ?", (code,)).fetchall())
            return rows, first, joined

        rows, first, joined = self._run(go)
        per: dict[str, list] = {}
        for name, d, a, p in rows:
            per.setdefault(name, []).append((d, a, p))
        out: list[dict[str, Any]] = []
        for name, vals in per.items():
            v = np.asarray(vals, dtype=np.float64)
            out.append({"name": name, "guessed": len(v), "median_area_km2": float(np.median(v[:, 1])), "median_distance_km": float(np.median(v[:, 0])), "points": float(v[:, 2].mean()),
                        "late": bool(first is not None and joined.get(name, 0.0) > first)})
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
        except StoreUnavailable:
            raise
        except ClassroomError:
            return False


def _hash(code: str, value: str) -> str:
    """A browser id or client address as stored: salted with the round, not reversible to the address."""
    return hashlib.sha256(f"{code}\0{value}".encode()).hexdigest()[:32]


def _guess(r) -> Guess:
    name, case_no, lat, lon, budget, d, a, p = r
    return Guess(name, int(case_no), lat, lon, budget, d, a, p, None if budget is None else bool(a <= budget))
