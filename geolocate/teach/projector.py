"""The projector's join code: a QR code made on the server, offline (``segno``, pure Python)."""

from __future__ import annotations

import io

QR_SCALE = 12
"""Pixels per QR module: a 33-module code with its border is about 500 px, readable across a room."""


def qr_png(text: str, scale: int = QR_SCALE) -> bytes:
    """A PNG of a QR code holding ``text`` (error correction M, a 4-module quiet zone, black on white)."""
    import segno

    buf = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buf, kind="png", scale=scale, border=4, dark="black", light="white")
    return buf.getvalue()


def spaced_code(code: str) -> str:
    """A round code as read aloud and typed: ``"ABC DEF"`` (groups of three)."""
    code = str(code).strip().upper()
    return " ".join(code[i : i + 3] for i in range(0, len(code), 3))
