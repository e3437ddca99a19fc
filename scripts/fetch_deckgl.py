"""Fetch deck.gl's standalone browser bundle for the workbench map (optional; setup step, never at run time).

The map component (assets/deckmap) runs on deck.gl. pydeck ships a 4.2 MB bundle of it (with Jupyter
widget code the map does not need); deck.gl's own ``dist.min.js`` is 2.0 MB and needs h3-js beside it
(``h3-js.umd.js``, 0.2 MB, the global ``h3`` its H3 layers call), so a new browser session parses about
half as much. This script downloads both once from the npm registry, checks each tarball's pinned sha512
(npm's ``dist.integrity``), and writes them to ``assets/deckmap/vendor/`` (ignored by git). Without them
the map uses pydeck's bundle: same drawing, slower first load.

    python scripts/fetch_deckgl.py                    # from registry.npmjs.org
    python scripts/fetch_deckgl.py --from deck.gl-9.4.0.tgz --h3-from h3-js-4.5.0.tgz   # air-gapped

Exits 0 when the bundle is in place or could not be fetched (with a warning): the app works either way.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

VERSION = "9.4.0"
URL = f"https://registry.npmjs.org/deck.gl/-/deck.gl-{VERSION}.tgz"
INTEGRITY = "sha512-8q5R1CwUNZUYTZ41BC8l6avRvLIEzT9uceh0PHc6Me74dLlpBvYt92pFLpY25i0HFSg9cRiVuidTXFRpmuZbJg=="
H3_VERSION = "4.5.0"  # deck.gl 9.4's @deck.gl/geo-layers asks for h3-js ^4.4.0
H3_URL = f"https://registry.npmjs.org/h3-js/-/h3-js-{H3_VERSION}.tgz"
H3_INTEGRITY = "sha512-uKmdPc+DuarnR+XqZxEuWOMw7KzzKROrx3MLeJpFnMOs78S9M5eZ+X5RieS9UcSFQqbeXzbfWuX/W9Pyajinqw=="
VENDOR = Path(__file__).resolve().parent.parent / "assets" / "deckmap" / "vendor"
BUNDLE = VENDOR / f"deck.gl-{VERSION}.min.js"
H3_BUNDLE = VENDOR / f"h3-js-{H3_VERSION}.umd.js"


def _verified(tgz: bytes, integrity: str = INTEGRITY) -> bool:
    algo, _, want = integrity.partition("-")
    return base64.b64encode(hashlib.new(algo, tgz).digest()).decode() == want


def _write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="source", help=f"a deck.gl-{VERSION}.tgz already on disk")
    ap.add_argument("--h3-from", dest="h3_source", help=f"an h3-js-{H3_VERSION}.tgz already on disk")
    ap.add_argument("--timeout", type=float, default=60.0, help="download timeout (s)")
    args = ap.parse_args()
    if BUNDLE.is_file() and H3_BUNDLE.is_file() and not (args.source or args.h3_source):
        print(f"deck.gl {VERSION} and h3-js {H3_VERSION} bundles already in place in {VENDOR}")
        return 0
    parts = [
        ("deck.gl", VERSION, URL, INTEGRITY, args.source, "package/dist.min.js", BUNDLE),
        ("h3-js", H3_VERSION, H3_URL, H3_INTEGRITY, args.h3_source, "package/dist/h3-js.umd.js", H3_BUNDLE),
    ]
    unpacked = []
    for name, version, url, integrity, source, member, dest in parts:
        try:
            if source:
                tgz = Path(source).read_bytes()
            else:
                with urllib.request.urlopen(url, timeout=args.timeout) as r:
                    tgz = r.read()
        except OSError as err:
            print(f"warning: could not fetch {url} ({err}); the map uses pydeck's bundled deck.gl instead", file=sys.stderr)
            return 0
        if not _verified(tgz, integrity):
            print(f"error: the tarball does not match {name} {version}'s published sha512; nothing written", file=sys.stderr)
            return 1
        with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
            files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.name in (member, "package/LICENSE")}
        unpacked.append((name, files[member], files["package/LICENSE"], dest))
    VENDOR.mkdir(parents=True, exist_ok=True)
    # The h3 bundle first: the component uses the vendor deck.gl only when both are there.
    for name, code, licence, dest in reversed(unpacked):
        _write(VENDOR / f"LICENSE-{name}", licence)
        _write(dest, code)
        print(f"{name} bundle written: {dest} ({len(code) / 1e6:.1f} MB, sha512 of the tarball checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
