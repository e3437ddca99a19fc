"""Read the text in a photo, in memory: PP-OCRv4 for detection, Latin and Chinese; Tesseract for other scripts.

PP-OCRv4 (``rapidocr-onnxruntime``) finds the lines and reads Latin and Chinese; Tesseract (``tesserocr``,
Debian's script models) reads the lines PP-OCR cannot.

Which lines go to Tesseract is decided per detected box: a line whose PP-OCR reading is unsure (score
under :data:`PP_TRUST`), empty, mixes cases inside a word the way misread Cyrillic or Greek does
("MocKBa"), or holds letters of a script PP-OCR does not read, is read again by Tesseract, one script
model at a time: first the scripts this photo's other lines were read in, the scripts PP-OCR's reading
hints at and the models already loaded; when none reads the photo's first such line well, every other
installed script in turn (:func:`_tesseract_best`). The line keeps whichever reading is surer, in a
non-Latin script preferring Tesseract's. Lines neither reader reads are shown to Tesseract's
orientation-and-script detection, so the analyst learns which script pack to install.

Memory is bounded (issue 18: <= 300 MB for the readers): Tesseract's script models live in a
process-wide LRU of at most :data:`MAX_SCRIPT_MODELS` (:class:`ScriptReaders`), loaded when a line
needs them and released when pushed out; they load without their word lists (``lstm_use_matrix=0``),
which are 60-90 % of a model's memory and which Tesseract never frees, even when its reader ends.

Models load once per process (behind a lock) and are shared read-only; each reader runs behind its own
lock, so concurrent sessions queue instead of racing. Results are kept in a small process-wide LRU keyed
by the photo's pixel hash (:func:`pixel_key`), so the page and the experts never read one photo twice.
Nothing is written to disk and no text is logged.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..evidence.base import Message
from .clues import clean_text, dominant_script, script_counts

PP_TRUST = 0.93
"""PP-OCR line score at or above which a line in Latin or Han script is taken as read."""

MIN_SCORE = 0.5
"""Lines read with a lower score by every reader are dropped."""

MAX_LINES = 60
"""Lines kept per photo (the most confident); a newspaper page says so in a message."""

MAX_TESSERACT_LINES = 12
"""Unsure lines re-read by Tesseract per photo (the largest first), bounding the time on busy photos."""

TESSERACT_BUDGET_S = 3.0
"""CPU seconds Tesseract may spend on one photo's unsure lines; the rest keep PP-OCR's reading (with a message).

CPU, not wall, time: on a loaded server a wall budget cut the search for a line's script short at random.
"""

DETECT_MAX_SIDE = 960
"""Longest side, px, of the image the text detector sees (the photo is 1,024 px on its short side).

960 instead of 1,280 halves the detector's CPU (0.41 against 0.76 s on a 1365x1024 photo) and read the
rendered signs as well (lines are cut from the full-size photo either way).
"""

CACHE_SIZE = 16
"""Photos whose reading is kept in the process-wide LRU."""

MAX_SCRIPT_MODELS = 4
"""Tesseract models (one script each, Latin included) resident at once; ``GEOLOCATE_TEXT_MAX_SCRIPTS`` overrides.

Each costs 4-33 MB without its word list (Japanese the most), so 4 stay under ~80 MB whatever the scripts.
"""

TESS_VARIABLES = {"lstm_use_matrix": "0"}
"""Tesseract init settings: no word list (dictionary) for the LSTM, see the module's docstring."""

WORD_LIST_SCRIPTS = frozenset({"Hangul", "Greek"})
"""Scripts whose model keeps its word list: without it Tesseract spaced every Hangul syllable ("서 울 약 국", so
Seoul was not found) and doubled Greek letters. Their lists stay resident once used (7.8 MB for both,
measured; reloads reuse them), the price of those readings."""

GOOD_READING = 0.75
"""A Tesseract reading at least this confident, mostly (>= 80 %) in its model's script, ends the search for a line's script.

Without word lists Tesseract's confidences run 0.05-0.15 lower than with them: on the rendered signs the
right script read at 0.58-0.92, a wrong one at most 0.67 with its own letters.
"""

TESS_ACCEPT = 0.55
"""A Tesseract reading in a script PP-OCR cannot read replaces PP-OCR's unsure one from this confidence up."""

PP_SCRIPTS = frozenset({"Latin", "Han", "Common"})
"""Scripts PP-OCRv4's Chinese model reads well (Latin letters, digits, Chinese)."""

TESSERACT_SCRIPTS: dict[str, tuple[str, str]] = {
    "Cyrillic": ("Cyrillic", "cyrl"), "Greek": ("Greek", "grek"), "Arabic": ("Arabic", "arab"), "Hebrew": ("Hebrew", "hebr"),
    "Devanagari": ("Devanagari", "deva"), "Bengali": ("Bengali", "beng"), "Gurmukhi": ("Gurmukhi", "guru"),
    "Gujarati": ("Gujarati", "gujr"), "Oriya": ("Oriya", "orya"), "Tamil": ("Tamil", "taml"), "Telugu": ("Telugu", "telu"),
    "Kannada": ("Kannada", "knda"), "Malayalam": ("Malayalam", "mlym"), "Sinhala": ("Sinhala", "sinh"), "Thai": ("Thai", "thai"),
    "Lao": ("Lao", "laoo"), "Khmer": ("Khmer", "khmr"), "Myanmar": ("Myanmar", "mymr"), "Tibetan": ("Tibetan", "tibt"),
    "Hangul": ("Hangul", "hang"), "Japanese": ("Japanese", "jpan"), "Georgian": ("Georgian", "geor"),
    "Armenian": ("Armenian", "armn"), "Ethiopic": ("Ethiopic", "ethi"), "Thaana": ("Thaana", "thaa"), "Syriac": ("Syriac", "syrc"),
    "Canadian_Aboriginal": ("Canadian_Aboriginal", "cans"), "Cherokee": ("Cherokee", "cher"),
}
"""Script -> (Tesseract model name, Debian package suffix: ``tesseract-ocr-script-<suffix>``)."""

COMMON_SCRIPTS = ("Cyrillic", "Arabic", "Devanagari", "Hangul", "Japanese", "Thai", "Greek", "Hebrew", "Bengali", "Tamil", "Georgian", "Armenian", "Ethiopic")
"""Scripts whose missing model is named when lines cannot be read (most used on signs first)."""

_OSD_NAMES = {"Korean": "Hangul", "Hangul": "Hangul", "Katakana": "Japanese", "Hiragana": "Japanese", "Japanese": "Japanese", "Han": "Han", "Latin": "Latin", "Fraktur": "Latin"}

TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata", "/usr/share/tessdata",
    "/usr/local/share/tessdata", "/opt/homebrew/share/tessdata",
)
"""Where Tesseract's models are looked for (after ``TESSDATA_PREFIX``)."""

INSTALL_PP = "pip install rapidocr-onnxruntime==1.4.4"
INSTALL_TESSERACT = "pip install tesserocr==2.13.0; apt-get install tesseract-ocr tesseract-ocr-osd"


@dataclass(frozen=True)
class TextLine:
    """One line of text read in a photo.

    Attributes:
        text: what was read (plain text: never render it as Markdown or HTML).
        box: the line's four corners (x, y) in the photo's pixels, clockwise from top-left.
        confidence: the reader's confidence, 0..1.
        script: the line's dominant Unicode script ("Latin", "Cyrillic", "Han", "Japanese", ...).
        reader: "pp-ocr" or "tesseract".
    """

    text: str
    box: tuple[tuple[float, float], ...]
    confidence: float
    script: str
    reader: str


@dataclass(frozen=True)
class ReadResult:
    """What was read in one photo.

    Attributes:
        lines: lines, top to bottom.
        messages: what could not be read and why (plain text).
        seconds: wall time of the reading (0 for a cached result's later uses is not tracked: the first run's).
        size: (width, height) of the image read, px (the boxes' frame).
        dropped: lines left out by :data:`MAX_LINES`.
    """

    lines: tuple[TextLine, ...] = ()
    messages: tuple[Message, ...] = ()
    seconds: float = 0.0
    size: tuple[int, int] = (0, 0)
    dropped: int = 0


class ScriptReaders:
    """Tesseract line readers, one per script, at most ``cap`` loaded at once (least recently used out).

    Shared by every session of the process; use only while holding :attr:`lock` (a reader is not
    thread-safe, and an evicted reader is ended). ``loader(script)`` makes a reader (None when the
    script's model is missing; a missing model is remembered, not retried).

    Attributes:
        lock: the lock to hold around :meth:`get` and any use of a reader it returned.
        loads: readers made so far (a reload after eviction counts again).
        evictions: readers ended to make room.
        peak: the most readers ever resident at once (<= ``cap``).
    """

    def __init__(self, loader: Any, cap: int = MAX_SCRIPT_MODELS, lock: threading.RLock | None = None) -> None:
        self._loader = loader
        self.cap = max(1, int(cap))
        self.lock = lock if lock is not None else threading.RLock()
        self._apis: OrderedDict[str, Any] = OrderedDict()
        self._missing: set[str] = set()
        self.loads = 0
        self.evictions = 0
        self.peak = 0

    def loaded(self) -> tuple[str, ...]:
        """Scripts whose reader is resident, most recently used first."""
        return tuple(reversed(self._apis))

    def get(self, script: str) -> Any:
        """The reader of ``script`` (loaded now if needed, evicting the least recently used), or None."""
        with self.lock:
            api = self._apis.get(script)
            if api is not None:
                self._apis.move_to_end(script)
                return api
            if script in self._missing:
                return None
            while len(self._apis) >= self.cap:  # make room first: never cap + 1 models resident
                _, old = self._apis.popitem(last=False)
                _end(old)
                self.evictions += 1
            api = self._loader(script)
            if api is None:
                self._missing.add(script)
                return None
            self.loads += 1
            self._apis[script] = api
            self.peak = max(self.peak, len(self._apis))
            return api

    def clear(self) -> None:
        """End every resident reader."""
        with self.lock:
            while self._apis:
                _end(self._apis.popitem()[1])


def _end(api: Any) -> None:
    """End a Tesseract reader (frees its model; the heap is trimmed after the photo)."""
    try:
        api.End()
    except (AttributeError, RuntimeError):
        pass


@dataclass
class _Engines:
    lock: threading.Lock = field(default_factory=threading.Lock)
    pp: Any = None
    pp_error: str = ""
    pp_lock: threading.Lock = field(default_factory=threading.Lock)
    tess_error: str = ""
    tess_lock: threading.RLock = field(default_factory=threading.RLock)
    readers: ScriptReaders | None = None
    scripts: tuple[str, ...] = ()
    tried_tess: bool = False


_ENGINES = _Engines()
_CACHE: OrderedDict[str, ReadResult] = OrderedDict()
_CACHE_LOCK = threading.Lock()


# ------------------------------------------------------------------------------------------ install
def tessdata_dir() -> Path | None:
    """The folder holding Tesseract's ``*.traineddata`` models (``TESSDATA_PREFIX`` first), or None."""
    env = os.environ.get("TESSDATA_PREFIX")
    cands = [Path(env), Path(env) / "tessdata"] if env else []
    cands += [Path(p) for p in TESSDATA_DIRS]
    for p in cands:
        try:
            if p.is_dir() and any(p.glob("*.traineddata")):
                return p
        except OSError:
            continue
    return None


def installed_models() -> dict[str, str]:
    """Installed Tesseract models: name -> language argument ("Cyrillic" or "script/Cyrillic", "eng", "osd")."""
    d = tessdata_dir()
    if d is None:
        return {}
    out = {p.name.removesuffix(".traineddata"): p.name.removesuffix(".traineddata") for p in d.glob("*.traineddata")}
    if (d / "script").is_dir():
        for p in (d / "script").glob("*.traineddata"):
            out.setdefault(p.name.removesuffix(".traineddata"), "script/" + p.name.removesuffix(".traineddata"))
    return out


def missing_pack(script: str) -> str:
    """The Debian package that adds Tesseract's model for ``script`` ("" when none is known)."""
    s = TESSERACT_SCRIPTS.get(script)
    return f"tesseract-ocr-script-{s[1]}" if s else ""


def reader_status() -> dict[str, Any]:
    """What can read text here: {"pp_ocr": bool, "tesseract": bool, "scripts": [scripts Tesseract reads], "osd": bool}."""
    try:
        import rapidocr_onnxruntime  # noqa: F401

        pp = True
    except ImportError:
        pp = False
    try:
        import tesserocr  # noqa: F401

        tess = tessdata_dir() is not None
    except ImportError:
        tess = False
    models = installed_models() if tess else {}
    scripts = sorted(s for s, (m, _) in TESSERACT_SCRIPTS.items() if m in models)
    return {"pp_ocr": pp, "tesseract": tess, "scripts": scripts, "osd": "osd" in models}


# ------------------------------------------------------------------------------------------ engines
def ocr_threads() -> int:
    """Threads per onnxruntime model: ``GEOLOCATE_OCR_THREADS``, else the cores up to 4 (one photo is read at a time)."""
    raw = os.environ.get("GEOLOCATE_OCR_THREADS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return max(1, min(4, os.cpu_count() or 1))


def _pp_engine() -> Any:
    """The PP-OCRv4 engine (loaded once; None with ``_ENGINES.pp_error`` set when not installed)."""
    if _ENGINES.pp is None and not _ENGINES.pp_error:
        with _ENGINES.lock:
            if _ENGINES.pp is None and not _ENGINES.pp_error:
                try:
                    from rapidocr_onnxruntime import RapidOCR
                    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess
                    from rapidocr_onnxruntime.utils import OrtInferSession
                except ImportError:
                    _ENGINES.pp_error = f"The text reader is not installed ({INSTALL_PP})."
                    return None
                make_opts = OrtInferSession._init_sess_opts

                def opts(config: dict[str, Any]) -> Any:
                    o = make_opts(config)
                    # idle threads sleep instead of spinning: spinning cost 30-40 % more CPU per photo (and
                    # steals cores from the other sessions) for no gain in wall time on 2 busy cores
                    o.add_session_config_entry("session.intra_op.allow_spinning", "0")
                    o.intra_op_num_threads = ocr_threads()
                    o.inter_op_num_threads = 1
                    return o

                OrtInferSession._init_sess_opts = staticmethod(opts)
                try:
                    eng = RapidOCR()
                finally:
                    OrtInferSession._init_sess_opts = staticmethod(make_opts)
                eng.text_score = 0.0  # keep every box: unsure ones go to Tesseract
                # one line per recognition run: a batch pads every line to the widest, which cost twice the CPU
                eng.text_rec.rec_batch_num = 1
                det = eng.text_det
                # detect on an image whose longest side is at most DETECT_MAX_SIDE (the default scales the
                # short side up to 736 and never down)
                det.get_preprocess = lambda max_wh: DetPreProcess(DETECT_MAX_SIDE, "max", det.mean, det.std)
                _ENGINES.pp = eng
    return _ENGINES.pp


def max_script_models() -> int:
    """Tesseract models kept resident: ``GEOLOCATE_TEXT_MAX_SCRIPTS``, else :data:`MAX_SCRIPT_MODELS`."""
    raw = os.environ.get("GEOLOCATE_TEXT_MAX_SCRIPTS", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else MAX_SCRIPT_MODELS


def _load_script(script: str) -> Any:
    """A Tesseract line reader of one script's model ("Latin": the English model), without word lists, or None."""
    import tesserocr

    d = tessdata_dir()
    models = installed_models()
    name = next((m for m in ("eng", "Latin") if m in models), "") if script == "Latin" else TESSERACT_SCRIPTS.get(script, ("", ""))[0]
    if d is None or name not in models:
        return None
    try:
        variables = {} if script in WORD_LIST_SCRIPTS else dict(TESS_VARIABLES)
        return tesserocr.PyTessBaseAPI(path=str(d) + os.sep, lang=models[name], psm=tesserocr.PSM.SINGLE_LINE,
                                       oem=tesserocr.OEM.LSTM_ONLY, variables=variables)
    except RuntimeError:
        return None


def _tess_engines() -> tuple[ScriptReaders | None, Any]:
    """(the script readers' LRU, a function giving the orientation-and-script detector).

    Nothing is loaded here beyond checking the install: a script's model loads when a line needs it.
    (None, None) when Tesseract or its models are absent.
    """
    if not _ENGINES.tried_tess:
        with _ENGINES.lock:
            if not _ENGINES.tried_tess:
                _ENGINES.tried_tess = True
                try:
                    import tesserocr  # noqa: F401
                except ImportError:
                    _ENGINES.tess_error = f"Tesseract is not installed ({INSTALL_TESSERACT})."
                    return None, None
                models = installed_models()
                if tessdata_dir() is None:
                    _ENGINES.tess_error = f"Tesseract's models are not installed ({INSTALL_TESSERACT})."
                    return None, None
                wanted = tesseract_scripts_wanted()
                scripts = [s for s, (m, _) in TESSERACT_SCRIPTS.items() if m in models and (wanted is None or s in wanted)]
                latin = ["Latin"] if any(m in models for m in ("eng", "Latin")) else []
                _ENGINES.scripts = tuple(latin + scripts)
                if _ENGINES.scripts:
                    _ENGINES.readers = ScriptReaders(_load_script, max_script_models(), _ENGINES.tess_lock)
                else:
                    _ENGINES.tess_error = f"Tesseract's models are not installed ({INSTALL_TESSERACT})."
    return _ENGINES.readers, _osd_engine


def _osd_engine() -> Any:
    """A new orientation-and-script detector (32 MB; the caller ends it after use: it is needed only for lines no model read), or None."""
    d = tessdata_dir()
    if d is None or "osd" not in installed_models():
        return None
    import tesserocr

    try:
        return tesserocr.PyTessBaseAPI(path=str(d) + os.sep, lang="osd", psm=tesserocr.PSM.OSD_ONLY)
    except RuntimeError:
        return None


def tesseract_scripts_wanted() -> frozenset[str] | None:
    """Scripts named in ``GEOLOCATE_TEXT_SCRIPTS`` (comma-separated, e.g. "Cyrillic,Arabic"), or None for every installed one.

    Scripts left out are never tried (their lines are said to be unreadable); the others load when a
    line needs them, at most :func:`max_script_models` at once.
    """
    raw = os.environ.get("GEOLOCATE_TEXT_SCRIPTS", "").strip()
    if not raw:
        return None
    return frozenset(s.strip() for s in raw.split(",") if s.strip())


def warm_up() -> None:
    """Load PP-OCR and Tesseract's Latin model now (the app calls it at start so the first photo does not wait)."""
    _pp_engine()
    readers, _ = _tess_engines()
    if readers is not None and "Latin" in _ENGINES.scripts:
        readers.get("Latin")


# -------------------------------------------------------------------------------------------- pixels
def pixel_key(image: Any) -> str:
    """A hash of the image's pixels, size and mode (the cache key): equal pixels, equal key."""
    arr = np.asarray(image)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{arr.shape}{arr.dtype}".encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _rgb_array(image: Any) -> np.ndarray:
    if hasattr(image, "convert"):
        image = image.convert("RGB")
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3], dtype=np.uint8)


def _crop_line(rgb: np.ndarray, box: np.ndarray, height: int = 48, pad: int = 8) -> Any:
    """The line inside ``box`` (4x2 corners), straightened, grey, ``height`` px tall plus a border (a PIL image)."""
    import cv2
    from PIL import Image

    w = int(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
    h = int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
    w, h = max(w, 2), max(h, 2)
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(box.astype(np.float32), dst)
    crop = cv2.warpPerspective(rgb, m, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    if h >= 1.5 * w:
        crop = np.rot90(crop)
        w, h = h, w
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    scale = height / h
    grey = cv2.resize(grey, (max(2, int(round(w * scale))), height), interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    grey = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return Image.fromarray(grey)


_MIXED_CASE = re.compile(r"\b[^\W\d_]*[a-z][A-Z][^\W\d_]*[a-z][^\W\d_]*\b")
"""A word with a capital between small letters and more small letters after it ("MocKBa", "AnTeKa")."""


def _unsure(text: str, score: float) -> bool:
    """True when a PP-OCR reading needs a second reader."""
    if not text.strip() or score < PP_TRUST:
        return True
    scripts = set(script_counts(text))
    if scripts - PP_SCRIPTS:
        return True
    return bool(_MIXED_CASE.search(text))


def _tesseract_line(api: Any, rgb: np.ndarray, box: np.ndarray) -> tuple[str, float, str, Any]:
    """(text, confidence 0..1, dominant script, line image) of one box read by Tesseract.

    Read at 32 px a line (Tesseract's sweet spot; Arabic fails above it), again at 44 px when unsure.
    """
    best: tuple[str, float, str, Any] = ("", 0.0, "Common", None)
    for height in (32, 44):
        image = _crop_line(rgb, box, height=height)
        api.SetImage(image)
        text = _tidy(api.GetUTF8Text())  # the line in logical order (word by word, right-to-left words come out reversed)
        conf = max(0.0, float(api.MeanTextConf()) / 100.0) if text else 0.0
        if best[3] is None or conf > best[1]:
            best = (text, conf, dominant_script(text), image)
        if conf >= 0.75:
            break
    return best


_NO_SPACE = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff"
_SPLIT = re.compile(f"(?<=[{_NO_SPACE}]) (?=[{_NO_SPACE}])")
"""A space Tesseract puts between two letters of scripts written without spaces (Thai, Lao, Khmer, Myanmar, Han, kana)."""


def _tidy(text: str) -> str:
    """One line: controls and bidi marks removed, whitespace collapsed, no space inside Thai or Japanese words.

    Nor before a combining mark (Tesseract splits Thai "ร ้าน").
    """
    text = " ".join(clean_text(text, 2000).split())
    if "µ" in text and "Greek" in script_counts(text):  # the micro sign Tesseract reads for Greek mu
        text = text.replace("µ", "μ")
    text = "".join(ch for i, ch in enumerate(text) if not (ch == " " and i + 1 < len(text) and unicodedata.category(text[i + 1]) == "Mn"))
    return _SPLIT.sub("", text)


def _purity(text: str, script: str) -> float:
    """Share of the letters of ``text`` in ``script`` (kana and Han together for "Japanese")."""
    counts = script_counts(text)
    total = sum(counts.values())
    if not total:
        return 0.0
    mine = counts.get(script, 0) + (sum(counts.get(k, 0) for k in ("Hiragana", "Katakana", "Han")) if script == "Japanese" else 0)
    return mine / total


def _hinted_scripts(text: str) -> list[str]:
    """Scripts PP-OCR does not read whose letters appear in its reading (kana as "Japanese"), most letters first.

    An unsure reading in Chinese characters hints at Japanese (kana PP-OCR could not read).
    """
    counts: dict[str, int] = {"Japanese": 0} if dominant_script(text) == "Han" else {}
    for sc, n in script_counts(text).items():
        sc = "Japanese" if sc in ("Hiragana", "Katakana") else sc
        if sc not in PP_SCRIPTS:
            counts[sc] = counts.get(sc, 0) + n
    return sorted(counts, key=lambda k: -counts[k])


def _tesseract_best(readers: ScriptReaders, scripts: Sequence[str], rgb: np.ndarray, box: np.ndarray, sure: float = GOOD_READING,
                    deadline: float = float("inf"), trusted: Sequence[str] = ()) -> tuple[str, float, str, Any, str]:
    """The best Tesseract reading of a box over ``scripts``' models, tried in order (call under ``readers.lock``).

    Readings mostly (>= 80 %) in their model's script rank first, then by confidence, with 0.1 more for
    a ``trusted`` script (one this photo's other lines were read in: Greek and Cyrillic models read each
    other's capitals almost as well). The search stops at a reading that is so and at least ``sure``
    confident (:data:`TESS_ACCEPT` for a trusted script), or at ``deadline`` (``time.thread_time``:
    Tesseract runs in this thread).

    Returns:
        (text, confidence 0..1, dominant script, line image, the model's script); ("", 0, "Common", None, "") when
        no model read anything.
    """
    best: tuple[str, float, str, Any, str] = ("", 0.0, "Common", None, "")
    best_key = (False, -1.0)
    for script in scripts:
        if time.thread_time() > deadline:
            break
        api = readers.get(script)
        if api is None:
            continue
        text, conf, dom, image = _tesseract_line(api, rgb, box)
        pure = bool(text) and _purity(text, script) >= 0.8
        key = (pure, conf + (0.1 if script in trusted else 0.0))
        if key > best_key:
            best, best_key = (text, conf, dom, image, script), key
        if pure and conf >= (TESS_ACCEPT if script in trusted else sure):
            break
    return best


def _osd_script(get_osd: Any, images: Sequence[Any]) -> str:
    """The script Tesseract's orientation-and-script detection sees in a mosaic of line images ("" if unsure)."""
    from PIL import Image

    osd = get_osd() if callable(get_osd) and images else None
    if osd is None or not images:
        return ""
    tiles = list(images)[:6] * 4  # OSD needs dozens of characters: repeat the lines
    w = max(t.width for t in tiles)
    mosaic = Image.new("L", (w + 20, sum(t.height + 6 for t in tiles) + 20), 255)
    y = 10
    for t in tiles:
        mosaic.paste(t, (10, y))
        y += t.height + 6
    try:
        osd.SetImage(mosaic)
        r = osd.DetectOrientationScript()
    except RuntimeError:
        return ""
    finally:
        _end(osd)  # loads in ~0.05 s: not worth keeping 32 MB resident
    if not r or float(r.get("script_conf", 0.0)) < 1.0:
        return ""
    name = str(r.get("script_name", ""))
    return _OSD_NAMES.get(name, name)


# ------------------------------------------------------------------------------------------- reading
def read_image(image: Any, max_lines: int = MAX_LINES) -> ReadResult:
    """Read the text in an image (PIL image or RGB array), cached by pixel hash.

    Args:
        image: the photo, in memory (``Photo.image``: RGB, 1,024 px on the short side).
        max_lines: lines kept (most confident first).

    Returns:
        A :class:`ReadResult`; never raises for an image it cannot read (the reason is a message).
    """
    key = f"{pixel_key(image)}:{max_lines}"
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    result = _read(image, max_lines)
    if _ENGINES.pp is not None:  # a missing reader is not cached: installing it must take effect
        with _CACHE_LOCK:
            _CACHE[key] = result
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)
    return result


def read_photo(photo: Any, max_lines: int = MAX_LINES) -> ReadResult:
    """:func:`read_image` of a :class:`~geolocate.image.photo.Photo` (its in-memory ``image``)."""
    return read_image(photo.image, max_lines)


def cached(image: Any, max_lines: int = MAX_LINES) -> ReadResult | None:
    """The cached reading of ``image`` if it was read already, else None (never reads)."""
    with _CACHE_LOCK:
        return _CACHE.get(f"{pixel_key(image)}:{max_lines}")


def clear_cache() -> None:
    """Forget every cached reading."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _read(image: Any, max_lines: int) -> ReadResult:
    t0 = time.perf_counter()
    eng = _pp_engine()
    rgb = _rgb_array(image)
    size = (int(rgb.shape[1]), int(rgb.shape[0]))
    if eng is None:
        return ReadResult(messages=(Message("warning", _ENGINES.pp_error or "The text reader is not available."),), size=size)
    if rgb.shape[0] < 8 or rgb.shape[1] < 8:
        return ReadResult(messages=(Message("info", "No text found in the photo."),), seconds=time.perf_counter() - t0, size=size)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    with _ENGINES.pp_lock:
        raw, _ = eng(bgr)
    raw = raw or []
    boxes = [np.asarray(b, dtype=np.float32).reshape(4, 2) for b, _, _ in raw]
    texts = [str(t) for _, t, _ in raw]
    scores = [float(s) for _, _, s in raw]
    keep = [i for i, b in enumerate(boxes) if min(np.linalg.norm(b[0] - b[3]), np.linalg.norm(b[1] - b[2])) >= 6]
    messages: list[Message] = []
    readings: dict[int, tuple[str, float, str, str]] = {i: (texts[i].strip(), scores[i], dominant_script(texts[i]), "pp-ocr") for i in keep}
    unsure = [i for i in keep if _unsure(texts[i], scores[i])]
    if unsure:
        readers, osd = _tess_engines()
        area = {i: float(np.linalg.norm(boxes[i][0] - boxes[i][1]) * np.linalg.norm(boxes[i][0] - boxes[i][3])) for i in unsure}
        unsure.sort(key=lambda i: -area[i])
        if readers is None:
            non_latin = [i for i in unsure if scores[i] < PP_TRUST]
            if non_latin:
                messages.append(Message("warning", f"{len(non_latin)} line(s) may be in a script other than Latin or Chinese and could not be checked: {_ENGINES.tess_error or INSTALL_TESSERACT}"))
        else:
            crops: dict[int, Any] = {}
            unread: list[int] = []
            available = _ENGINES.scripts
            with readers.lock:
                deadline = time.thread_time() + TESSERACT_BUDGET_S
                skipped = 0
                photo_scripts: list[str] = []  # scripts that read a line of this photo well, best first
                probed = False
                for i in unsure[:MAX_TESSERACT_LINES]:
                    if time.thread_time() > deadline:
                        skipped += 1
                        continue
                    p_text, p_conf, p_script, _ = readings[i]
                    pp_doubtful = p_conf < 0.9 or not p_text or bool(set(script_counts(p_text)) - PP_SCRIPTS) or bool(_MIXED_CASE.search(p_text))
                    # likely scripts first: this photo's, those PP-OCR's letters hint at (a "MocKBa" is Cyrillic or
                    # Greek), those loaded; Latin last unless PP-OCR was nearly sure of a Latin reading (Latin reads
                    # Cyrillic look-alikes with confidence)
                    hints = _hinted_scripts(p_text) + (["Cyrillic", "Greek"] if _MIXED_CASE.search(p_text) else [])
                    others = [x for x in readers.loaded() if x != "Latin"]
                    order = photo_scripts + hints + (others + ["Latin"] if pp_doubtful else ["Latin"] + others)
                    likely = [x for x in dict.fromkeys(order) if x in available]
                    t_text, t_conf, t_script, crops[i], model = _tesseract_best(readers, likely, rgb, boxes[i], deadline=deadline, trusted=photo_scripts)
                    good = bool(t_text) and t_conf >= GOOD_READING and _purity(t_text, model) >= 0.8
                    if not good and pp_doubtful and not photo_scripts and not probed:
                        # no likely script reads it: try every other installed one (once per photo: bounded time)
                        probed = True
                        rest = [x for x in available if x not in likely]
                        found = _tesseract_best(readers, rest, rgb, boxes[i], deadline=deadline)
                        if (bool(found[0]) and _purity(found[0], found[4]) >= 0.8, found[1]) > (bool(t_text) and _purity(t_text, model) >= 0.8, t_conf):
                            t_text, t_conf, t_script, _img, model = found
                    if t_text and t_script not in PP_SCRIPTS and pp_doubtful and t_conf >= TESS_ACCEPT and _purity(t_text, t_script) >= 0.8:
                        readings[i] = (t_text, t_conf, t_script, "tesseract")
                        if model != "Latin" and model not in photo_scripts:  # the photo's other lines are likely in it too
                            photo_scripts.append(model)
                            readers.get(model)  # most recently used: the next photo tries it before a full search
                    elif t_text and t_conf > p_conf + 0.1 and t_conf >= 0.7 and t_script in PP_SCRIPTS:
                        readings[i] = (t_text, t_conf, t_script, "tesseract")
                    elif pp_doubtful and p_script in PP_SCRIPTS and (p_conf < MIN_SCORE or _MIXED_CASE.search(p_text) or max(p_conf, t_conf) < PP_TRUST):
                        unread.append(i)
                if unread:
                    seen = _osd_script(osd, [crops[i] for i in unread if crops.get(i) is not None])
                    if seen and seen not in PP_SCRIPTS and seen in TESSERACT_SCRIPTS and seen not in available:
                        messages.append(Message("warning", f"Text in {seen} script could not be read: install {missing_pack(seen)}."))
                        for i in unread:  # what PP-OCR made of it is Latin look-alikes, not text
                            p_text, _, p_script, r = readings[i]
                            readings[i] = (p_text, min(readings[i][1], MIN_SCORE - 0.01), p_script, r)
                    else:
                        missing = [s for s in COMMON_SCRIPTS if s not in available]
                        # a confident Latin reading with an odd capital ("McDonald") is no reason to ask for packs
                        unread = [i for i in unread if not readings[i][0] or readings[i][1] < 0.8 or (readings[i][1] < 0.9 and _MIXED_CASE.search(readings[i][0]))]
                        if missing and unread:
                            packs = " ".join(missing_pack(s) for s in missing[:6])
                            messages.append(Message(
                                "warning",
                                f"{len(unread)} line(s) could not be read with confidence. If they are in a script with no model here "
                                f"({', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}), install it: apt-get install {packs}",
                            ))
            if skipped:
                messages.append(Message("info", f"{skipped} unsure line(s) were not re-read: Tesseract's {TESSERACT_BUDGET_S:g} CPU seconds for this photo were spent."))
            if len(unsure) > MAX_TESSERACT_LINES:
                messages.append(Message("info", f"Only the {MAX_TESSERACT_LINES} largest of {len(unsure)} unsure lines were checked with Tesseract."))
    _respace(readings, rgb, boxes)
    lines = [
        TextLine(text=t[:500], box=tuple((float(x), float(y)) for x, y in boxes[i]), confidence=round(float(c), 4), script=s, reader=r)
        for i, (t, c, s, r) in readings.items()
        if t and c >= MIN_SCORE
    ]
    dropped = 0
    if len(lines) > max_lines:
        dropped = len(lines) - max_lines
        best = sorted(range(len(lines)), key=lambda k: -lines[k].confidence)[:max_lines]
        lines = [lines[k] for k in sorted(best)]
        messages.append(Message("info", f"Read {len(lines) + dropped} lines; kept the {max_lines} most confident."))
    if not lines:
        messages.append(Message("info", "No text found in the photo."))
    _trim_heap()
    return ReadResult(tuple(lines), tuple(messages), time.perf_counter() - t0, size, dropped)


MAX_RESPACED = 6
"""Latin lines per photo whose missing spaces are restored from Tesseract's reading."""

_RUN = re.compile(r"[^\W\d_]{13,}")


def _respace(readings: dict[int, tuple[str, float, str, str]], rgb: np.ndarray, boxes: list[np.ndarray]) -> None:
    """Restore the spaces PP-OCR drops in Latin lines ("Abiertotodoslosdias") from Tesseract's reading of the box.

    Only lines with a run of 13 or more letters are checked (few real words are that long); PP-OCR's
    letters are kept, and a space is put before each letter that Tesseract read after a space, when the
    two readings agree on at least 85 % of the letters.
    """
    todo = [i for i, (t, _c, scr, r) in readings.items() if r == "pp-ocr" and scr == "Latin" and _RUN.search(t)][:MAX_RESPACED]
    if not todo:
        return
    readers, _ = _tess_engines()
    if readers is None:
        return
    from difflib import SequenceMatcher

    with readers.lock:
        api = readers.get("Latin")
        if api is None:
            return
        for i in todo:
            text, conf, scr, r = readings[i]
            t_text, _t_conf, _s, _img = _tesseract_line(api, rgb, boxes[i])
            a = [ch for ch in text if not ch.isspace()]
            b: list[str] = []
            space_before: list[bool] = []
            for k, ch in enumerate(t_text):
                if not ch.isspace():
                    b.append(ch)
                    space_before.append(k > 0 and t_text[k - 1].isspace())
            sm = SequenceMatcher(None, "".join(a).casefold(), "".join(b).casefold(), autojunk=False)
            if not a or sm.ratio() < 0.85:
                continue
            mapped = {}
            for blk in sm.get_matching_blocks():
                for k in range(blk.size):
                    mapped[blk.a + k] = blk.b + k
            out: list[str] = []
            n = 0
            for ch in text:
                if ch.isspace():
                    if out and out[-1] != " ":
                        out.append(" ")
                    continue
                j = mapped.get(n)
                if j is not None and space_before[j] and out and out[-1] != " ":
                    out.append(" ")
                out.append(ch)
                n += 1
            readings[i] = ("".join(out).strip(), conf, scr, r)


def _trim_heap() -> None:
    """Give the detector's freed activations (~200 MB) back to the OS (glibc keeps them otherwise)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


__all__ = [
    "CACHE_SIZE", "MAX_SCRIPT_MODELS", "ScriptReaders", "max_script_models", "ocr_threads", "MAX_LINES", "tesseract_scripts_wanted", "PP_TRUST", "ReadResult", "TESSERACT_SCRIPTS", "TextLine", "cached", "clear_cache",
    "installed_models", "missing_pack", "pixel_key", "read_image", "read_photo", "reader_status", "tessdata_dir", "warm_up",
]
