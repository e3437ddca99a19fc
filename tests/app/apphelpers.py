"""Helpers for the app tests: photos made in memory."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[2]
PAGES = REPO / "pages"


def map_spec(at) -> dict:
    """The one workbench map's spec as the browser receives it (the deck.gl component's arguments)."""
    import json

    maps = [el for el in at.get("component_instance") if el.proto.component_name.endswith("geolocate_map")]
    assert len(maps) == 1, f"{len(maps)} map components"
    return json.loads(maps[0].proto.json_args)["spec"]


def map_layers(at) -> dict:
    """The workbench map decoded into layers: {"layers": [{"id", "data"}], "initialViewState", "tiles"}."""
    from geolocate.maps import spec as mapspec

    return mapspec.decode(map_spec(at))


def jpeg_bytes(size=(64, 48), colour=(30, 140, 60), gps: tuple[float, float] | None = None) -> bytes:
    """A small JPEG made in memory, optionally with an EXIF GPS position (degrees)."""
    im = Image.new("RGB", size, colour)
    buf = io.BytesIO()
    if gps is None:
        im.save(buf, "JPEG")
        return buf.getvalue()
    exif = Image.Exif()
    lat, lon = gps

    def dms(v: float):
        v = abs(v)
        d = int(v)
        m = int((v - d) * 60)
        s = round(((v - d) * 60 - m) * 60, 4)
        return (float(d), float(m), float(s))

    exif[0x8825] = {1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W", 4: dms(lon)}
    im.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def shown_text(markdown: str) -> str:
    """What a person reads from a Markdown string the page escaped (``escape_markdown``): the backslashes go."""
    import re

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)
