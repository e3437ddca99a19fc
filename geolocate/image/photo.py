"""Robust photo loading: bytes in, an RGB PIL image out, or a :class:`PhotoError` saying why not.

Everything happens in memory: uploaded photos are never written to disk, and their EXIF GPS position
is never logged (it is returned to the caller, which shows it to the analyst as a hint).

Handled: EXIF orientation; CMYK, palette, 16-bit and 32-bit grayscale, float, alpha (composited on
white), grayscale and bilevel images; HEIC/HEIF/AVIF through ``pillow_heif`` when it is installed.
Refused with a message: empty files, files that are not images, corrupt or truncated images, and
decompression bombs (more than :data:`MAX_PIXELS` pixels).

Memory: the experts look at a 224-pixel centre crop, so a photo is downscaled right after decoding
(shortest side at most :data:`KEEP_SHORT_SIDE` pixels, long side at most :data:`MAX_ASPECT` times
that, centred) and only the small copy is kept; the EXIF facts (GPS, time, offset, camera) are read
before. The decoded size is computed from the header before any pixel is allocated, JPEGs are decoded
at a reduced DCT scale, and at most :data:`LARGE_DECODE_SLOTS` large decodes run at once per process,
so a burst of 80-megapixel uploads from many sessions peaks at a known bound
(``tests/image/test_photo_memory.py`` measures it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import re
import threading
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

MAX_PIXELS = 80_000_000
"""Largest accepted image, in pixels (above any camera photo; PIL refuses from 89 megapixels on its own). Larger headers are refused before decoding,
so a small file that claims a huge size cannot exhaust memory."""

MAX_BYTES = 200 * 1024 * 1024
"""Largest accepted file, in bytes."""

KEEP_SHORT_SIDE = 1024
"""Shortest side, in pixels, of the copy that is kept (the experts need 224; the rest is for display)."""

MAX_ASPECT = 8
"""Long side of the kept copy at most this many times the short side (a centred crop: CLIP reads the centre)."""

MAX_DECODE_BYTES = 4 * MAX_PIXELS
"""Largest decoded (pre-downscale) raster, in bytes, as PIL stores it (4 bytes per pixel for RGB, 2 for 16-bit grey)."""

LARGE_DECODE_BYTES = 64 * 1024 * 1024
"""Decodes above this size (in bytes) take one of :data:`LARGE_DECODE_SLOTS` process-wide slots."""

LARGE_DECODE_SLOTS = 2
"""How many large decodes may run at once in one process (bounds the peak under concurrent uploads)."""

_LARGE_DECODES = threading.BoundedSemaphore(LARGE_DECODE_SLOTS)

try:  # HEIC/HEIF (iPhone photos) and AVIF through the maintained libheif binding.
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - pillow_heif is in requirements.txt
    HEIF_SUPPORTED = False

_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_MAKE, _MODEL, _ORIENTATION = 0x010F, 0x0110, 0x0112

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Bytes per pixel of PIL's in-memory raster by mode (PIL pads RGB, YCbCr, LAB, HSV, LA, PA to 32 bits).
_PIL_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}


class PhotoError(ValueError):
    """A photo could not be used; ``str(err)`` is a message for the analyst."""


@dataclass
class Photo:
    """A decoded photo, downscaled for the experts.

    Attributes:
        image: RGB PIL image, EXIF orientation applied, shortest side at most :data:`KEEP_SHORT_SIDE` px.
        name: display name (e.g. the uploaded file's name).
        gps: (lat, lon) in degrees from EXIF, or None. A hint and possible ground truth; never logged.
        format: the decoder's format name (JPEG, PNG, HEIF, ...).
        original_mode: the PIL mode before conversion to RGB (e.g. CMYK, P, I;16).
        original_size: (width, height) in pixels of the file as stored, before orientation and downscaling.
        exif_time: EXIF ``DateTimeOriginal`` as written (``"YYYY:MM:DD HH:MM:SS"``, camera local time), or None.
        exif_offset: EXIF ``OffsetTimeOriginal`` (``"+HH:MM"``, the camera clock's UTC offset), or None.
        camera: EXIF make and model (``"Canon EOS 5D"``), or "".
        notes: what was left out while decoding (e.g. "metadata too large": a PNG's text chunks skipped).
        sha256: SHA-256 of the file's bytes (64 hex digits), taken while they were at hand: the bytes are
            not kept (a saved investigation names its photos by it).
    """

    image: Image.Image
    name: str = "photo"
    gps: tuple[float, float] | None = field(default=None, repr=False)
    format: str = ""
    original_mode: str = ""
    original_size: tuple[int, int] = (0, 0)
    exif_time: str | None = None
    exif_offset: str | None = None
    camera: str = ""
    notes: tuple[str, ...] = ()
    sha256: str = ""

    @property
    def width(self) -> int:
        """Width in pixels of the kept (downscaled) image."""
        return self.image.width

    @property
    def height(self) -> int:
        """Height in pixels of the kept (downscaled) image."""
        return self.image.height

    @property
    def downscaled(self) -> bool:
        """True when the kept image is smaller than the file's own raster."""
        return max(self.image.size) < max(self.original_size)

    def taken_at(self) -> datetime | None:
        """``exif_time`` as a datetime: timezone-aware when ``exif_offset`` is valid, naive (camera local) otherwise; None if absent or malformed."""
        if not self.exif_time:
            return None
        try:
            t = datetime.strptime(self.exif_time.strip().rstrip("\x00")[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            return None
        m = re.fullmatch(r"\s*([+-])(\d{2}):(\d{2})\s*", self.exif_offset or "")
        if m:
            minutes = int(m.group(2)) * 60 + int(m.group(3))
            if minutes <= 14 * 60:
                t = t.replace(tzinfo=timezone(timedelta(minutes=minutes if m.group(1) == "+" else -minutes)))
        return t


def decoded_bytes(mode: str, width: int, height: int) -> int:
    """Bytes PIL allocates for a ``width`` x ``height`` raster in ``mode`` (known from the header alone)."""
    return width * height * _PIL_BYTES_PER_PIXEL.get(mode, 4)


def _rational(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError, ZeroDivisionError):
        num, den = x
        return float(num) / float(den)


def _dms(value) -> float:
    """Degrees from an EXIF (degrees, minutes, seconds) triple of rationals."""
    parts = [_rational(v) for v in value]
    while len(parts) < 3:
        parts.append(0.0)
    return parts[0] + parts[1] / 60.0 + parts[2] / 3600.0


def exif_gps(image: Image.Image) -> tuple[float, float] | None:
    """(lat, lon) in degrees from a PIL image's EXIF GPS tags, or None when absent or invalid.

    (0, 0) is treated as absent: cameras without a fix often write it.
    """
    try:
        gps = image.getexif().get_ifd(_GPS_IFD)
        if not gps or 2 not in gps or 4 not in gps:
            return None
        lat, lon = _dms(gps[2]), _dms(gps[4])
        if str(gps.get(1, "N")).strip().upper().startswith("S"):
            lat = -lat
        if str(gps.get(3, "E")).strip().upper().startswith("W"):
            lon = -lon
    except Exception:  # malformed EXIF must never stop a photo from loading
        return None
    if not (np.isfinite(lat) and np.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180) or (lat == 0 and lon == 0):
        return None
    return float(lat), float(lon)


def _exif_text(value) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if value is None:
        return None
    text = str(value).replace("\x00", "").strip()
    return text or None


def _exif_facts(exif: Image.Exif) -> tuple[str | None, str | None, str, int]:
    """(DateTimeOriginal, OffsetTimeOriginal, camera make + model, orientation) from EXIF; malformed values are absent."""
    try:
        sub = exif.get_ifd(_EXIF_IFD)
        when, offset = _exif_text(sub.get(_DATETIME_ORIGINAL)), _exif_text(sub.get(_OFFSET_TIME_ORIGINAL))
    except Exception:  # malformed EXIF must never stop a photo from loading
        when = offset = None
    make, model = _exif_text(exif.get(_MAKE)) or "", _exif_text(exif.get(_MODEL)) or ""
    camera = model if model.lower().startswith(make.lower()) else f"{make} {model}".strip()
    try:
        orientation = int(exif.get(_ORIENTATION, 1))
    except (TypeError, ValueError):
        orientation = 1
    return when, offset, camera[:100], orientation


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB: alpha composited on white, high bit depths rescaled (call on the small copy)."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # PIL's own conversion clips these to 0..255; rescale the real value range instead.
        a = np.asarray(im, dtype=np.float64)
        if mode.startswith("I;16"):
            lo, hi = 0.0, 65535.0
        else:
            finite = a[np.isfinite(a)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        a = np.nan_to_num((a - lo) / max(hi - lo, 1e-12), nan=0.0)
        g = Image.fromarray(np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8), "L")
        return g.convert("RGB")
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def kept_size(width: int, height: int) -> tuple[int, int, tuple[int, int, int, int]]:
    """Size of the kept copy and the centred crop box (in source pixels) of a ``width`` x ``height`` raster.

    Returns:
        (kept width, kept height, (left, top, right, bottom) crop box in the source).
    """
    short, long_ = min(width, height), max(width, height)
    keep_long = min(long_, MAX_ASPECT * short)  # centred crop of extreme panoramas
    cut = (long_ - keep_long) // 2
    box = (cut, 0, cut + keep_long, height) if width >= height else (0, cut, width, cut + keep_long)
    scale = min(1.0, KEEP_SHORT_SIDE / short)
    kw, kh = box[2] - box[0], box[3] - box[1]
    return max(1, round(kw * scale)), max(1, round(kh * scale)), box


def _downscale(im: Image.Image) -> Image.Image:
    """The kept copy of a loaded raster, in its own mode (before RGB conversion, so 16-bit stays exact)."""
    kw, kh, box = kept_size(*im.size)
    if (kw, kh) == im.size and box == (0, 0, *im.size):
        return im
    if box != (0, 0, *im.size):
        im = im.crop(box)
    if (kw, kh) == im.size:
        return im
    if im.mode == "1":
        im = im.convert("L")
    if im.mode == "P":
        # Palette indices cannot be averaged; thin out to twice the target first, then filter in colour.
        im = im.resize((min(im.width, 2 * kw), min(im.height, 2 * kh)), Image.Resampling.NEAREST)
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode.startswith("I;16"):
        return im.resize((kw, kh), Image.Resampling.BOX)  # PIL filters 16-bit rasters with BOX/NEAREST only
    factor = min(im.width // kw, im.height // kh)
    if factor >= 2:  # an integer box reduction first keeps the intermediate raster small
        im = im.reduce(factor)
    return im.resize((kw, kh), Image.Resampling.LANCZOS)


def _trim_heap() -> None:
    """Hand freed decode buffers back to the OS.

    glibc keeps them otherwise: its mmap threshold grows after the first large free, so later 16 MB PIL
    blocks come from the heap and stay resident.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _bomb_message(name: str, err: Exception) -> str:
    # Pillow's own wording ("... DOS attack") is not for analysts; keep the number, say it plainly.
    m = re.search(r"\((\d+) pixels\)", str(err))
    claimed = f"claims {int(m.group(1)) / 1e6:,.0f} megapixels, " if m else "is "
    return f"{name}: refused: the image {claimed}over the {MAX_PIXELS / 1e6:.0f}-megapixel limit (possible decompression bomb)"


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
METADATA_TOO_LARGE = "metadata too large: the file's text metadata (PNG text chunks) was skipped; the photo itself was decoded"


def _metadata_bomb(err: Exception) -> bool:
    """Whether Pillow refused a text/metadata chunk for its size (not the image data)."""
    text = str(err)
    return "MAX_TEXT_CHUNK" in text or "MAX_TEXT_MEMORY" in text or "Too much memory used in text chunks" in text


def _png_without_text(data: bytes) -> bytes | None:
    """The PNG's bytes without its tEXt/zTXt/iTXt chunks (None when the chunk structure is broken)."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    out: list[bytes | memoryview] = [_PNG_SIGNATURE]
    i, view = len(_PNG_SIGNATURE), memoryview(data)
    while i + 12 <= len(data):
        length = int.from_bytes(data[i : i + 4], "big")
        end = i + 12 + length
        if end > len(data):
            return None
        if data[i + 4 : i + 8] not in _PNG_TEXT_CHUNKS:
            out.append(view[i:end])
        if data[i + 4 : i + 8] == b"IEND":
            break
        i = end
    return b"".join(out)


def load_photo(data: bytes, name: str = "photo") -> Photo:
    """Decode a photo from bytes, in memory, and keep a copy downscaled for the experts.

    A PNG whose text metadata is too large for Pillow (a "metadata bomb": a 100 MB zTXt chunk) is decoded
    without its text chunks, with :data:`METADATA_TOO_LARGE` in ``notes``; other metadata bombs are
    refused as "metadata too large", never as "corrupt".

    Args:
        data: the file's bytes.
        name: display name used in messages.

    Returns:
        A :class:`Photo` (see :func:`_load_photo`).

    Raises:
        PhotoError: empty, not an image, corrupt or truncated, too large, or a decompression bomb.
    """
    try:
        photo = _load_photo(data, name)
        photo.sha256 = hashlib.sha256(data).hexdigest()
        return photo
    except _MetadataBomb as bomb:
        stripped = _png_without_text(data)
        if stripped is None:
            raise PhotoError(f"{name}: metadata too large: the file's metadata is over Pillow's safety limit ({bomb}); the image was not decoded") from None
        try:
            photo = _load_photo(stripped, name)
        except _MetadataBomb:
            raise PhotoError(f"{name}: metadata too large ({bomb})") from None
        finally:
            del stripped
        return dataclasses.replace(photo, notes=(*photo.notes, METADATA_TOO_LARGE), sha256=hashlib.sha256(data).hexdigest())


class _MetadataBomb(Exception):
    """Pillow refused a metadata chunk for its size (internal: :func:`load_photo` retries without it)."""


def _load_photo(data: bytes, name: str = "photo") -> Photo:
    """Decode a photo from bytes, in memory, and keep a copy downscaled for the experts.

    Args:
        data: the file's bytes.
        name: display name used in messages.

    Returns:
        A :class:`Photo` with an RGB image (EXIF orientation applied, shortest side at most
        :data:`KEEP_SHORT_SIDE` px), the EXIF GPS position, time, offset and camera if any.

    Raises:
        PhotoError: empty, not an image, corrupt or truncated, too large, or a decompression bomb.
    """
    if data is None or len(data) == 0:
        raise PhotoError(f"{name}: the file is empty (0 bytes)")
    if len(data) > MAX_BYTES:
        raise PhotoError(f"{name}: the file is {len(data) / 2**20:.0f} MiB; the limit is {MAX_BYTES / 2**20:.0f} MiB")
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone flipped the global; a truncated photo must still be refused
        raise PhotoError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set in this process; refusing to decode partial images")
    formats = "JPEG, PNG, WebP, TIFF, BMP, GIF" + (", HEIC/HEIF/AVIF" if HEIF_SUPPORTED else "")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))  # reads the header only
            w, h = im.size
            if w <= 0 or h <= 0:
                raise PhotoError(f"{name}: the image has no pixels ({w}x{h})")
            if w * h > MAX_PIXELS:
                raise PhotoError(
                    f"{name}: refused: the image claims {w}x{h} = {w * h / 1e6:.0f} megapixels, over the "
                    f"{MAX_PIXELS / 1e6:.0f}-megapixel limit (possible decompression bomb)"
                )
            fmt, original_mode = im.format or "", im.mode
            if fmt == "JPEG":
                # Decode at the coarsest DCT scale (1/2 .. 1/8) that still covers the kept size: 1/64 of the memory.
                kw, kh, _ = kept_size(w, h)
                scale = max(kw / w, kh / h)
                im.draft(None, (math.ceil(w * scale), math.ceil(h * scale)))
            need = decoded_bytes(im.mode, *im.size)
            if need > MAX_DECODE_BYTES:
                raise PhotoError(
                    f"{name}: refused: decoding {w}x{h} {original_mode} needs {need / 2**20:,.0f} MiB, over the "
                    f"{MAX_DECODE_BYTES / 2**20:,.0f} MiB limit"
                )
            large = need > LARGE_DECODE_BYTES
            if large:
                _LARGE_DECODES.acquire()
            try:
                im.load()
                exif = im.getexif()
                gps = exif_gps(im)
                when, offset, camera, orientation = _exif_facts(exif)
                small = _downscale(im)
                if small is not im:
                    im.close()  # the full raster is freed here, before the RGB conversion
                    del im
            finally:
                if large:
                    _LARGE_DECODES.release()
            if large:
                _trim_heap()
            if orientation in _TRANSPOSE:
                small = small.transpose(_TRANSPOSE[orientation])
            rgb = _to_rgb(small)
            rgb.load()
            if isinstance(rgb, ImageFile.ImageFile):
                # Nothing was resized or converted: this is the opened file itself, whose file object holds
                # every encoded byte for as long as the photo lives. Keep a plain copy of its pixels instead.
                kept = rgb.copy()
                rgb.close()
                rgb = kept
    except PhotoError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise PhotoError(_bomb_message(name, err)) from None
    except UnidentifiedImageError:
        head = bytes(data[:12])
        if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc", b"ftypavif") and not HEIF_SUPPORTED:
            raise PhotoError(f"{name}: HEIC/HEIF photos need the pillow_heif package (pip install pillow_heif)") from None
        raise PhotoError(f"{name}: not an image file this tool can read (supported: {formats})") from None
    except MemoryError:
        raise PhotoError(f"{name}: not enough memory to decode this image now; try a smaller copy") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        if _metadata_bomb(err):
            raise _MetadataBomb(str(err)[:200]) from None
        reason = "truncated" if "truncated" in str(err).lower() else "corrupt or truncated"
        raise PhotoError(f"{name}: the image is {reason} and cannot be decoded ({type(err).__name__}: {err})") from None
    return Photo(
        image=rgb, name=name, gps=gps, format=fmt, original_mode=original_mode, original_size=(w, h),
        exif_time=when, exif_offset=offset, camera=camera,
    )
