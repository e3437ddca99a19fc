"""A vision-language model as an expert: ask any OpenAI-compatible endpoint, turn its sampled answers into densities.

Pieces, from the wire to the ensemble:

* **Where the photo may go.** :func:`endpoint_allowed` / :func:`endpoint_refusal`: in privacy mode only
  endpoints on the app's own host (loopback, ``localhost``, this machine's host name) or on the
  allow-list ``GEOLOCATE_VLM_ALLOWED_HOSTS`` (comma-separated host names) may receive a photo.
  :func:`endpoint_host` is what the app names to the analyst (never user info, path or query).
* **The key.** :func:`api_key_from_env` reads ``GEOLOCATE_VLM_API_KEY``, else ``OPENAI_API_KEY``; it is
  sent as a bearer token and never logged, shown, put in links, reports or messages (every message
  passes :meth:`VLMClient.scrub`). :func:`key_allowed` keeps the server's key from being sent to a host
  the analyst typed that the server was not configured for.
* **The client.** :class:`VLMClient` (on the official ``openai`` package) sends the photo as a base64
  JPEG data URL (``detail: low``) with the GeoCoT-style prompt of :func:`build_prompt` (clues first,
  then countries with probabilities, then candidate coordinates with confidence and radius; optional
  analyst-consented context and G3-style retrieval hints), asks for structured output through
  ``response_format`` (JSON schema) and falls back to plain text when the server refuses it; samples
  ``n`` answers in one request where the server honours ``n``, else one request per missing sample;
  timeouts (default 60 s), retries with backoff on 429 / 5xx / dropped connections, a per-minute
  request cap. Every failure becomes a :class:`~geolocate.evidence.base.Message`; what parsed is used.
* **The parser.** :func:`parse_answer` accepts the G3 form (``{"latitude": .., "longitude": ..}``),
  also in a code fence or with prose around it, and the richer form of :data:`ANSWER_SCHEMA`.
* **The distribution.** :func:`answers_experts`: each candidate a von Mises-Fisher kernel whose width is
  half the stated radius (floored at :data:`MIN_RADIUS_KM`), or the scale mixture fitted on a benchmark
  of the model's answers (:func:`set_fitted_mixture`), or, with neither, :func:`default_answer_mixture`;
  candidates weighted by confidence within a sample and samples equally; the countries' probabilities,
  averaged over samples, become a :class:`~geolocate.experts.region.CountryProbabilityExpert`.
* **The cache.** :class:`AnswerCache`: answers per (photo digest, endpoint, model, samples), in memory
  only, bounded (never on disk).
* **Batches and benchmarks.** :func:`ask_many` (bounded concurrency, for ``embed``), :func:`answer_rows`
  (rows id, sample, lat, lon, confidence, radius_km), :func:`read_answers_csv` and
  :class:`SampledPointPredictions` (a batch expert for ``bench``; a :class:`PointPredictions`, so the
  benchmark fits its scale mixture on the fit half like any point model), :func:`vlm_bench_expert`.
"""

from __future__ import annotations

import base64
import collections
import functools
import hashlib
import io
import ipaddress
import json
import logging
import math
import os
import re
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from ..grid import EARTH_RADIUS_KM, CellSet, latlon_to_xyz
from ..metrics import haversine_km
from .base import Expert, ExpertKind
from .point import DEFAULT_SCALES_KM, PointPredictions, fit_scale_mixture, kernel_log_density, kernel_log_density_bounds

if TYPE_CHECKING:
    from PIL import Image

    from ..data import BenchmarkSpec
    from ..evidence.base import Message

log = logging.getLogger(__name__)


class _NoPhotosInLogs(logging.Filter):
    """Redacts any record of the HTTP client that quotes a data URL (older ``openai`` versions log request bodies at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:
            return True
        if "data:image" in text or ";base64," in text:
            record.msg, record.args = "[a request body holding a photo: not logged]", ()
        return True


for _name in ("openai", "openai._base_client"):
    logging.getLogger(_name).addFilter(_NoPhotosInLogs())

KEY_ENV = "GEOLOCATE_VLM_API_KEY"
"""Environment variable holding the API key (else ``OPENAI_API_KEY``)."""
FALLBACK_KEY_ENV = "OPENAI_API_KEY"
ALLOWED_HOSTS_ENV = "GEOLOCATE_VLM_ALLOWED_HOSTS"
"""Comma-separated host names that may receive photos in privacy mode (besides this machine)."""
ENDPOINT_ENV = "GEOLOCATE_VLM_ENDPOINT"
"""The server's configured endpoint (base URL), the app's default; its host may receive the key."""
MODEL_ENV = "GEOLOCATE_VLM_MODEL"
"""The server's configured model name, the app's default."""

DEFAULT_SAMPLES = 5
MAX_SAMPLES = 20
DEFAULT_TEMPERATURE = 1.0
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 3
DEFAULT_MAX_TOKENS = 1500
DEFAULT_REQUESTS_PER_MINUTE = 30
DEFAULT_IMAGE_SIDE = 1024
"""Longest side (px) of the JPEG sent (``detail: low`` servers shrink to 512 anyway)."""
MAX_BACKOFF_S = 30.0

MIN_RADIUS_KM = 10.0
"""Smallest stated radius used (km): a model saying "within 1 km" gets a 10 km radius (sigma 5 km)."""
MAX_RADIUS_KM = 5000.0
MAX_CANDIDATES = 5
"""Candidates read per answer (the prompt asks for at most this many)."""
MAX_COUNTRIES = 10
MAX_ANSWER_CHARS = 100_000
"""Characters of one answer that are parsed (the rest is said to be cut)."""
MAX_RAW_CHARS = 20_000
"""Characters of one raw answer kept (for the app and the ``embed`` shards)."""
MAX_CLUES, MAX_CLUE_CHARS, MAX_REASONING_CHARS = 20, 300, 4000
MAX_JSON_TRIES = 64
"""Opening braces tried when looking for a JSON object in prose."""

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


# --------------------------------------------------------------------------------------------------
# Where a photo may be sent, and the key


def endpoint_host(url: str) -> str:
    """The host (and port, when given) a URL sends to, for the analyst to read; "" when there is none.

    User info, path and query never appear (they may hold secrets).
    """
    try:
        parts = urlsplit(str(url).strip())
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:
        return ""
    if not host:
        return ""
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port else shown


def allowed_hosts() -> set[str]:
    """Host names of ``GEOLOCATE_VLM_ALLOWED_HOSTS`` (lower case; "host:port" entries keep the host)."""
    out = set()
    for item in os.environ.get(ALLOWED_HOSTS_ENV, "").split(","):
        item = item.strip().lower().rstrip(".")
        if not item:
            continue
        if "://" in item:
            item = (urlsplit(item).hostname or "").rstrip(".")
        elif item.count(":") == 1:
            item = item.split(":")[0]
        out.add(item.strip("[]"))
    return out - {""}


def _is_own_host(host: str) -> bool:
    """Loopback addresses, localhost and this machine's own host name (no DNS lookups)."""
    host = host.lower().rstrip(".").strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host in {socket.gethostname().lower()}
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def endpoint_refusal(url: str, privacy: bool) -> str | None:
    """Why a photo may not be sent to ``url`` (plain text), or None when it may.

    Args:
        url: the endpoint's base URL (e.g. ``http://127.0.0.1:8000/v1``).
        privacy: privacy mode: only this machine and the allow-list may receive photos.
    """
    text = str(url or "").strip()
    if not text:
        return "No endpoint given: enter the base URL of an OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1)."
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").rstrip(".")
        _ = parts.port
    except ValueError:
        return "The endpoint is not a valid URL."
    if parts.scheme not in ("http", "https") or not host:
        return "The endpoint must be an http:// or https:// URL with a host name."
    if parts.query or parts.fragment:
        return "The endpoint must not have a query or fragment (put the key in GEOLOCATE_VLM_API_KEY, never in the URL)."
    if privacy and not (_is_own_host(host) or host.lower() in allowed_hosts()):
        return (
            f"Privacy mode: photos may only go to a model on this machine or on a host the server allows "
            f"({ALLOWED_HOSTS_ENV}); {endpoint_host(text)} is neither."
        )
    return None


def endpoint_allowed(url: str, privacy: bool) -> bool:
    """True when a photo may be sent to ``url`` (see :func:`endpoint_refusal`)."""
    return endpoint_refusal(url, privacy) is None


def api_key_from_env() -> str | None:
    """The API key from ``GEOLOCATE_VLM_API_KEY``, else ``OPENAI_API_KEY``; None when neither is set."""
    for name in (KEY_ENV, FALLBACK_KEY_ENV):
        v = os.environ.get(name, "").strip()
        if v:
            return v
    return None


def key_allowed(url: str) -> bool:
    """True when the server's key may be sent to ``url``'s host.

    The key goes only where the server was configured to send it: this machine, the allow-list, the
    host of ``GEOLOCATE_VLM_ENDPOINT``, and api.openai.com for a key from ``OPENAI_API_KEY``. An
    endpoint an analyst types in the app gets no key otherwise (a key must not leave for any host).
    """
    host = (urlsplit(str(url)).hostname or "").lower().rstrip(".")
    if not host:
        return False
    if _is_own_host(host) or host in allowed_hosts():
        return True
    configured = (urlsplit(os.environ.get(ENDPOINT_ENV, "")).hostname or "").lower().rstrip(".")
    if configured and host == configured:
        return True
    return host == "api.openai.com" and not os.environ.get(KEY_ENV, "").strip() and bool(os.environ.get(FALLBACK_KEY_ENV, "").strip())


def normalise_endpoint(url: str) -> str:
    """The base URL without surrounding spaces or trailing slashes (the cache key's form)."""
    return str(url or "").strip().rstrip("/")


# --------------------------------------------------------------------------------------------------
# The prompt and the answer


ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "clues": {"type": "array", "items": {"type": "string"}},
        "reasoning": {"type": "string"},
        "countries": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "probability": {"type": "number"}},
                "required": ["code", "probability"],
                "additionalProperties": False,
            },
        },
        "candidates": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "latitude": {"type": "number"},
                    "longitude": {"type": "number"},
                    "confidence": {"type": "number"},
                    "radius_km": {"type": "number"},
                    "place": {"type": "string"},
                },
                "required": ["latitude", "longitude", "confidence", "radius_km", "place"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["clues", "reasoning", "countries", "candidates"],
    "additionalProperties": False,
}
"""JSON schema of the richer answer (also sent as ``response_format`` where the server supports it)."""

RESPONSE_FORMAT: dict[str, Any] = {"type": "json_schema", "json_schema": {"name": "geolocation", "strict": True, "schema": ANSWER_SCHEMA}}


def build_prompt(stated: Sequence[tuple[str, str]] = (), hints: Sequence[tuple[float, float]] = ()) -> str:
    """The GeoCoT-style instruction: clues first, then countries, then candidate coordinates.

    Args:
        stated: (statement, value) pairs the analyst agreed to send (countries in or out, time); plain text.
        hints: G3-style retrieval hints: (lat, lon) in degrees of the nearest GeoCLIP gallery entries.
    """
    lines = [
        "You are an expert in photo geolocation. Work out where this photo was taken.",
        "1. List the visible clues first: text and its language or script, vehicles and the side of the road they drive on, "
        "road markings, signs, bollards and utility poles, vegetation, architecture, terrain and soil, climate, the sun and shadows.",
        f"2. From the clues, give up to {MAX_COUNTRIES} candidate countries as ISO 3166-1 alpha-3 codes with probabilities "
        "(summing to at most 1).",
        f"3. Give up to {MAX_CANDIDATES} candidate locations: latitude and longitude in decimal degrees, a confidence "
        "(0 to 1, summing to at most 1) and a radius in km within which you expect the true location, and the place's name.",
        "Answer with one JSON object only, in this form:",
        '{"clues": ["..."], "reasoning": "...", "countries": [{"code": "FRA", "probability": 0.6}], '
        '"candidates": [{"latitude": 48.85, "longitude": 2.35, "confidence": 0.5, "radius_km": 50, "place": "Paris"}]}',
    ]
    if stated:
        lines.append("The analyst states (treat as reliable): " + "; ".join(f"{a}: {b}" for a, b in stated) + ".")
    if hints:
        pts = ", ".join(f"({la:.4f}, {lo:.4f})" for la, lo in list(hints)[:16])
        lines.append(f"GPS coordinates of visually similar photos (may be wrong): {pts}.")
    return "\n".join(lines)


@dataclass(frozen=True)
class Candidate:
    """One candidate location of one answer.

    Attributes:
        lat: latitude in degrees.
        lon: longitude in degrees.
        confidence: the model's stated confidence in [0, 1], or None.
        radius_km: the stated uncertainty radius (km), or None.
        place: the place's name as the model wrote it (plain text).
    """

    lat: float
    lon: float
    confidence: float | None = None
    radius_km: float | None = None
    place: str = ""


@dataclass(frozen=True)
class ParsedAnswer:
    """One sampled answer, as parsed.

    Attributes:
        candidates: the usable candidate locations (at most :data:`MAX_CANDIDATES`).
        countries: ISO-3 code -> probability (known codes only).
        clues: the clues the model listed (plain text, clipped).
        reasoning: its reasoning (plain text, clipped).
        problems: what could not be used, in plain text.
        refusal: the model's refusal text when it declined, else None.
        raw: the answer's text (clipped to :data:`MAX_RAW_CHARS`).
    """

    candidates: tuple[Candidate, ...] = ()
    countries: tuple[tuple[str, float], ...] = ()
    clues: tuple[str, ...] = ()
    reasoning: str = ""
    problems: tuple[str, ...] = ()
    refusal: str | None = None
    raw: str = ""

    @property
    def usable(self) -> bool:
        """True when the answer gives a candidate or a country."""
        return bool(self.candidates or self.countries)


def clip(text: str, n: int) -> str:
    """``text`` cut to ``n`` characters with an ellipsis."""
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


_LAT_KEYS = ("latitude", "lat")
_LON_KEYS = ("longitude", "lon", "lng", "long")
_REFUSAL = re.compile(
    r"\b(i\s+can(?:no|')t|i\s+cannot|i\s+am\s+(?:not\s+able|unable)|i'm\s+(?:not\s+able|unable)|i\s+won't|i'm\s+sorry|"
    r"i\s+apologi[sz]e|can(?:no|')t\s+(?:help|assist|determine|identify)|unable\s+to\s+(?:help|assist|determine|identify))",
    re.IGNORECASE,
)
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_PROSE_COORDS = re.compile(
    r"lat(?:itude)?\W{0,4}(-?\d{1,3}(?:\.\d+)?)\s*°?\s*([NS])?\W{1,12}(?:lon|lng|long|longitude)\W{0,4}(-?\d{1,3}(?:\.\d+)?)\s*°?\s*([EW])?",
    re.IGNORECASE,
)


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        x = float(v)
    elif isinstance(v, str):
        m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?(?:[eE]-?\d+)?)\s*(?:km|%)?\s*", v)
        if not m:
            return None
        x = float(m.group(1)) / (100.0 if v.strip().endswith("%") else 1.0)
    else:
        return None
    return x if math.isfinite(x) else None


def _coord(v: Any) -> float | None:
    """A coordinate in degrees: a number, or text such as "48.85", "−33.9", "48.85° N", "2.35 W"."""
    if isinstance(v, str):
        m = re.fullmatch(r"\s*([-+\u2212]?\d+(?:\.\d+)?)\s*°?\s*([NSEWnsew])?\s*", v)
        if not m:
            return None
        x = float(m.group(1).replace("\u2212", "-"))
        return -abs(x) if (m.group(2) or "").upper() in ("S", "W") else x
    return _number(v)


def _get(d: Mapping[str, Any], keys: Sequence[str]) -> Any:
    lower = {str(k).lower(): v for k, v in d.items()}
    for k in keys:
        if k in lower:
            return lower[k]
    return None


def _json_values(text: str) -> Iterator[Any]:
    """JSON values in ``text``: the whole text, code fences, then objects starting at opening braces."""
    stripped = text.strip()
    if stripped[:1] in "{[":
        try:
            yield json.loads(stripped)
        except ValueError:
            pass
    for m in _FENCE.finditer(text):
        try:
            yield json.loads(m.group(1).strip())
        except ValueError:
            pass
    dec = json.JSONDecoder()
    start, tries = 0, 0
    while tries < MAX_JSON_TRIES:
        i = text.find("{", start)
        if i < 0:
            break
        tries += 1
        try:
            value, end = dec.raw_decode(text, i)
        except ValueError:
            start = i + 1
            continue
        yield value
        start = end


def _has_coords(d: Any) -> bool:
    return isinstance(d, Mapping) and _get(d, _LAT_KEYS) is not None and _get(d, _LON_KEYS) is not None


def _answer_object(text: str) -> Any:
    """The first JSON value that holds candidates, countries or coordinates; None when there is none."""
    for v in _json_values(text):
        if isinstance(v, Mapping) and (_has_coords(v) or isinstance(_get(v, ("candidates", "locations")), list) or _get(v, ("countries",)) is not None):
            return v
        if isinstance(v, list) and v and all(_has_coords(x) for x in v):
            return v
    return None


_country_lookup_cache: dict[str, str] = {}


def country_code(name: str) -> str | None:
    """ISO-3 code of a country given as ISO-3, ISO-2 or its English name (case-insensitive); None if unknown."""
    if not _country_lookup_cache:
        from ..layers import country_table

        for c in country_table():
            for k in (c["iso3"], c.get("iso2") or "", c.get("name") or ""):
                if k and str(k).strip() and str(k).strip() != "-99":
                    _country_lookup_cache.setdefault(str(k).strip().casefold(), c["iso3"])
    return _country_lookup_cache.get(str(name).strip().casefold())


def _read_candidate(d: Mapping[str, Any], problems: list[str]) -> Candidate | None:
    lat, lon = _coord(_get(d, _LAT_KEYS)), _coord(_get(d, _LON_KEYS))
    if lat is None or lon is None:
        problems.append("a candidate without numeric latitude and longitude was skipped")
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        problems.append(f"candidate ({lat:g}, {lon:g}) is out of range (latitude in [-90, 90], longitude in [-180, 180]) and was skipped")
        return None
    conf = _number(_get(d, ("confidence", "probability", "p", "weight")))
    conf = None if conf is None or conf < 0 else min(conf, 1.0)
    radius = _number(_get(d, ("radius_km", "radius", "uncertainty_km", "error_km")))
    radius = radius if radius is not None and radius > 0 else None
    place = _get(d, ("place", "name", "city", "location"))
    return Candidate(lat, lon, conf, radius, clip(place, 120) if isinstance(place, str) else "")


def _read_countries(value: Any, problems: list[str]) -> tuple[tuple[str, float], ...]:
    items: list[tuple[Any, Any]] = []
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, list):
        for x in value:
            if isinstance(x, Mapping):
                items.append((_get(x, ("code", "iso3", "country", "name")), _get(x, ("probability", "p", "confidence", "weight"))))
            elif isinstance(x, str):
                items.append((x, None))
    out: dict[str, float] = {}
    unknown = []
    for code, p in items[: 4 * MAX_COUNTRIES]:
        iso = country_code(str(code)) if code is not None else None
        prob = _number(p)
        if iso is None:
            unknown.append(clip(str(code), 30))
            continue
        if prob is None or prob < 0:
            continue
        out[iso] = out.get(iso, 0.0) + min(prob, 1.0)
    if unknown:
        problems.append(f"unknown countries ignored: {', '.join(repr(u) for u in unknown[:5])}" + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""))
    top = sorted(out.items(), key=lambda kv: -kv[1])[:MAX_COUNTRIES]
    total = sum(p for _, p in top)
    if total > 1.0:
        top = [(c, p / total) for c, p in top]
    return tuple(top)


def parse_answer(text: str | None, refusal: str | None = None, finish_reason: str | None = None) -> ParsedAnswer:
    """Read one answer: the richer JSON form, the G3 form, either in a code fence or in prose.

    Args:
        text: the answer's text (the message content).
        refusal: the server's refusal field, when it sets one.
        finish_reason: the choice's finish reason ("stop", "length", "content_filter", ...).

    Returns:
        The parsed answer; never raises for a bad answer (its ``problems`` say what was wrong).
    """
    raw = clip(text or "", MAX_RAW_CHARS)
    if refusal:
        return ParsedAnswer(refusal=clip(refusal, 500), raw=raw)
    if finish_reason == "content_filter":
        return ParsedAnswer(refusal="the server's content filter stopped the answer", raw=raw)
    problems: list[str] = []
    body = text or ""
    if not body.strip():
        why = "the answer was empty" + (" (cut at the max-tokens limit)" if finish_reason == "length" else "")
        return ParsedAnswer(problems=(why,), raw=raw)
    if finish_reason == "length":
        problems.append("the answer was cut at the max-tokens limit")
    if len(body) > MAX_ANSWER_CHARS:
        problems.append(f"the answer has {len(body):,} characters; only the first {MAX_ANSWER_CHARS:,} were read")
        body = body[:MAX_ANSWER_CHARS]
    obj = _answer_object(body)
    candidates: list[Candidate] = []
    countries: tuple[tuple[str, float], ...] = ()
    clues: list[str] = []
    reasoning = ""
    if obj is None:
        m = _PROSE_COORDS.search(body)
        if m is not None:
            lat, lon = float(m.group(1)), float(m.group(3))
            lat = -abs(lat) if (m.group(2) or "").upper() == "S" else lat
            lon = -abs(lon) if (m.group(4) or "").upper() == "W" else lon
            c = _read_candidate({"latitude": lat, "longitude": lon}, problems)
            if c is not None:
                candidates.append(c)
                problems.append("no JSON in the answer; coordinates were read from its prose")
        elif _REFUSAL.search(body[:2000]):
            return ParsedAnswer(refusal=clip(body.strip(), 500), raw=raw)
        else:
            problems.append("no JSON object with coordinates or countries was found in the answer")
        return ParsedAnswer(tuple(candidates), (), (), "", tuple(problems), None, raw)
    if isinstance(obj, list):
        cands_in: list[Any] = obj
    elif _has_coords(obj) and not isinstance(_get(obj, ("candidates", "locations")), list):
        cands_in = [obj]
    else:
        found = _get(obj, ("candidates", "locations"))
        cands_in = found if isinstance(found, list) else []
    if isinstance(obj, Mapping):
        countries = _read_countries(_get(obj, ("countries",)), problems)
        c_in = _get(obj, ("clues",))
        if isinstance(c_in, str):
            c_in = [c_in]
        if isinstance(c_in, list):
            clues = [clip(str(c), MAX_CLUE_CHARS) for c in c_in if str(c).strip()][:MAX_CLUES]
        r = _get(obj, ("reasoning", "explanation", "rationale"))
        if isinstance(r, str):
            reasoning = clip(r, MAX_REASONING_CHARS)
    if len(cands_in) > MAX_CANDIDATES:
        problems.append(f"{len(cands_in)} candidates given; the first {MAX_CANDIDATES} were read")
    for d in cands_in[:MAX_CANDIDATES]:
        if isinstance(d, Mapping):
            c = _read_candidate(d, problems)
            if c is not None:
                candidates.append(c)
        else:
            problems.append("a candidate that is not a JSON object was skipped")
    if not candidates and not countries:
        problems.append("the answer gives no usable coordinates or countries")
    return ParsedAnswer(tuple(candidates), countries, tuple(clues), reasoning, tuple(dict.fromkeys(problems)), None, raw)


# --------------------------------------------------------------------------------------------------
# The photo


def image_of(photo: Any) -> Image.Image:
    """The PIL image of a :class:`~geolocate.image.photo.Photo` (its ``image``) or of a PIL image itself."""
    return getattr(photo, "image", photo)


_DIGESTS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_DIGESTS_LOCK = threading.Lock()


def photo_digest(photo: Any) -> str:
    """SHA-256 (hex) of a photo's decoded pixels, size and mode: the answer cache's key (in memory only).

    Memoised per image object (the app's decoded photos are never modified), so reruns do not rehash.
    """
    im = image_of(photo)
    with _DIGESTS_LOCK:
        try:
            hit = _DIGESTS.get(im)
        except TypeError:
            hit = None
    if hit is not None:
        return hit
    h = hashlib.sha256(f"{im.mode}:{im.size[0]}x{im.size[1]}:".encode())
    h.update(im.tobytes())
    digest = h.hexdigest()
    with _DIGESTS_LOCK:
        try:
            _DIGESTS[im] = digest
        except TypeError:
            pass
    return digest


def encode_photo(photo: Any, max_side: int = DEFAULT_IMAGE_SIDE, quality: int = 85) -> str:
    """The photo as a base64 JPEG data URL (in memory; never written to disk).

    Args:
        photo: a Photo or a PIL image.
        max_side: longest side in px of the copy sent.
        quality: JPEG quality.
    """
    im = image_of(photo).convert("RGB")
    if max(im.size) > max_side:
        s = max_side / max(im.size)
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# --------------------------------------------------------------------------------------------------
# The client


@dataclass(frozen=True)
class VLMConfig:
    """How to ask one model (picklable: a Ray worker builds its own :class:`VLMClient` from it).

    Attributes:
        endpoint: base URL of the OpenAI-compatible server (e.g. ``http://127.0.0.1:8000/v1``).
        model: model name as the server knows it.
        samples: answers sampled per photo.
        temperature: sampling temperature.
        timeout_s: seconds to wait for one request.
        retries: retries of one request on 429, 5xx and dropped connections (timeouts are not retried).
        backoff_s: first backoff (doubles per retry, at most 30 s) when the server gives no Retry-After.
        max_tokens: most tokens per answer.
        requests_per_minute: request cap of this client (every HTTP request counts, retries too).
        structured: "auto" (JSON schema, plain text if the server refuses it) or "off".
        image_side: longest side (px) of the JPEG sent.
    """

    endpoint: str
    model: str
    samples: int = DEFAULT_SAMPLES
    temperature: float = DEFAULT_TEMPERATURE
    timeout_s: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    backoff_s: float = 1.0
    max_tokens: int = DEFAULT_MAX_TOKENS
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE
    structured: str = "auto"
    image_side: int = DEFAULT_IMAGE_SIDE

    def __post_init__(self) -> None:
        if not 1 <= int(self.samples) <= MAX_SAMPLES:
            raise ValueError(f"samples must be 1..{MAX_SAMPLES}, got {self.samples}")
        if not 0.0 <= float(self.temperature) <= 2.0:
            raise ValueError(f"temperature must be in [0, 2], got {self.temperature}")
        if not self.timeout_s > 0 or self.retries < 0 or self.max_tokens < 16 or self.requests_per_minute < 1:
            raise ValueError("timeout_s must be > 0, retries >= 0, max_tokens >= 16, requests_per_minute >= 1")
        if self.structured not in ("auto", "off"):
            raise ValueError("structured must be 'auto' or 'off'")


@dataclass(frozen=True)
class ModelAnswers:
    """A model's answers for one photo.

    Attributes:
        model: the model name.
        host: the host that received the photo (:func:`endpoint_host`).
        requested: samples asked for.
        temperature: sampling temperature.
        answers: one parsed answer per sample received.
        messages: what went wrong (plain text; never the key).
        seconds: wall time of the asking.
        token: a random id of this asking (evidence values carry it so that asking again changes them).
    """

    model: str
    host: str
    requested: int
    temperature: float
    answers: tuple[ParsedAnswer, ...] = ()
    messages: tuple[Message, ...] = ()
    seconds: float = 0.0
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    @property
    def usable(self) -> list[ParsedAnswer]:
        """The answers giving a candidate or a country."""
        return [a for a in self.answers if a.usable]


def answer_lines(answers: ModelAnswers) -> list[str]:
    """The model's answers as plain-text lines for the app and reports: per sample its clues, reasoning, countries, candidates.

    Plain text only: show with ``st.text`` or escape before HTML; never render as Markdown.
    """
    lines = [f"{answers.model} at {answers.host}: {len(answers.answers)} of {answers.requested} answers, {answers.seconds:.1f} s"]
    groups: dict[ParsedAnswer, list[int]] = {}
    for i, a in enumerate(answers.answers, 1):
        groups.setdefault(replace(a, raw=""), []).append(i)  # identical answers are listed once
    for a, nums in groups.items():
        lines.append(f"— sample {nums[0]}" if len(nums) == 1 else f"— samples {', '.join(map(str, nums))} (the same answer)")
        if a.refusal:
            lines.append(f"  declined: {a.refusal}")
            continue
        for clue in a.clues:
            lines.append(f"  clue: {clue}")
        if a.reasoning:
            lines.append(f"  reasoning: {a.reasoning}")
        if a.countries:
            lines.append("  countries: " + ", ".join(f"{code} {p:.0%}" for code, p in a.countries))
        for c in a.candidates:
            conf = "" if c.confidence is None else f"  confidence {c.confidence:.0%}"
            rad = "" if c.radius_km is None else f"  ± {c.radius_km:g} km"
            lines.append(f"  {c.lat:.4f}, {c.lon:.4f}{conf}{rad}  {c.place}".rstrip())
        for p in a.problems:
            lines.append(f"  (skipped: {p})")
    return lines


def summarise_answers(answers: Sequence[ParsedAnswer], requested: int) -> list[Message]:
    """Messages saying how many answers were usable, refused or unreadable, and why (plain text)."""
    from ..evidence.base import Message

    out: list[Message] = []
    got = len(answers)
    refused = [a for a in answers if a.refusal]
    usable = [a for a in answers if a.usable]
    unread = [a for a in answers if not a.usable and not a.refusal]
    if refused:
        out.append(Message("warning", f"The model declined to answer in {len(refused)} of {got} samples.", clip(refused[0].refusal or "", 300)))
    if unread:
        out.append(Message("warning", f"{len(unread)} of {got} answers could not be read.", "; ".join(dict.fromkeys(p for a in unread for p in a.problems))[:400]))
    partial = sorted(dict.fromkeys(p for a in usable for p in a.problems))
    if partial:
        out.append(Message("info", f"Parts of {sum(1 for a in usable if a.problems)} usable answers were skipped.", "; ".join(partial)[:400]))
    if got and usable:
        out.append(Message("info", f"{len(usable)} of {requested} samples usable ({sum(len(a.candidates) for a in usable)} candidate locations)."))
    elif got and not usable:
        out.append(Message("error", f"None of the {got} answers gave a usable location or country; the model adds no expert."))
    return out


class RateCap:
    """At most ``per_minute`` events in any 60-second window (thread-safe)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.per_minute = int(per_minute)
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self._clock = clock

    def try_acquire(self) -> float:
        """Take one slot: 0.0 when taken, else the seconds until one frees (nothing taken)."""
        with self._lock:
            now = self._clock()
            while self._times and now - self._times[0] >= 60.0:
                self._times.popleft()
            if len(self._times) < self.per_minute:
                self._times.append(now)
                return 0.0
            return max(60.0 - (now - self._times[0]), 0.001)


_SHARED_CAPS: dict[tuple[str, int], RateCap] = {}
_SHARED_CAPS_LOCK = threading.Lock()


def shared_cap(endpoint: str, per_minute: int) -> RateCap:
    """The process-wide request cap of one endpoint host (every session's clients share it)."""
    key = (endpoint_host(endpoint), int(per_minute))
    with _SHARED_CAPS_LOCK:
        cap = _SHARED_CAPS.get(key)
        if cap is None:
            cap = _SHARED_CAPS[key] = RateCap(per_minute)
        return cap


class _Failure(Exception):
    """A request failed for good; ``message`` says why in plain text (already scrubbed)."""

    def __init__(self, message: Message):
        super().__init__(message.text)
        self.message = message


class VLMClient:
    """Asks one model on one OpenAI-compatible endpoint about photos (thread-safe; one per endpoint and model).

    Args:
        config: endpoint, model and limits.
        api_key: bearer token; None reads :func:`api_key_from_env`; "" sends none (a placeholder).
        sleep: how to wait (tests may pass a recorder).
        cap: the request cap to share (e.g. :func:`shared_cap`); default one of this client's own.

    The key is kept in a private attribute, never in ``repr``, logs or messages.
    """

    def __init__(self, config: VLMConfig, api_key: str | None = None, sleep: Callable[[float], None] = time.sleep, cap: RateCap | None = None):
        import openai

        self.config = config
        key = api_key_from_env() if api_key is None else api_key
        self.__key = key or ""
        self.host = endpoint_host(config.endpoint)
        self._sleep = sleep
        self._cap = cap or RateCap(config.requests_per_minute)
        self._lock = threading.Lock()
        self._n_ok: bool | None = None
        self._schema_ok: bool | None = None if config.structured == "auto" else False
        self._client = openai.OpenAI(
            base_url=normalise_endpoint(config.endpoint),
            api_key=self.__key or "no-key",
            timeout=config.timeout_s,
            max_retries=0,
        )

    def __repr__(self) -> str:
        return f"<VLMClient {self.config.model!r} at {self.host}>"

    @property
    def has_key(self) -> bool:
        """True when a key is sent."""
        return bool(self.__key)

    def scrub(self, text: str) -> str:
        """``text`` with the key (and any bearer token) removed."""
        text = str(text)
        if self.__key:
            text = text.replace(self.__key, "[key]")
        return re.sub(r"(?i)(bearer\s+)\S+", r"\1[key]", text)

    def _message(self, level: str, text: str, detail: str = "") -> Message:
        from ..evidence.base import Message

        return Message(level, self.scrub(text), clip(self.scrub(detail), 300))

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    # -- one HTTP request, with retries and the fallbacks --------------------------------------------

    def _acquire(self, block: bool) -> None:
        while True:
            wait_s = self._cap.try_acquire()
            if wait_s == 0.0:
                return
            if not block:
                raise _Failure(self._message("error", f"The request cap of {self.config.requests_per_minute} per minute is reached; try again in {math.ceil(wait_s)} s."))
            self._sleep(wait_s)

    def _retry_after(self, err: Exception, attempt: int) -> float:
        resp = getattr(err, "response", None)
        headers = getattr(resp, "headers", None) or {}
        for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
            v = _number(headers.get(name)) if headers else None
            if v is not None and v >= 0:
                return min(v * scale, MAX_BACKOFF_S)
        return min(self.config.backoff_s * 2**attempt, MAX_BACKOFF_S)

    def _create(self, content: list[dict[str, Any]], n: int, block: bool) -> Any:
        import openai

        cfg = self.config
        attempt = 0
        dropped_schema = False
        while True:
            kwargs: dict[str, Any] = {
                "model": cfg.model,
                "messages": [{"role": "user", "content": content}],
                "temperature": cfg.temperature,
                "max_tokens": cfg.max_tokens,
            }
            if n > 1:
                kwargs["n"] = n
            use_schema = self._schema_ok is not False
            if use_schema:
                kwargs["response_format"] = RESPONSE_FORMAT
            self._acquire(block)
            try:
                resp = self._client.chat.completions.create(**kwargs)
                if use_schema:
                    self._schema_ok = True
                return resp
            except (openai.BadRequestError, openai.UnprocessableEntityError) as err:
                if use_schema and self._schema_ok is None:
                    log.info("%s: structured output refused (%s); retrying without response_format", self.host, err.status_code)
                    self._schema_ok, dropped_schema = False, True
                    continue
                if n > 1 and self._n_ok is None:
                    log.info("%s: n=%d refused (%s); asking one sample per request", self.host, n, err.status_code)
                    self._n_ok = False
                    if dropped_schema:  # the refusal may have been n's alone: try the schema again with n = 1
                        self._schema_ok = None
                    raise _NoN() from None
                raise _Failure(self._message("error", f"The server rejected the request ({err.status_code}).", _error_detail(err))) from None
            except openai.AuthenticationError as err:
                hint = "" if self.__key else f" No key is set ({KEY_ENV})" + ("" if key_allowed(cfg.endpoint) else ", and the server sends its key only to configured hosts") + "."
                raise _Failure(self._message("error", f"The server refused the credentials (401).{hint}", _error_detail(err))) from None
            except openai.PermissionDeniedError as err:
                raise _Failure(self._message("error", "The server denied access (403).", _error_detail(err))) from None
            except openai.NotFoundError as err:
                raise _Failure(self._message("error", f"Not found (404): check the endpoint's path (usually ending in /v1) and the model name {clip(cfg.model, 60)!r}.", _error_detail(err))) from None
            except openai.APITimeoutError:
                raise _Failure(self._message("error", f"{self.host} did not answer within {cfg.timeout_s:g} s.")) from None
            except (openai.APIStatusError, openai.APIConnectionError) as err:
                status = getattr(err, "status_code", None)
                retryable = isinstance(err, openai.APIConnectionError) or status in _RETRY_STATUS or (status or 0) >= 500
                if retryable and attempt < cfg.retries:
                    delay = self._retry_after(err, attempt)
                    log.info("%s: %s; retry %d of %d in %.2f s", self.host, status or "connection failed", attempt + 1, cfg.retries, delay)
                    self._sleep(delay)
                    attempt += 1
                    continue
                if isinstance(err, openai.APIConnectionError):
                    raise _Failure(self._message("error", f"Could not reach {self.host} ({attempt + 1} tries): is the server running and the URL right?", type(err.__cause__ or err).__name__)) from None
                what = "rate limit (429)" if status == 429 else (f"server error ({status})" if (status or 0) >= 500 else f"HTTP error ({status})")
                raise _Failure(self._message("error", f"{self.host} answered with a {what} {attempt + 1} times; try again later.", _error_detail(err))) from None
            except openai.OpenAIError as err:
                raise _Failure(self._message("error", "The request failed.", f"{type(err).__name__}: {err}")) from None
            except (ValueError, TypeError, KeyError) as err:  # a 200 whose body is not a chat completion (a proxy's page)
                raise _Failure(self._message("error", f"{self.host} answered with something that is not a chat completion; is the URL the API's base (usually ending in /v1)?", type(err).__name__)) from None

    # -- asking about one photo ----------------------------------------------------------------------

    def ask(self, photo: Any, *, stated: Sequence[tuple[str, str]] = (), hints: Sequence[tuple[float, float]] = (), block: bool = False) -> ModelAnswers:
        """Ask the model about one photo: ``config.samples`` answers, parsed, with messages.

        Args:
            photo: a Photo or a PIL image (encoded in memory).
            stated: analyst-consented context for the prompt (see :func:`build_prompt`).
            hints: retrieval hints (lat, lon) in degrees.
            block: wait for the request cap instead of stopping with a message (batches).

        Returns:
            The answers; never raises for server or answer problems (they are messages).
        """
        t0 = time.perf_counter()
        cfg = self.config
        content: list[dict[str, Any]] = [
            {"type": "text", "text": build_prompt(stated, hints)},
            {"type": "image_url", "image_url": {"url": encode_photo(photo, cfg.image_side), "detail": "low"}},
        ]
        parsed: list[ParsedAnswer] = []
        messages: list[Message] = []
        remaining = cfg.samples
        while remaining > 0:
            n = remaining if (self._n_ok is not False and remaining > 1) else 1
            try:
                resp = self._create(content, n, block)
            except _NoN:
                continue
            except _Failure as f:
                messages.append(f.message)
                break
            except Exception as err:  # never let one model break the page or a batch
                log.warning("%s: unexpected %s while asking", self.host, type(err).__name__)
                messages.append(self._message("error", "Asking the model failed unexpectedly.", type(err).__name__))
                break
            choices = list(getattr(resp, "choices", None) or [])[:remaining]
            if not choices:
                messages.append(self._message("warning", "The server returned no answer (no choices)."))
                break
            if n > 1:
                with self._lock:
                    self._n_ok = len(choices) >= n
            for c in choices:
                msg = getattr(c, "message", None)
                parsed.append(parse_answer(getattr(msg, "content", None), getattr(msg, "refusal", None), getattr(c, "finish_reason", None)))
            remaining -= len(choices)
        messages += summarise_answers(parsed, cfg.samples)
        return ModelAnswers(cfg.model, self.host, cfg.samples, cfg.temperature, tuple(parsed), tuple(messages), time.perf_counter() - t0)


class _NoN(Exception):
    """The server refused ``n`` > 1: ask again one sample at a time."""


def _error_detail(err: Exception) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        text = inner.get("message") if isinstance(inner, Mapping) else inner
        return clip(str(text), 300)
    return clip(str(getattr(err, "message", "") or err), 300)


# --------------------------------------------------------------------------------------------------
# The answer cache (in memory only)


@dataclass(frozen=True)
class CacheKey:
    """What one cached set of answers belongs to."""

    digest: str
    endpoint: str
    model: str
    samples: int


class AnswerCache:
    """Answers per (photo digest, endpoint, model, samples), in memory, least recently used out first.

    Args:
        max_entries: most entries kept.
    """

    def __init__(self, max_entries: int = 256):
        self.max_entries = int(max_entries)
        self._data: collections.OrderedDict[CacheKey, ModelAnswers] = collections.OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(photo_or_digest: Any, endpoint: str, model: str, samples: int) -> CacheKey:
        """The key of a photo (or its digest) asked of ``model`` at ``endpoint`` for ``samples`` answers."""
        digest = photo_or_digest if isinstance(photo_or_digest, str) else photo_digest(photo_or_digest)
        return CacheKey(digest, normalise_endpoint(endpoint), str(model).strip(), int(samples))

    def get(self, key: CacheKey) -> ModelAnswers | None:
        """The cached answers, or None."""
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
            return hit

    def put(self, key: CacheKey, answers: ModelAnswers) -> None:
        """Store answers (replacing older ones for the same key)."""
        with self._lock:
            self._data[key] = answers
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


ANSWER_CACHE = AnswerCache()
"""The process's answer cache (the app's panel writes it, :class:`~geolocate.evidence.model.ModelEvidence` reads it)."""


# --------------------------------------------------------------------------------------------------
# From answers to experts


@functools.lru_cache(maxsize=1)
def default_answer_mixture() -> np.ndarray:
    """Scale-mixture weights (over :data:`DEFAULT_SCALES_KM`) for candidates without a radius or a fit.

    Fitted (EM) to errors following the published GCD accuracy of G3 on Im2GPS3k (16.7 / 40.9 / 55.6 /
    71.2 / 84.7 % within 1 / 25 / 200 / 750 / 2,500 km): an assumption about an unknown model, replaced
    by a fitted mixture once a benchmark of the model's own answers exists.
    """
    km = np.array([0.1, 1.0, 25.0, 200.0, 750.0, 2500.0, 20000.0])
    cdf = np.array([0.0, 0.167, 0.409, 0.556, 0.712, 0.847, 1.0])
    q = (np.arange(1000) + 0.5) / 1000
    errors = np.exp(np.interp(q, cdf, np.log(km)))
    return prune_weights(fit_scale_mixture(errors, DEFAULT_SCALES_KM))


_FITTED: dict[str, np.ndarray] = {}
_FITTED_LOCK = threading.Lock()


def set_fitted_mixture(model: str, weights: Sequence[float] | Mapping[str, float]) -> None:
    """Use a scale mixture fitted on a benchmark of ``model``'s answers for its photos' kernels.

    Args:
        model: the model name.
        weights: weights over :data:`DEFAULT_SCALES_KM`, or a bench report's ``{"1km": w, ...}``.
    """
    if isinstance(weights, Mapping):
        scales = [float(str(k).removesuffix("km")) for k in weights]
        if not np.allclose(scales, DEFAULT_SCALES_KM):
            raise ValueError(f"mixture scales {scales} differ from {list(DEFAULT_SCALES_KM)}")
        weights = list(weights.values())
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(DEFAULT_SCALES_KM),) or np.any(w < 0) or not w.sum() > 0:
        raise ValueError(f"expected {len(DEFAULT_SCALES_KM)} non-negative weights")
    with _FITTED_LOCK:
        _FITTED[str(model)] = prune_weights(w)


def fitted_mixture(model: str) -> np.ndarray | None:
    """The scale mixture set for ``model`` (:func:`set_fitted_mixture`), or None."""
    with _FITTED_LOCK:
        return _FITTED.get(str(model))


def load_fitted_mixture(report: str | Path, expert_name: str, model: str) -> None:
    """Set ``model``'s mixture from a ``bench --json`` report's ``point_scale_mixtures[expert_name]``.

    Raises:
        ValueError: the report has no such mixture.
    """
    rep = json.loads(Path(report).read_text())
    mix = rep.get("point_scale_mixtures", {}).get(expert_name)
    if not isinstance(mix, Mapping):
        raise ValueError(f"{report}: no scale mixture for {expert_name!r}; it has {sorted(rep.get('point_scale_mixtures', {}))}")
    set_fitted_mixture(model, mix)


def _logsumexp(a: np.ndarray, logw: np.ndarray) -> np.ndarray:
    """Log-sum-exp over axis 0 of (S, n) with log weights ``logw`` (S,)."""
    x = a + logw[:, None]
    m = np.max(x, axis=0)
    m = np.where(np.isfinite(m), m, 0.0)
    return m + np.log(np.sum(np.exp(x - m[None, :]), axis=0))


class CandidateMixture(Expert):
    """Weighted candidate locations, each a von Mises-Fisher scale mixture (one photo).

    Args:
        latlon: (S, 2) candidate points in degrees.
        weights: (S,) candidate weights (normalised here).
        scales_km: (K,) kernel scales sigma in km.
        scale_weights: (S, K) each candidate's mixture over the scales (rows normalised here).
        name: label.
        why: one line on where the candidates came from.
    """

    kind = ExpertKind.MODEL

    def __init__(self, latlon: np.ndarray, weights: np.ndarray, scales_km: Sequence[float] | np.ndarray, scale_weights: np.ndarray, name: str = "model", why: str = ""):
        latlon = np.asarray(latlon, dtype=np.float64).reshape(-1, 2)
        w = np.asarray(weights, dtype=np.float64)
        sw = np.asarray(scale_weights, dtype=np.float64).reshape(len(latlon), -1)
        if not len(latlon) or w.shape != (len(latlon),) or np.any(w < 0) or not w.sum() > 0:
            raise ValueError("a candidate mixture needs at least one candidate and non-negative weights")
        if np.any(np.abs(latlon[:, 0]) > 90) or np.any(np.abs(latlon[:, 1]) > 180) or not np.isfinite(latlon).all():
            raise ValueError("candidate coordinates out of range")
        self.latlon, self.weights = latlon, w / w.sum()
        self.scales_km = np.asarray(scales_km, dtype=np.float64)
        self.scale_weights = np.array([prune_weights(row) for row in sw]).reshape(sw.shape)
        self.centres = latlon_to_xyz(latlon[:, 0], latlon[:, 1])
        self.name, self.why = name, why

    def _groups(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(centre rows, active scales, their weights) per distinct scale mixture.

        The kernels are evaluated one shared mixture at a time: :func:`kernel_log_density` sums each
        centre's components relative to the broadest component active for *any* centre, which is
        -inf for a centre that gives that component no weight (a 20 km candidate beside a 2,500 km one).
        """
        out = []
        rows_of: dict[tuple[float, ...], list[int]] = {}
        for i, row in enumerate(self.scale_weights):
            rows_of.setdefault(tuple(np.round(row, 12).tolist()), []).append(i)
        for key, rows in rows_of.items():
            w = np.asarray(key)
            active = w > 0
            out.append((np.asarray(rows), self.scales_km[active], w[active]))
        return out

    def _kernels(self, fn: Callable[..., Any], cells: CellSet) -> Any:
        parts = [fn(cells.xyz, cells.area_km2, self.centres[rows], scales, w) for rows, scales, w in self._groups()]
        order = np.concatenate([rows for rows, _, _ in self._groups()])
        inv = np.argsort(order)
        if isinstance(parts[0], tuple):
            return tuple(np.concatenate([p[j] for p in parts])[inv] for j in range(len(parts[0])))
        return np.concatenate(parts)[inv]

    def log_density(self, cells: CellSet) -> np.ndarray:
        """The candidates' kernels at each cell, widened by the cell's spread."""
        k = self._kernels(kernel_log_density, cells)
        return _logsumexp(k, np.log(self.weights))

    def log_density_bounds(self, cells: CellSet, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Bounds over finer cells (sums of each kernel's bounds)."""
        lo, hi = self._kernels(kernel_log_density_bounds, cells)
        lw = np.log(self.weights)
        lo1, hi1 = _logsumexp(lo, lw), _logsumexp(hi, lw)
        return (lo1, hi1) if rows is None else (lo1[None, :], hi1[None, :])

    def mode_candidates(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The candidates (where the density may peak), (S, 2) lat/lon degrees ((len(rows), S, 2) for rows)."""
        return self.latlon.copy() if rows is None else np.repeat(self.latlon[None], len(np.asarray(rows)), axis=0)

    def describe(self) -> str:
        """Candidates, the top one and its weight."""
        i = int(np.argmax(self.weights))
        head = self.name if self.name.lower().startswith(str(self.kind)) else f"{self.kind}: {self.name}"
        return f"{head}: {len(self.weights)} candidates, top ({self.latlon[i, 0]:.3f}, {self.latlon[i, 1]:.3f}) {self.weights[i]:.0%}" + (f" ({self.why})" if self.why else "")


def radius_scale_km(radius_km: float) -> float:
    """Kernel sigma (km) for a stated radius: half of it, the radius clipped to [MIN_RADIUS_KM, MAX_RADIUS_KM]."""
    return float(np.clip(radius_km, MIN_RADIUS_KM, MAX_RADIUS_KM)) / 2.0


def _sample_weights(cands: Sequence[Candidate]) -> np.ndarray:
    """Within-sample candidate weights: stated confidences normalised; equal when none is stated."""
    c = np.array([x.confidence if x.confidence is not None else np.nan for x in cands], dtype=np.float64)
    if np.all(np.isnan(c)) or np.nansum(c) <= 0:
        return np.full(len(cands), 1.0 / len(cands))
    fill = np.nanmean(c) if np.isnan(c).any() else 0.0
    c = np.where(np.isnan(c), fill, c)
    return c / c.sum()


def candidate_mixture(
    points: Sequence[tuple[float, float]],
    weights: Sequence[float],
    radii_km: Sequence[float | None],
    mixture: np.ndarray | None = None,
    name: str = "model",
    why: str = "",
) -> CandidateMixture:
    """Candidates as kernels: sigma = half the stated radius (floored), else ``mixture`` or :func:`default_answer_mixture`.

    With ``mixture`` (weights over :data:`DEFAULT_SCALES_KM`, fitted on a benchmark) every candidate uses
    it and the radii are ignored. Identical candidates (same point and kernel) merge, their weights summed.

    Args:
        points: (lat, lon) in degrees.
        weights: candidate weights.
        radii_km: stated radius per candidate (km) or None.
        mixture: fitted scale-mixture weights, or None.
        name: the expert's name.
        why: one line on where the candidates came from.
    """
    ladder = np.asarray(DEFAULT_SCALES_KM, dtype=np.float64)
    sig: list[float | None] = []
    mix_rows: list[np.ndarray | None] = []
    for r in radii_km:
        if mixture is not None:
            sig.append(None)
            mix_rows.append(np.asarray(mixture, dtype=np.float64))
        elif r is not None and np.isfinite(r) and r > 0:
            sig.append(radius_scale_km(r))
            mix_rows.append(None)
        else:
            sig.append(None)
            mix_rows.append(default_answer_mixture())
    stated = sorted({s for s in sig if s is not None})
    scales = np.array(sorted(set(ladder.tolist()) | set(stated))) if any(m is not None for m in mix_rows) else np.array(stated)
    sw = np.zeros((len(points), len(scales)))
    for i, (s, m) in enumerate(zip(sig, mix_rows)):
        if s is not None:
            sw[i, int(np.flatnonzero(scales == s)[0])] = 1.0
        else:
            assert m is not None
            for k, sc in enumerate(ladder):
                sw[i, int(np.flatnonzero(scales == sc)[0])] += m[k]
    merged: dict[tuple[Any, ...], int] = {}
    keep_rows: list[int] = []
    wsum: list[float] = []
    for i, (pt, w) in enumerate(zip(points, weights)):
        key = (round(float(pt[0]), 6), round(float(pt[1]), 6), *np.round(sw[i], 9).tolist())
        if key in merged:
            wsum[merged[key]] += float(w)
        else:
            merged[key] = len(keep_rows)
            keep_rows.append(i)
            wsum.append(float(w))
    return CandidateMixture(np.array([points[i] for i in keep_rows], dtype=np.float64), np.array(wsum), scales, sw[keep_rows], name=name, why=why)


def answers_experts(answers: Sequence[ModelAnswers], name: str, mixture: np.ndarray | None = None) -> tuple[list[Expert], list[Message]]:
    """The experts a model's answers make: candidate kernels and, when countries were given, a country expert.

    Every usable sample weighs the same (an album's photos share the samples); within a sample the
    candidates weigh by stated confidence. A candidate's kernel has sigma = half its stated radius
    (floored at :data:`MIN_RADIUS_KM`); with ``mixture`` (weights over :data:`DEFAULT_SCALES_KM` fitted
    on a benchmark of this model's answers) every candidate uses it instead; candidates without a
    radius use :func:`default_answer_mixture`.

    Args:
        answers: the answers (one entry per photo).
        name: the expert's name (the countries' expert is ``name + " countries"``).
        mixture: fitted scale-mixture weights, or None.

    Returns:
        (experts, messages).
    """
    from ..evidence.base import Message
    from .region import CountryProbabilityExpert

    samples = [a for ans in answers for a in ans.usable]
    if not samples:
        return [], []
    experts: list[Expert] = []
    messages: list[Message] = []
    with_points = [a for a in samples if a.candidates]
    pts: list[tuple[float, float]] = []
    wts: list[float] = []
    radii: list[float | None] = []
    for a in with_points:
        for c, w in zip(a.candidates, _sample_weights(a.candidates)):
            pts.append((c.lat, c.lon))
            wts.append(w / len(with_points))
            radii.append(c.radius_km)
    if pts:
        how = "fitted scale mixture" if mixture is not None else ("stated radii" if all(r is not None for r in radii) else "stated radii, an assumed mixture where none")
        experts.append(candidate_mixture(pts, wts, radii, mixture, name=name, why=f"{len(with_points)} samples, {how}"))
    with_countries = [a for a in samples if a.countries]
    if with_countries:
        probs: dict[str, float] = {}
        for a in with_countries:
            for code, p in a.countries:
                probs[code] = probs.get(code, 0.0) + p / len(with_countries)
        try:
            experts.append(CountryProbabilityExpert(probs, name=f"{name} countries", kind=ExpertKind.MODEL, why=f"{len(with_countries)} samples"))
        except ValueError as err:
            messages.append(Message("warning", "The model's countries could not be used.", str(err)))
    return experts, messages


# --------------------------------------------------------------------------------------------------
# Batches (embed) and benchmarks (bench)


ANSWER_COLUMNS = ("id", "sample", "lat", "lon", "confidence", "radius_km")
"""Columns of :func:`answer_rows` and of the answers CSV that ``bench --vlm-answers`` reads."""


def answer_rows(photo_id: str, answers: ModelAnswers) -> list[dict[str, Any]]:
    """One row per candidate: id, sample (0-based), lat, lon (degrees), confidence (NaN if unstated), radius_km (NaN)."""
    rows = []
    for s, a in enumerate(answers.answers):
        for c in a.candidates:
            rows.append({
                "id": str(photo_id), "sample": s, "lat": c.lat, "lon": c.lon,
                "confidence": np.nan if c.confidence is None else c.confidence,
                "radius_km": np.nan if c.radius_km is None else c.radius_km,
            })
    return rows


@dataclass(frozen=True)
class PhotoAnswers:
    """One photo's answers in a batch.

    Attributes:
        id: the photo's id.
        answers: the model's answers.
        raw: each sample's raw text (clipped), for the shards.
        rows: :func:`answer_rows` of the answers.
    """

    id: str
    answers: ModelAnswers
    raw: tuple[str, ...] = ()
    rows: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def record(self) -> dict[str, Any]:
        """A JSON-ready record for a shard: id, model, host, samples, raw texts, candidate rows, messages (no key, no photo)."""
        return {
            "id": self.id, "model": self.answers.model, "host": self.answers.host, "samples": self.answers.requested,
            "temperature": self.answers.temperature, "raw": list(self.raw),
            "rows": [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in self.rows],
            "messages": [{"level": m.level, "text": m.text, "detail": m.detail} for m in self.answers.messages],
        }


def answers_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Answer rows (id, sample, lat, lon, confidence, radius_km) from shard records (:meth:`PhotoAnswers.record`).

    The frame is what :func:`answers_batch_expert` takes (``bench`` from the ``embed`` shards).
    """
    rows = [r for rec in records for r in rec.get("rows", [])]
    df = pd.DataFrame(rows, columns=list(ANSWER_COLUMNS))
    for c in ("lat", "lon", "confidence", "radius_km"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    df["id"] = df["id"].astype(str)
    return df


def ask_many(
    client: VLMClient,
    photos: Iterable[tuple[str, Any]] | Iterable[tuple[str, Any, Sequence[tuple[float, float]]]],
    *,
    concurrency: int = 4,
    stated: Sequence[tuple[str, str]] = (),
    progress: Callable[[int, str], None] | None = None,
) -> Iterator[PhotoAnswers]:
    """Ask about many photos, at most ``concurrency`` at once, yielding each photo's answers as it completes.

    Photos are pulled lazily (at most ``2 * concurrency`` are held), so a generator reading shards keeps
    memory bounded; the request cap of the client is waited for, not reported. Order of results is
    completion order; a resumable caller skips ids it already stored before passing them in.

    Args:
        client: the client (its config: endpoint, model, samples).
        photos: (id, Photo or PIL image) pairs, or (id, photo, retrieval hints) triples (hints: (lat, lon)
            degrees of the nearest GeoCLIP gallery entries, G3-style).
        concurrency: requests in flight at most (>= 1).
        stated: analyst context for every prompt (usually none in batches).
        progress: called with (photos done, last id).
    """
    concurrency = max(1, int(concurrency))
    it = iter(photos)
    done = 0
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="vlm") as pool:
        pending: dict[Future[ModelAnswers], str] = {}

        def fill() -> None:
            while len(pending) < 2 * concurrency:
                try:
                    item = next(it)
                except StopIteration:
                    return
                pid, photo = item[0], item[1]
                hints = cast("Sequence[tuple[float, float]]", item[2] if len(item) > 2 else ())
                pending[pool.submit(client.ask, photo, stated=stated, hints=hints, block=True)] = str(pid)

        fill()
        while pending:
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in finished:
                pid = pending.pop(fut)
                ans = fut.result()
                done += 1
                if progress is not None:
                    progress(done, pid)
                yield PhotoAnswers(pid, ans, tuple(a.raw for a in ans.answers), tuple(answer_rows(pid, ans)))
            fill()


def read_answers_csv(path: str | Path, on_error: str = "raise") -> tuple[pd.DataFrame, list[str]]:
    """A CSV of model answers: id, sample, lat, lon, confidence (optional), radius_km (optional).

    Column names are matched case-insensitively (``img_id``/``IMG_ID``/``name`` for the id,
    ``latitude``/``predicted_lat`` for lat, ...). Rows with a bad or out-of-range coordinate raise a
    :class:`~geolocate.data.DataError` naming the line, or with ``on_error="skip"`` are skipped and reported.

    Returns:
        (table with id (str), sample (int), lat, lon, confidence, radius_km, line; report lines).
    """
    from ..data import ID_COLUMNS, PRED_LAT_COLUMNS, PRED_LON_COLUMNS, DataError

    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise DataError(f"{path}: cannot read the answers CSV ({err})") from None
    lower = {c.lower().strip(): c for c in df.columns}

    def col(cands: Sequence[str], what: str, required: bool = True) -> str | None:
        for c in cands:
            if c.lower() in lower:
                return lower[c.lower()]
        if required:
            raise DataError(f"{path}: no {what} column; expected one of {', '.join(cands)}; found {', '.join(map(str, df.columns))}")
        return None

    id_c = col(ID_COLUMNS, "image id")
    lat_c = col(("lat", "latitude", *PRED_LAT_COLUMNS), "latitude")
    lon_c = col(("lon", "lng", "longitude", *PRED_LON_COLUMNS), "longitude")
    s_c = col(("sample", "sample_id", "k"), "sample", required=False)
    c_c = col(("confidence", "conf", "weight", "probability"), "confidence", required=False)
    r_c = col(("radius_km", "radius"), "radius", required=False)
    assert id_c and lat_c and lon_c
    num = functools.partial(pd.to_numeric, errors="coerce")
    out = pd.DataFrame({
        "id": df[id_c].astype(str).str.strip(),
        "sample": num(df[s_c]) if s_c else df.groupby(id_c).cumcount(),
        "lat": num(df[lat_c]), "lon": num(df[lon_c]),
        "confidence": num(df[c_c]) if c_c else np.nan,
        "radius_km": num(df[r_c]) if r_c else np.nan,
        "line": np.arange(len(df)) + 2,
    })
    bad = (~np.isfinite(out["lat"]) | ~np.isfinite(out["lon"]) | (out["lat"].abs() > 90) | (out["lon"].abs() > 180) | (out["id"] == "")).to_numpy()
    bad = bad | (out["confidence"] < 0).fillna(False).to_numpy()
    report = []
    if bad.any():
        first = out[bad].iloc[0]
        why = f"line {int(first['line'])}: id {first['id']!r}, lat {df[lat_c].iloc[int(first['line']) - 2]!r}, lon {df[lon_c].iloc[int(first['line']) - 2]!r}"
        if on_error != "skip":
            raise DataError(f"{path}: {int(bad.sum())} rows have a missing, non-numeric or out-of-range coordinate or a negative confidence; first on {why}")
        report.append(f"{path.name}: {int(bad.sum())} rows skipped (bad coordinate or confidence; first on {why})")
    out = out[~bad].reset_index(drop=True)
    out["sample"] = out["sample"].fillna(-1).astype(int)
    report.insert(0, f"{path.name}: {len(out)} answer rows for {out['id'].nunique()} images")
    return out, report


class SampledPointPredictions(PointPredictions):
    """A model's sampled answers for N records: each record a weighted mixture of its samples' kernels.

    It is a :class:`~geolocate.experts.point.PointPredictions` (so the benchmark fits its scale
    mixture on the fit half and reports the raw prediction's GCD accuracy), whose ``latlon`` is each
    record's most confident answer and whose density mixes all of a record's answers.

    Args:
        name: label.
        samples: (N, S, 2) answers in degrees, NaN where a record has fewer.
        confidence: (N, S) weights (NaN: equal share of what the stated ones leave); normalised per record.
        scales_km: (K,) kernel scales.
        weights: (K,) mixture weights (default equal); :meth:`fit` replaces them.
        source: where the answers came from.
    """

    kind = ExpertKind.MODEL
    CHUNK_CENTRES = 2048
    """Kernel centres evaluated at once (bounds temporary memory)."""

    def __init__(self, name: str, samples: np.ndarray, confidence: np.ndarray | None = None, scales_km: Sequence[float] = DEFAULT_SCALES_KM, weights: Sequence[float] | None = None, source: str = ""):
        samples = np.asarray(samples, dtype=np.float64)
        if samples.ndim != 3 or samples.shape[2] != 2:
            raise ValueError(f"{name}: expected (N, S, 2) answers, got shape {samples.shape}")
        N, S, _ = samples.shape
        ok = np.isfinite(samples).all(axis=2)
        conf = np.full((N, S), np.nan) if confidence is None else np.asarray(confidence, dtype=np.float64).reshape(N, S)
        conf = np.where(ok, conf, np.nan)
        w = np.zeros((N, S))
        for i in range(N):
            if ok[i].any():
                c = conf[i, ok[i]]
                if np.all(np.isnan(c)) or np.nansum(c) <= 0:
                    c = np.ones_like(c)
                else:
                    c = np.where(np.isnan(c), np.nanmean(c), c)
                w[i, ok[i]] = c / c.sum()
        best = np.argmax(np.where(ok, w, -1.0), axis=1)
        rep = np.where(ok.any(axis=1)[:, None], samples[np.arange(N), best], np.nan)
        super().__init__(name, rep, scales_km, weights, source)
        self.kind = ExpertKind.MODEL
        self.samples, self.sample_ok, self.sample_weights = samples, ok, w
        self.radius_km: np.ndarray | None = None
        """(N, S) stated radii in km (NaN where unstated), when the answers gave them."""
        self.sample_xyz = latlon_to_xyz(np.where(ok, samples[..., 0], 0.0).ravel(), np.where(ok, samples[..., 1], 0.0).ravel()).reshape(N, S, 3)

    def fit(self, rows: np.ndarray, truth_latlon: np.ndarray) -> bool:
        """Maximum-likelihood scale-mixture weights for the truth under each record's sample mixture (EM)."""
        rows = np.asarray(rows)
        keep = self.present[rows]
        if not keep.any():
            return False
        r = rows[keep]
        t = np.asarray(truth_latlon, dtype=np.float64)[keep]
        self.weights = fit_sample_mixture(self.samples[r], self.sample_weights[r], t, self.scales_km)
        return True

    def _mix(self, fn: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, n: int) -> np.ndarray:
        rows = np.asarray(rows)
        out = np.zeros((len(rows), n))
        S = self.samples.shape[1]
        step = max(1, self.CHUNK_CENTRES // max(S, 1))
        for a in range(0, len(rows), step):
            rr = rows[a : a + step]
            ok = self.sample_ok[rr]
            if not ok.any():
                continue
            vals = fn(self.sample_xyz[rr][ok])  # (m, n) for the present samples
            full = np.full((len(rr), S, n), -np.inf)
            full[ok] = vals
            with np.errstate(divide="ignore"):
                lw = np.log(self.sample_weights[rr])
            x = full + lw[:, :, None]
            m = np.max(x, axis=1)
            m = np.where(np.isfinite(m), m, 0.0)
            res = m + np.log(np.sum(np.exp(x - m[:, None, :]), axis=1))
            present = ok.any(axis=1)
            out[a : a + len(rr)][present] = res[present]
        return out

    def batch_log_density(self, cells: CellSet, rows: np.ndarray) -> np.ndarray:
        """Each record's mixture of its answers' kernels, (len(rows), n); 0 (uniform) where it has none."""
        w = prune_weights(self.weights)  # weights set by the benchmark (apply_fitted) may be unpruned
        return self._mix(lambda c: kernel_log_density(cells.xyz, cells.area_km2, c, self.scales_km, w), rows, len(cells))

    def record_log_density(self, cells: CellSet, rows: np.ndarray) -> np.ndarray:
        """The same as :meth:`batch_log_density` (records without answers: 0)."""
        return self.batch_log_density(cells, rows)

    def record_log_density_bounds(self, cells: CellSet, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The same as :meth:`log_density_bounds`."""
        return self.log_density_bounds(cells, rows)

    def mode_candidates(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Every answer of each record, (len(rows), S, 2) lat/lon degrees; NaN where absent."""
        rows = np.arange(self.records) if rows is None else np.asarray(rows)
        return np.where(self.sample_ok[rows][..., None], self.samples[rows], np.nan)

    def log_density_bounds(self, cells: CellSet, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Bounds over finer cells, (len(rows), n) each (sums of the kernels' bounds)."""
        rows = np.arange(self.records) if rows is None else np.asarray(rows)
        w = prune_weights(self.weights)
        lo = self._mix(lambda c: kernel_log_density_bounds(cells.xyz, cells.area_km2, c, self.scales_km, w)[0], rows, len(cells))
        hi = self._mix(lambda c: kernel_log_density_bounds(cells.xyz, cells.area_km2, c, self.scales_km, w)[1], rows, len(cells))
        return lo, hi


def fit_sample_mixture(samples: np.ndarray, sample_weights: np.ndarray, truth_latlon: np.ndarray, scales_km: Sequence[float] | np.ndarray = DEFAULT_SCALES_KM, iterations: int = 200) -> np.ndarray:
    """Maximum-likelihood weights of a vMF scale ladder shared by every answer, for records with several answers (EM).

    The likelihood of record m is ``sum_s c_ms sum_k w_k K_k(truth_m | answer_ms)`` (``K_k`` the vMF
    density per km² of scale k); with one answer per record this is :func:`fit_scale_mixture`'s.

    Args:
        samples: (M, S, 2) answers in degrees (NaN where absent).
        sample_weights: (M, S) weights per record (0 where absent).
        truth_latlon: (M, 2) true locations in degrees.
        scales_km: the K kernel scales.
        iterations: EM iterations.

    Returns:
        (K,) weights summing to 1.
    """
    samples = np.asarray(samples, dtype=np.float64)
    t = np.asarray(truth_latlon, dtype=np.float64)
    ok = np.isfinite(samples).all(axis=2) & (np.asarray(sample_weights) > 0)
    d = haversine_km(np.repeat(t[:, :1], samples.shape[1], axis=1), np.repeat(t[:, 1:], samples.shape[1], axis=1), np.where(ok, samples[..., 0], 0.0), np.where(ok, samples[..., 1], 0.0))
    scales = np.asarray(scales_km, dtype=np.float64)
    kappa = EARTH_RADIUS_KM**2 / scales**2
    theta = np.asarray(d, dtype=np.float64) / EARTH_RADIUS_KM
    logk = np.log(kappa)[None, None, :] - kappa[None, None, :] * (1 - np.cos(theta))[:, :, None] - np.log(-np.expm1(-2 * kappa))[None, None, :]
    with np.errstate(divide="ignore"):
        logc = np.where(ok, np.log(np.where(ok, sample_weights, 1.0)), -np.inf)
    keep = ok.any(axis=1)
    logk, logc = logk[keep], logc[keep]
    if not len(logk):
        raise ValueError("no records with answers to fit a scale mixture to")
    w = np.full(len(scales), 1.0 / len(scales))
    for _ in range(iterations):
        joint = logk + logc[:, :, None] + np.log(np.maximum(w, 1e-300))[None, None, :]
        flat = joint.reshape(len(joint), -1)
        m = flat.max(axis=1, keepdims=True)
        resp = np.exp(flat - m)
        resp /= resp.sum(axis=1, keepdims=True)
        w = resp.reshape(joint.shape).sum(axis=1).mean(axis=0)
    return prune_weights(w)


PRUNE_BELOW = 1e-9
"""Mixture weights below this are set to 0 (see :func:`prune_weights`)."""


def prune_weights(w: np.ndarray | Sequence[float]) -> np.ndarray:
    """Weights with negligible components (< :data:`PRUNE_BELOW`) set to 0, renormalised.

    EM leaves weights like 1e-300 on scales no error supports; :func:`~geolocate.experts.point.kernel_log_density`
    sums components relative to the broadest *active* one in float32, clipped at e^80, so a broadest
    component of negligible weight makes the narrow ones' ratio clip and the density near the centre
    collapse (an area to truth of 1e8 km² for a 30 km error). Pruning keeps the broadest active
    component a real one.
    """
    w = np.asarray(w, dtype=np.float64)
    w = np.where(w < PRUNE_BELOW * w.sum(), 0.0, w)
    return w / w.sum()


def answers_batch_expert(answers: pd.DataFrame, ids: Sequence[str], name: str = "vlm", source: str = "", max_samples: int = MAX_SAMPLES) -> tuple[SampledPointPredictions, list[str]]:
    """The batch expert of answer rows (:func:`read_answers_csv` or :func:`answer_rows`), records in ``ids`` order.

    Args:
        answers: rows with id, sample, lat, lon and optionally confidence.
        ids: the benchmark's image ids, in its ground truth's row order.
        name: the expert's name.
        source: where the answers came from.
        max_samples: answers kept per image (lowest sample numbers first).

    Returns:
        (expert, report lines: images without answers, answers for unknown images).
    """
    ids = [str(i) for i in ids]
    pos = {k: i for i, k in enumerate(ids)}
    df = answers.copy()
    df["id"] = df["id"].astype(str)
    unknown = sorted(set(df["id"]) - set(pos))
    df = df[df["id"].isin(pos)]
    sort_cols = ["id", "sample"] if "sample" in df.columns else ["id"]
    df = df.sort_values(sort_cols, kind="stable")
    if "sample" in df.columns:  # keep the first max_samples samples of each image (all their candidates)
        rank = df.groupby("id")["sample"].rank(method="dense").to_numpy()
        df = df[rank <= max_samples]
    else:
        df = df[df.groupby("id").cumcount().to_numpy() < max_samples * MAX_CANDIDATES]
    df = df.copy()
    df["_k"] = df.groupby("id").cumcount()
    # weights as in the app (answers_experts): confidences normalised within a sample, samples equal
    df["_w"] = _row_weights(df)
    S = int(df["_k"].max()) + 1 if len(df) else 1
    N = len(ids)
    samples = np.full((N, S, 2), np.nan)
    conf = np.full((N, S), np.nan)
    r = df["id"].map(pos).to_numpy()
    k = df["_k"].to_numpy()
    samples[r, k, 0], samples[r, k, 1] = df["lat"].to_numpy(float), df["lon"].to_numpy(float)
    conf[r, k] = df["_w"].to_numpy(float)
    radius = np.full((N, S), np.nan)
    if "radius_km" in df.columns:
        radius[r, k] = pd.to_numeric(df["radius_km"], errors="coerce").to_numpy(float)
    report = []
    missing = N - len(set(r.tolist()))
    if missing:
        report.append(f"{name}: {missing} of {N} images have no answer (uniform for those)")
    if unknown:
        report.append(f"{name}: answers for {len(unknown)} images not in the benchmark ignored (e.g. {unknown[0]!r})")
    expert = SampledPointPredictions(name, samples, conf, source=source)
    expert.radius_km = radius
    return expert, report


def _row_weights(df: pd.DataFrame) -> np.ndarray:
    """Per-row weights as in the app: confidences normalised within a sample, every sample equal.

    Unstated confidences take the mean of the stated ones in their sample (all unstated: equal).
    """
    conf = pd.to_numeric(df["confidence"], errors="coerce") if "confidence" in df.columns else pd.Series(np.nan, index=df.index)
    keys = [df["id"], df["sample"]] if "sample" in df.columns else [df["id"], pd.Series(0, index=df.index)]
    g = conf.groupby(keys)
    filled = conf.fillna(g.transform("mean"))
    filled = filled.where(filled.groupby(keys).transform("sum") > 0, 1.0).fillna(1.0)
    within = filled / filled.groupby(keys).transform("sum")
    n_samples = pd.Series(list(zip(*keys)), index=df.index).groupby(df["id"]).transform("nunique")
    return (within / n_samples).to_numpy(float)


def vlm_bench_expert(path: str | Path, spec: BenchmarkSpec, max_samples: int | None = None, name: str | None = None, on_error: str = "raise") -> tuple[SampledPointPredictions, list[str]]:
    """The batch expert for ``bench --vlm-answers CSV``: answers aligned with the benchmark's ground truth.

    Pass the expert to :func:`geolocate.bench.run_benchmark` as ``extra_experts=[expert]`` with the same
    ``max_samples`` and ``on_error``.

    Args:
        path: the answers CSV (see :func:`read_answers_csv`).
        spec: the benchmark.
        max_samples: the benchmark's ``max_samples`` (first N ground-truth images).
        name: the expert's name (default ``"vlm: <file stem>"``).
        on_error: "raise" or "skip" bad rows.

    Returns:
        (expert, report lines for the bench output).
    """
    from ..data import read_ground_truth

    truth, _ = read_ground_truth(spec.ground_truth, on_error=on_error)
    if max_samples:
        truth = truth.iloc[:max_samples]
    df, report = read_answers_csv(path, on_error=on_error)
    expert, more = answers_batch_expert(df, truth["id"].tolist(), name=name or f"vlm: {Path(path).stem}", source=str(path))
    return expert, report + more


class StatedRadiusPredictions(Expert):
    """A model's answers for N records taken at their word: each candidate's kernel from its stated radius.

    The benchmark does not refit it (it is not a :class:`PointPredictions`), so its Recall vs Area
    measures how honest the model's stated radii are, beside :class:`SampledPointPredictions` (the same
    answers with a scale mixture fitted on the fit half). Candidates without a radius use
    :func:`default_answer_mixture`.

    Args:
        name: label.
        samples: (N, C, 2) candidates in degrees (NaN where absent).
        weights: (N, C) candidate weights (0 where absent).
        radius_km: (N, C) stated radii in km (NaN where unstated).
        source: where the answers came from.
    """

    kind = ExpertKind.MODEL

    def __init__(self, name: str, samples: np.ndarray, weights: np.ndarray, radius_km: np.ndarray, source: str = ""):
        samples = np.asarray(samples, dtype=np.float64)
        weights = np.asarray(weights, dtype=np.float64)
        radius_km = np.asarray(radius_km, dtype=np.float64)
        self.name, self.source = name, source
        self.records: int = len(samples)
        self.samples = np.where((np.isfinite(samples).all(axis=2) & (weights > 0))[..., None], samples, np.nan)
        self._mixtures: list[CandidateMixture | None] = []
        for i in range(len(samples)):
            ok = np.isfinite(samples[i]).all(axis=1) & (weights[i] > 0)
            if not ok.any():
                self._mixtures.append(None)
                continue
            radii = [None if not np.isfinite(x) else float(x) for x in radius_km[i, ok]]
            self._mixtures.append(candidate_mixture([tuple(p) for p in samples[i, ok]], weights[i, ok].tolist(), radii, None, name=name))

    def log_density(self, cells: CellSet) -> np.ndarray:
        """The one record's density (a batch of several needs :meth:`batch_log_density`)."""
        if self.records != 1:
            raise TypeError(f"{self.name} holds {self.records} records: use batch_log_density(cells, rows)")
        return self.batch_log_density(cells, np.array([0]))[0]

    def batch_log_density(self, cells: CellSet, rows: np.ndarray) -> np.ndarray:
        """Each record's candidate kernels, (len(rows), n); 0 (uniform) where it has no answer."""
        out = np.zeros((len(rows), len(cells)))
        for j, r in enumerate(np.asarray(rows).tolist()):
            m = self._mixtures[r]
            if m is not None:
                out[j] = m.log_density(cells)
        return out

    def mode_candidates(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Every candidate of each record, (len(rows), C, 2) lat/lon degrees; NaN where absent."""
        rows = np.arange(self.records) if rows is None else np.asarray(rows)
        return self.samples[rows]

    def log_density_bounds(self, cells: CellSet, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Bounds over finer cells, (len(rows), n) each."""
        rows = np.arange(self.records) if rows is None else np.asarray(rows)
        lo, hi = np.zeros((len(rows), len(cells))), np.zeros((len(rows), len(cells)))
        for j, r in enumerate(rows.tolist()):
            m = self._mixtures[r]
            if m is not None:
                lo[j], hi[j] = m.log_density_bounds(cells)
        return lo, hi


def vlm_bench_experts(path: str | Path, spec: BenchmarkSpec, max_samples: int | None = None, name: str | None = None, on_error: str = "raise") -> tuple[list[Expert], list[str]]:
    """The experts ``bench --vlm-answers CSV`` adds: the answers with a fitted mixture, and at their stated radii.

    The second (``"<name> (stated radii)"``) comes only when the CSV states radii. Pass them as ``run_benchmark(spec, extra_experts=experts, max_samples=..., on_error=...)``.

    Returns:
        (experts, report lines for the bench output).
    """
    expert, report = vlm_bench_expert(path, spec, max_samples=max_samples, name=name, on_error=on_error)
    experts: list[Expert] = [expert]
    radius = expert.radius_km
    if radius is not None and np.isfinite(radius).any():
        experts.append(StatedRadiusPredictions(f"{expert.name} (stated radii)", expert.samples, expert.sample_weights, radius, source=expert.source))
    else:
        report.append(f"{expert.name}: the answers state no radii; only the fitted-mixture expert is benchmarked")
    return experts, report


def write_answers_csv(rows: Iterable[Mapping[str, Any]], path: str | Path) -> int:
    """Write answer rows (:func:`answer_rows`) as the CSV ``bench --vlm-answers`` reads; returns the row count."""
    df = pd.DataFrame(list(rows), columns=list(ANSWER_COLUMNS))
    df.to_csv(path, index=False)
    return len(df)


def ask_photo_experts(
    photo: Any,
    config: VLMConfig,
    *,
    client: VLMClient | None = None,
    stated: Sequence[tuple[str, str]] = (),
    cache: AnswerCache | None = None,
    privacy: bool = False,
) -> tuple[list[Expert], list[Message], ModelAnswers]:
    """Ask about one photo and build its experts (for ``predict --vlm-endpoint``): cached in memory per photo.

    Args:
        photo: a Photo or a PIL image.
        config: endpoint, model, samples.
        client: a client to reuse (default: a new one for ``config``, with the key from the environment).
        stated: analyst context for the prompt.
        cache: answer cache (default :data:`ANSWER_CACHE`).
        privacy: refuse endpoints :func:`endpoint_allowed` refuses in privacy mode (nothing is sent).

    Returns:
        (experts, messages, answers); the model's clues and reasoning: :func:`answer_lines` of the answers.
    """
    from ..evidence.base import Message

    refusal = endpoint_refusal(config.endpoint, privacy)
    if refusal:
        return [], [Message("error", refusal)], ModelAnswers(config.model, endpoint_host(config.endpoint), config.samples, config.temperature)
    cache = ANSWER_CACHE if cache is None else cache
    key = cache.key(photo, config.endpoint, config.model, config.samples)
    answers = cache.get(key)
    if answers is None:
        own = client is None
        client = client or VLMClient(config)
        try:
            answers = client.ask(photo, stated=stated)
        finally:
            if own:
                client.close()
        cache.put(key, answers)
    experts, msgs = answers_experts([answers], expert_name(config.model), fitted_mixture(config.model))
    return experts, [*answers.messages, *msgs], answers


def expert_name(model: str) -> str:
    """Name of a model's candidate expert (its countries' expert appends " countries")."""
    return f"model: {clip(str(model).strip() or 'unnamed', 60)}"


def with_samples(config: VLMConfig, samples: int) -> VLMConfig:
    """A copy of ``config`` asking for ``samples`` answers."""
    return replace(config, samples=int(samples))


__all__ = [
    "ALLOWED_HOSTS_ENV", "ANSWER_CACHE", "ANSWER_COLUMNS", "ANSWER_SCHEMA", "DEFAULT_SAMPLES", "DEFAULT_TEMPERATURE", "DEFAULT_TIMEOUT_S",
    "ENDPOINT_ENV", "KEY_ENV", "MIN_RADIUS_KM", "MODEL_ENV", "AnswerCache", "CacheKey", "Candidate", "CandidateMixture", "ModelAnswers",
    "ParsedAnswer", "PhotoAnswers", "RateCap", "SampledPointPredictions", "StatedRadiusPredictions", "VLMClient", "VLMConfig", "answer_lines", "answer_rows", "answers_batch_expert", "answers_frame", "candidate_mixture",
    "answers_experts", "api_key_from_env", "ask_many", "ask_photo_experts", "build_prompt", "country_code", "default_answer_mixture",
    "encode_photo", "endpoint_allowed", "endpoint_host", "endpoint_refusal", "expert_name", "fit_sample_mixture", "fitted_mixture",
    "key_allowed", "load_fitted_mixture", "normalise_endpoint", "parse_answer", "photo_digest", "prune_weights", "read_answers_csv", "set_fitted_mixture", "shared_cap",
    "summarise_answers", "vlm_bench_expert", "vlm_bench_experts", "with_samples", "write_answers_csv",
]
