"""Saved investigations: one schema-versioned JSON file that reopens a search exactly, without the photo.

The file holds the shareable link's query (:func:`geolocate.share.encode_query`: weights, budget,
resolution, shown view and every evidence, so reopening restores exactly what the link restores), the
pooling method, the analyst's notes, each photo's name, SHA-256 and EXIF facts (never its pixels), the
app version and when it was created and last saved. A readable copy of the view and the evidence sits
beside the query for people; only the query is read back.

Loading is strict where the link is lenient: a file that is not JSON, is not an investigation, was
written by a newer schema, or holds a bad value is refused with :class:`InvestigationError`, whose
message names the field (``query.budget``, ``photos[0].sha256``, ...), so nothing is silently changed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from .share import ViewParams, decode_query, encode_query

SCHEMA = "geolocate.investigation"
SCHEMA_VERSION = 1
"""Written by this version; files with a higher version are refused (an older app cannot know the new fields)."""

MAX_NOTES_CHARS = 20_000
"""Longest analyst notes accepted (longer notes are refused on save and on load)."""

MAX_PHOTOS = 64
MAX_FILE_BYTES = 2_000_000
"""Largest investigation file read (a real one is a few kB)."""

METHODS = ("log-linear", "linear")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class InvestigationError(ValueError):
    """An investigation file could not be read; ``str(err)`` names the field and says what is wrong."""


@dataclass(frozen=True)
class PhotoRecord:
    """What an investigation keeps of a photo.

    Attributes:
        name: the file's name.
        sha256: SHA-256 of the file's bytes (64 hex digits), "" when the bytes were not available.
        exif: (fact, value) pairs (:func:`geolocate.report.exif_summary`).
    """

    name: str
    sha256: str = ""
    exif: tuple[tuple[str, str], ...] = ()


@dataclass
class Investigation:
    """A saved search.

    Attributes:
        params: weights, budget, resolution, shown view and evidence (what a link restores).
        notes: the analyst's notes (plain text).
        photos: the photos' records.
        method: pooling method, or None for the preset's.
        app_version: geolocate version that saved it.
        created: first saved, ISO 8601 UTC.
        modified: last saved, ISO 8601 UTC.
    """

    params: ViewParams
    notes: str = ""
    photos: tuple[PhotoRecord, ...] = ()
    method: str | None = None
    app_version: str = ""
    created: str = ""
    modified: str = ""

    @property
    def query(self) -> dict[str, str]:
        """The shareable link's query for this investigation (``predict --link`` and the page read it)."""
        return encode_query(self.params)


def sha256_hex(data: bytes) -> str:
    """SHA-256 of bytes as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def photo_record(photo: Any, data: bytes | None = None) -> PhotoRecord:
    """A photo's record: its name, the SHA-256 of ``data`` (or of the photo's own ``sha256`` attribute) and its EXIF facts.

    Args:
        photo: a decoded photo (:class:`~geolocate.image.photo.Photo`) or a :class:`PhotoRecord`.
        data: the file's bytes, when the caller still has them.
    """
    if isinstance(photo, PhotoRecord):
        return photo
    from .report import exif_summary

    digest = sha256_hex(data) if data is not None else str(getattr(photo, "sha256", "") or "")
    return PhotoRecord(name=str(getattr(photo, "name", "photo")), sha256=digest, exif=tuple((str(k), str(v)) for k, v in exif_summary(photo)))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _version() -> str:
    from .report import version

    return version()


def to_dict(inv: Investigation) -> dict[str, Any]:
    """The investigation as the JSON object :func:`save` writes."""
    p = inv.params
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "app_version": inv.app_version or _version(),
        "created": inv.created or _now(),
        "modified": inv.modified or _now(),
        "query": encode_query(p),
        "method": inv.method,
        "notes": inv.notes,
        "photos": [{"name": r.name, "sha256": r.sha256, "exif": [[k, v] for k, v in r.exif]} for r in inv.photos],
        # for people reading the file; load() ignores these and reads the query
        "readable": {
            "weights": dict(p.weights),
            "budget_km2": p.budget_km2,
            "finest_resolution": p.refine,
            "show": p.show,
            "evidence": [[k, v] for k, v in p.evidence.summary()],
        },
    }


def save(params: ViewParams, notes: str = "", photos: Sequence[Any] = (), *, method: str | None = None,
         previous: Investigation | None = None, photo_bytes: Sequence[bytes | None] | None = None) -> str:
    """The investigation as JSON text (UTF-8, indented): what "Save investigation" downloads.

    Args:
        params: the view and evidence (the page's :class:`~geolocate.share.ViewParams`).
        notes: the analyst's notes (plain text, at most :data:`MAX_NOTES_CHARS`).
        photos: decoded photos or :class:`PhotoRecord` s (their pixels are never written).
        method: pooling method ("log-linear" or "linear"), or None for the preset's.
        previous: the investigation this one was opened from: its ``created`` time is kept.
        photo_bytes: the files' bytes per photo (None where unknown), to hash them.

    Raises:
        InvestigationError: notes too long, an unknown method or too many photos.
    """
    if len(notes) > MAX_NOTES_CHARS:
        raise InvestigationError(f"notes: {len(notes):,} characters is over the {MAX_NOTES_CHARS:,} a file keeps")
    if method is not None and method not in METHODS:
        raise InvestigationError(f"method: {method!r} is not one of {', '.join(METHODS)}")
    if len(photos) > MAX_PHOTOS:
        raise InvestigationError(f"photos: {len(photos)} is over the {MAX_PHOTOS} a file keeps")
    data = list(photo_bytes or [])
    records = tuple(photo_record(p, data[i] if i < len(data) else None) for i, p in enumerate(photos))
    now = _now()
    inv = Investigation(params, notes, records, method, _version(), previous.created if previous and previous.created else now, now)
    return json.dumps(to_dict(inv), ensure_ascii=False, indent=1)


def _fail(path: str, what: str) -> InvestigationError:
    return InvestigationError(f"{path}: {what}" if path else what)


def _str(obj: Mapping[str, Any], key: str, path: str, default: str | None = None, limit: int = 200) -> str:
    if key not in obj:
        if default is None:
            raise _fail(f"{path}{key}", "missing")
        return default
    v = obj[key]
    if not isinstance(v, str):
        raise _fail(f"{path}{key}", f"expected text, got {type(v).__name__}")
    if len(v) > limit:
        raise _fail(f"{path}{key}", f"{len(v):,} characters is over {limit:,}")
    return v


def _timestamp(obj: Mapping[str, Any], key: str) -> str:
    v = _str(obj, key, "", default="")
    if v:
        try:
            datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise _fail(key, f"{v[:40]!r} is not an ISO 8601 time") from None
    return v


def _query(obj: Mapping[str, Any]) -> ViewParams:
    q = obj.get("query")
    if not isinstance(q, Mapping):
        raise _fail("query", "missing" if q is None else f"expected an object of link parameters, got {type(q).__name__}")
    for k, v in q.items():
        if not isinstance(v, str):
            raise _fail(f"query.{k}", f"expected text, got {type(v).__name__}")
    params, messages = decode_query(q)
    if messages:
        # name the fields: the keys that cause a problem on their own (several problems: all of them)
        bad = [k for k in q if decode_query({k: q[k]})[1]]
        where = ", ".join(f"query.{k}" for k in bad) if bad else "query"
        raise _fail(where, f"{messages[0].text.rstrip(':')}: {messages[0].detail}")
    return params


def _photos(obj: Mapping[str, Any]) -> tuple[PhotoRecord, ...]:
    raw = obj.get("photos", [])
    if not isinstance(raw, list):
        raise _fail("photos", f"expected a list, got {type(raw).__name__}")
    if len(raw) > MAX_PHOTOS:
        raise _fail("photos", f"{len(raw)} is over {MAX_PHOTOS}")
    out = []
    for i, item in enumerate(raw):
        path = f"photos[{i}]."
        if not isinstance(item, Mapping):
            raise _fail(f"photos[{i}]", f"expected an object, got {type(item).__name__}")
        name = _str(item, "name", path, default="photo")
        digest = _str(item, "sha256", path, default="").lower()
        if digest and not _SHA256.match(digest):
            raise _fail(f"{path}sha256", "expected 64 hexadecimal digits")
        exif = item.get("exif", [])
        if not isinstance(exif, list) or not all(isinstance(x, list) and len(x) == 2 and all(isinstance(y, str) for y in x) for x in exif):
            raise _fail(f"{path}exif", "expected a list of [fact, value] text pairs")
        out.append(PhotoRecord(name, digest, tuple((str(a), str(b)) for a, b in exif)))
    return tuple(out)


def load(text: str | bytes) -> Investigation:
    """Read an investigation file.

    Args:
        text: the file's content (JSON).

    Returns:
        The investigation; ``params`` restores the view and evidence exactly as the saved link did.

    Raises:
        InvestigationError: not JSON, not an investigation, a newer schema version, or a bad value (the
            message names the field).
    """
    if isinstance(text, bytes):
        if len(text) > MAX_FILE_BYTES:
            raise _fail("", f"the file is {len(text) / 1e6:.1f} MB; an investigation is a few kB (at most {MAX_FILE_BYTES / 1e6:.0f} MB)")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise _fail("", f"not a text file (byte {err.start} is not UTF-8)") from None
    if len(text) > MAX_FILE_BYTES:
        raise _fail("", f"the file is {len(text) / 1e6:.1f} MB; an investigation is a few kB")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise _fail("", f"not JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    if not isinstance(obj, dict) or obj.get("schema") != SCHEMA:
        raise _fail("schema", f"this is not a geolocate investigation (expected \"schema\": \"{SCHEMA}\")")
    version = obj.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail("version", f"expected a whole number >= 1, got {version!r}"[:120])
    if version > SCHEMA_VERSION:
        raise _fail("version", f"the file was saved by a newer geolocate (schema version {version}; this one reads up to {SCHEMA_VERSION}): update geolocate to open it")
    method = obj.get("method")
    if method is not None and method not in METHODS:
        raise _fail("method", f"{str(method)[:40]!r} is not one of {', '.join(METHODS)}")
    notes = _str(obj, "notes", "", default="", limit=MAX_NOTES_CHARS)
    return Investigation(
        params=_query(obj),
        notes=notes,
        photos=_photos(obj),
        method=method,
        app_version=_str(obj, "app_version", "", default=""),
        created=_timestamp(obj, "created"),
        modified=_timestamp(obj, "modified"),
    )


def with_notes(inv: Investigation, notes: str) -> Investigation:
    """A copy with other notes (the page's notes field)."""
    return replace(inv, notes=notes)


__all__ = ["SCHEMA", "SCHEMA_VERSION", "Investigation", "InvestigationError", "PhotoRecord", "load", "save", "photo_record", "sha256_hex", "to_dict", "with_notes"]
