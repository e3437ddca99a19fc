"""Robust photo loading: bytes in, an RGB PIL image out, or a :class:`PhotoError` saying why not.

Everything happens in memory: uploaded photos are never written to disk, and their EXIF GPS position
is never logged (it is returned to the caller, which shows it to the analyst as a hint).

Handled: EXIF orientation; CMYK, palette, 16-bit and 32-bit grayscale, float, alpha (composited on
white), grayscale and bilevel images; HEIC/HEIF/AVIF through ``pillow_heif`` when it is installed.
Refused with a message: empty files, files that are not images, corrupt or truncated images, and
decompression bombs (more than :data:`MAX_PIXELS` pixels).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

MAX_PIXELS = 80_000_000
"""Largest accepted image, in pixels (above any camera photo; PIL refuses from 89 megapixels on its own). Larger headers are refused before decoding,
so a small file that claims a huge size cannot exhaust memory."""

MAX_BYTES = 200 * 1024 * 1024
"""Largest accepted file, in bytes."""

try:  # HEIC/HEIF (iPhone photos) and AVIF through the maintained libheif binding.
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - pillow_heif is in requirements.txt
    HEIF_SUPPORTED = False

_GPS_IFD = 0x8825


class PhotoError(ValueError):
    """A photo could not be used; ``str(err)`` is a message for the analyst."""


@dataclass
class Photo:
    """A decoded photo.

    Attributes:
        image: RGB PIL image, EXIF orientation applied.
        name: display name (e.g. the uploaded file's name).
        gps: (lat, lon) in degrees from EXIF, or None. A hint and possible ground truth; never logged.
        format: the decoder's format name (JPEG, PNG, HEIF, ...).
        original_mode: the PIL mode before conversion to RGB (e.g. CMYK, P, I;16).
    """

    image: Image.Image
    name: str = "photo"
    gps: tuple[float, float] | None = field(default=None, repr=False)
    format: str = ""
    original_mode: str = ""

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height


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


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB: alpha composited on white, high bit depths rescaled."""
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


def load_photo(data: bytes, name: str = "photo") -> Photo:
    """Decode a photo from bytes, in memory.

    Args:
        data: the file's bytes.
        name: display name used in messages.

    Returns:
        A :class:`Photo` with an RGB image (EXIF orientation applied) and the EXIF GPS position if any.

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
            im = Image.open(io.BytesIO(data))
            w, h = im.size
            if w <= 0 or h <= 0:
                raise PhotoError(f"{name}: the image has no pixels ({w}x{h})")
            if w * h > MAX_PIXELS:
                raise PhotoError(
                    f"{name}: refused: the image claims {w}x{h} = {w * h / 1e6:.0f} megapixels, over the "
                    f"{MAX_PIXELS / 1e6:.0f}-megapixel limit (possible decompression bomb)"
                )
            im.load()
            gps = exif_gps(im)
            fmt, original_mode = im.format or "", im.mode
            im = ImageOps.exif_transpose(im)
            rgb = _to_rgb(im)
            rgb.load()
    except PhotoError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise PhotoError(f"{name}: refused as a possible decompression bomb ({err})") from None
    except UnidentifiedImageError:
        head = bytes(data[:12])
        if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc", b"ftypavif") and not HEIF_SUPPORTED:
            raise PhotoError(f"{name}: HEIC/HEIF photos need the pillow_heif package (pip install pillow_heif)") from None
        raise PhotoError(f"{name}: not an image file this tool can read (supported: {formats})") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as err:
        reason = "truncated" if "truncated" in str(err).lower() else "corrupt or truncated"
        raise PhotoError(f"{name}: the image is {reason} and cannot be decoded ({type(err).__name__}: {err})") from None
    return Photo(image=rgb, name=name, gps=gps, format=fmt, original_mode=original_mode)
