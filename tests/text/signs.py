"""Rendered signs for the text tests: Pillow with Debian's Noto and DejaVu fonts, then perspective, blur,
noise and JPEG compression (all in memory)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

NOTO = Path("/usr/share/fonts/truetype/noto")
FONTS = {
    "latin": NOTO / "NotoSans-Regular.ttf",
    "latin-bold": NOTO / "NotoSans-Bold.ttf",
    "dejavu": Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    "arabic": NOTO / "NotoSansArabic-Regular.ttf",
    "hebrew": NOTO / "NotoSansHebrew-Regular.ttf",
    "devanagari": NOTO / "NotoSansDevanagari-Regular.ttf",
    "thai": NOTO / "NotoSansThai-Regular.ttf",
    "georgian": NOTO / "NotoSansGeorgian-Regular.ttf",
    "armenian": NOTO / "NotoSansArmenian-Regular.ttf",
    "ethiopic": NOTO / "NotoSansEthiopic-Regular.ttf",
    "cjk": Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
}


@dataclass(frozen=True)
class Sign:
    """A sign to render: lines of text, the font of each, and where it is."""

    name: str
    lines: tuple[str, ...]
    fonts: tuple[str, ...]
    country: str
    place: tuple[float, float] | None = None


def font_missing(sign: Sign) -> str:
    """The first font file the sign needs that is not installed ("" when all are)."""
    for f in sign.fonts:
        if not FONTS[f].exists():
            return str(FONTS[f])
    return ""


def render(sign: Sign, size: tuple[int, int] = (1024, 640), seed: int = 0, distort: bool = True) -> Image.Image:
    """The sign on a board, photographed: slight perspective, blur, sensor noise and JPEG quality 70."""
    rng = np.random.default_rng(seed)
    w, h = size
    im = Image.new("RGB", size, (205, 210, 200))
    d = ImageDraw.Draw(im)
    d.rectangle([30, 30, w - 30, h - 30], fill=(245, 240, 225), outline=(60, 60, 60), width=6)
    n = len(sign.lines)
    y = 70
    for i, (text, f) in enumerate(zip(sign.lines, sign.fonts)):
        px = 64 if i == 0 else 46
        font = ImageFont.truetype(str(FONTS[f]), px)
        while font.getlength(text) > w - 140 and px > 20:
            px -= 4
            font = ImageFont.truetype(str(FONTS[f]), px)
        d.text((70, y), text, font=font, fill=(25, 30, 80))
        y += int(px * 1.7) + (h - 140 - sum(64 * 1.7 for _ in range(n))) // max(n, 1) // 2
    if distort:
        # perspective: the right edge a little farther away
        coeffs = _perspective(size, shrink=0.06)
        im = im.transform(size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC, fillcolor=(190, 195, 185))
        im = im.filter(ImageFilter.GaussianBlur(0.8))
        a = np.asarray(im).astype(np.float32) + rng.normal(0, 6, (h, w, 3))
        im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=70)
        im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return im


def _perspective(size: tuple[int, int], shrink: float) -> list[float]:
    w, h = size
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    dst = [(0, 0), (w, h * shrink), (w, h * (1 - shrink)), (0, h)]
    a, b = [], []
    for (x, y), (u, v) in zip(src, dst):
        a.append([u, v, 1, 0, 0, 0, -x * u, -x * v])
        a.append([0, 0, 0, u, v, 1, -y * u, -y * v])
        b += [x, y]
    return np.linalg.solve(np.array(a, dtype=np.float64), np.array(b, dtype=np.float64)).tolist()


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def best_match(expected: str, read: list[str]) -> tuple[str, float]:
    """The read line closest to ``expected`` and its normalised edit distance (0 = exact, spaces ignored)."""
    e = "".join(expected.split()).casefold()
    best, dist = "", 1.0
    for r in read:
        x = "".join(r.split()).casefold()
        d = edit_distance(e, x) / max(len(e), 1)
        if d < dist:
            best, dist = r, d
    return best, dist


SIGNS = (
    Sign("french", ("BOULANGERIE DU PORT", "Tél. +33 4 91 54 12 30", "www.marseille-tourisme.fr"), ("latin-bold", "latin", "latin"), "FRA", (43.2965, 5.3698)),
    Sign("portuguese", ("Pastelaria Lisboa", "+351 21 346 2917", "Pastéis 1,20 €"), ("latin-bold", "latin", "latin"), "PRT", (38.7223, -9.1393)),
    Sign("german", ("Bäckerei Müller", "Öffnungszeiten täglich", "Tel. +49 89 2424 1234"), ("latin-bold", "latin", "dejavu"), "DEU", (48.137, 11.575)),
    Sign("russian", ("Аптека круглосуточно", "Москва, улица Тверская", "Телефон +7 495 123 45 67"), ("latin", "latin", "latin"), "RUS", (55.7558, 37.6173)),
    Sign("greek", ("Φαρμακείο Αθήνα", "Οδός Ερμού"), ("latin", "latin"), "GRC"),
    Sign("arabic", ("صيدلية القاهرة",), ("arabic",), "EGY"),
    Sign("hebrew", ("בית מרקחת", "תל אביב"), ("hebrew", "hebrew"), "ISR"),
    Sign("hindi", ("दिल्ली रेलवे स्टेशन",), ("devanagari",), "IND"),
    Sign("thai", ("ร้านขายยา กรุงเทพ",), ("thai",), "THA"),
    Sign("korean", ("서울 약국", "종로구"), ("cjk", "cjk"), "KOR"),
    Sign("japanese", ("東京のラーメン", "渋谷区"), ("cjk", "cjk"), "JPN"),
    Sign("chinese", ("北京市朝阳区", "药店"), ("cjk", "cjk"), "CHN"),
    Sign("georgian", ("თბილისი აფთიაქი",), ("georgian",), "GEO"),
    Sign("spanish", ("Farmacia de guardia", "Madrid", "Abierto todos los días"), ("latin-bold", "latin", "latin"), "ESP"),
)

EXTRA_SIGNS = (
    Sign("armenian", ("Երևան դեղատուն",), ("armenian",), "ARM"),
    Sign("ethiopic", ("አዲስ አበባ ፋርማሲ",), ("ethiopic",), "ETH"),
)
"""Signs in the two other scripts Debian packs models for (Armenian, Ethiopic): the memory test and benchmark read them."""
