"""``python -m geolocate weights status|download`` and reading photo files for ``predict``.

:mod:`geolocate.cli` calls :func:`add_subcommands` on its sub-parsers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .photo import Photo, PhotoError, load_photo
from .weights import backbone_arg


def _progress():
    try:
        from ..cliutil import ProgressBar

        return ProgressBar()
    except ImportError:  # pragma: no cover - the lead's CLI is optional for this module
        return lambda f, m: print(f"[{f:4.0%}] {m}", file=sys.stderr)


def collect_photos(paths: list[str]) -> tuple[list[Photo], list[str]]:
    """Decode the named files and every file of the named folders (non-recursive, sorted).

    Returns:
        (photos, errors): one error line per file that could not be used.
    """
    photos, errors = [], []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
            if not files:
                errors.append(f"{p}: the folder has no files")
        elif p.is_file():
            files = [p]
        else:
            errors.append(f"{p}: no such file or folder")
            continue
        for f in files:
            try:
                photos.append(load_photo(f.read_bytes(), f.name))
            except PhotoError as err:
                errors.append(str(err))
            except OSError as err:
                errors.append(f"{f}: cannot read ({err.strerror or err})")
    return photos, errors


def cmd_weights(args: argparse.Namespace) -> int:
    """Handler of ``weights status|download``."""
    from .suite import download_weights, weights_status
    from .weights import WeightsMissing, weights_dir

    if args.action == "download":
        try:
            rows = download_weights(args.backbone, progress=_progress())
        except WeightsMissing as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    else:
        rows = weights_status(args.backbone)
    print(f"weights directory: {weights_dir()}  (GEOLOCATE_WEIGHTS_DIR overrides)")
    for r in rows:
        print(f"  [{'ok' if r.available else 'MISSING'}] {r.name}: {r.detail}")
        if not r.available:
            print(f"      fix: {r.fix}")
    return 0 if all(r.available for r in rows) else 1


def add_subcommands(subparsers) -> None:
    """Register ``weights`` on an argparse sub-parsers object (``predict`` lives in :mod:`geolocate.predict`)."""
    w = subparsers.add_parser("weights", help="model weights: status, or download on a connected machine")
    w.add_argument("action", choices=["status", "download"])
    w.add_argument("--backbone", type=backbone_arg, help="backbone ARCH/TAG (default ViT-L-14/openai or GEOLOCATE_BACKBONE)")
    w.set_defaults(func=cmd_weights)
