"""``python -m geolocate cases photos DIR``: check a folder of case photos against the benchmarks.

The folder is what ``GEOLOCATE_CASE_PHOTOS`` points the server at (see :mod:`geolocate.teach.photos`).
The command indexes it, says how many of each benchmark's image ids have a file, shows a few missing ids,
checks that a sample of the files decode, and prints the line that sets the server's variable.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SAMPLE_DECODE = 5


def cmd_photos(args: argparse.Namespace) -> int:
    """Index ``args.folder``; report coverage per benchmark of ``args.data_dir``; 0 when any id was found."""
    from ..data import DataError, discover_benchmarks, read_ground_truth
    from .photos import PhotoError, index_folder, read_clean

    try:
        folder = index_folder(args.folder)
    except PhotoError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{folder.root}: {folder.n_files:,} photo files" + (" (stopped counting: too many files)" if folder.truncated else ""))
    try:
        specs = discover_benchmarks(args.data_dir)
    except OSError as err:
        print(f"error: cannot read {args.data_dir}: {err.strerror or err}", file=sys.stderr)
        return 2
    if args.benchmark:
        specs = [s for s in specs if s.name == args.benchmark]
        if not specs:
            print(f"error: no benchmark {args.benchmark!r} in {args.data_dir}", file=sys.stderr)
            return 2
    found_any = False
    for spec in specs:
        try:
            truth, _ = read_ground_truth(spec.ground_truth, on_error="skip")
        except DataError as err:
            print(f"  {spec.name}: cannot read its ground truth ({err})")
            continue
        ids = truth["id"].astype(str).tolist()
        n, missing = folder.coverage(ids)
        found_any |= n > 0
        print(f"  {spec.name}: {n:,} of {len(ids):,} image ids have a photo ({100 * n / max(len(ids), 1):.1f}%)")
        if missing and n:
            print("    missing, e.g.: " + ", ".join(missing[:3]))
        bad = []
        for i in [i for i in ids if folder.find(i) is not None][:SAMPLE_DECODE]:
            try:
                read_clean(folder.find(i))  # type: ignore[arg-type]
            except (PhotoError, OSError) as err:
                bad.append(f"{i}: {err}")
        for line in bad:
            print(f"    unreadable: {line}")
    if found_any:
        print(f"\nServe them: GEOLOCATE_CASE_PHOTOS={folder.root} (in the server's environment, e.g. deploy/geolocate.env), then restart it.")
        return 0
    print("\nNo image id of these benchmarks matched a file: name files by the benchmark's ids (e.g. Im2GPS3k's "
          "<photo id>_<secret>_<server>_<owner>.jpg, or <photo id>.jpg), or keep YFCC26k's ab/cd/<id>.jpg folders.")
    return 1


def add_subcommand(sub) -> None:
    """Add ``cases`` (with ``photos``) to the ``python -m geolocate`` parser."""
    p = sub.add_parser("cases", help="Cases and Classroom pages: check a folder of case photos")
    inner = p.add_subparsers(dest="cases_command", required=True)
    ph = inner.add_parser("photos", help="index a folder of benchmark photos and report how many image ids it covers")
    ph.add_argument("folder", type=Path, help="the folder (what GEOLOCATE_CASE_PHOTOS will point at)")
    ph.add_argument("--data-dir", type=Path, default=None, help="benchmarks folder (default: the server's, GEOLOCATE_DATA_DIR)")
    ph.add_argument("--benchmark", help="check one benchmark only (e.g. im2gps3k)")
    ph.set_defaults(func=_run_photos)


def _run_photos(args: argparse.Namespace) -> int:
    if args.data_dir is None:
        from ..settings import default_data_dir

        args.data_dir = default_data_dir()
    return cmd_photos(args)
