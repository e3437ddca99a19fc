"""Fetch deck.gl's standalone browser bundle for the workbench map (optional; setup step, never at run time).

The map component (assets/deckmap) runs on deck.gl. pydeck ships a 4.2 MB bundle of it (with Jupyter
widget code the map does not need); deck.gl's own ``dist.min.js`` is 2.0 MB and a new browser session
parses it in about half the time. This script downloads that file once from the npm registry, checks the
tarball's pinned sha512 (npm's ``dist.integrity``), and writes it to ``assets/deckmap/vendor/`` (ignored by
git). Without it the map uses pydeck's bundle: same drawing, slower first load.

    python scripts/fetch_deckgl.py                    # from registry.npmjs.org
    python scripts/fetch_deckgl.py --from deck.gl-9.4.0.tgz   # air-gapped: a tarball you copied over

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
VENDOR = Path(__file__).resolve().parent.parent / "assets" / "deckmap" / "vendor"
BUNDLE = VENDOR / f"deck.gl-{VERSION}.min.js"


def _verified(tgz: bytes) -> bool:
    algo, _, want = INTEGRITY.partition("-")
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
    ap.add_argument("--timeout", type=float, default=60.0, help="download timeout (s)")
    args = ap.parse_args()
    if BUNDLE.is_file() and not args.source:
        print(f"deck.gl {VERSION} bundle already in place: {BUNDLE}")
        return 0
    try:
        if args.source:
            tgz = Path(args.source).read_bytes()
        else:
            with urllib.request.urlopen(URL, timeout=args.timeout) as r:
                tgz = r.read()
    except OSError as err:
        print(f"warning: could not fetch {URL} ({err}); the map uses pydeck's bundled deck.gl instead", file=sys.stderr)
        return 0
    if not _verified(tgz):
        print(f"error: the tarball does not match deck.gl {VERSION}'s published sha512; nothing written", file=sys.stderr)
        return 1
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.name in ("package/dist.min.js", "package/LICENSE")}
    VENDOR.mkdir(parents=True, exist_ok=True)
    _write(VENDOR / "LICENSE-deck.gl", files["package/LICENSE"])
    _write(BUNDLE, files["package/dist.min.js"])
    print(f"deck.gl {VERSION} bundle written: {BUNDLE} ({len(files['package/dist.min.js']) / 1e6:.1f} MB, sha512 of the tarball checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
