"""scripts/fetch_deckgl.py: only a tarball matching deck.gl's published sha512 is unpacked (no download here)."""

from __future__ import annotations

import importlib.util
import io
import sys
import tarfile
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fetch_deckgl.py"


def _load():
    spec = importlib.util.spec_from_file_location("fetch_deckgl", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_tarball_that_is_not_the_published_one_is_refused(tmp_path, monkeypatch, capsys):
    mod = _load()
    monkeypatch.setattr(mod, "VENDOR", tmp_path / "vendor")
    monkeypatch.setattr(mod, "BUNDLE", tmp_path / "vendor" / "deck.gl.min.js")
    fake = tmp_path / "deck.gl.tgz"
    fake.write_bytes(_tgz({"package/dist.min.js": b"alert('not deck.gl')", "package/LICENSE": b"MIT"}))
    monkeypatch.setattr(sys, "argv", ["fetch_deckgl.py", "--from", str(fake)])
    assert mod.main() == 1
    assert "does not match" in capsys.readouterr().err
    assert not (tmp_path / "vendor").exists()


def test_the_pinned_integrity_is_npm_sha512_of_the_tarball():
    mod = _load()
    assert mod.INTEGRITY.startswith("sha512-") and len(mod.INTEGRITY) == len("sha512-") + 88
    assert not mod._verified(b"anything else")
