"""``python -m geolocate embed INPUT --out DIR``: registered by :func:`add_subcommand` on the main CLI.

Imports nothing heavy until the command runs, so ``--help`` and the other commands stay fast.
"""

from __future__ import annotations

import argparse
import sys


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {v}")
    return v


def cmd_embed(args: argparse.Namespace) -> int:
    """Handler of ``embed``: exit 0 when every row was scored, 1 when some photos were bad, 2 on a usage error."""
    from ..image.weights import WeightsMissing, default_backbone_spec
    from .inputs import InputError, collect_items
    from .run import EmbedConfig, embed_collection

    try:
        config = EmbedConfig(
            backbone=args.backbone or default_backbone_spec(), engine=args.engine, device=args.device, batch_size=args.batch_size,
            shard_size=args.shard_size, workers=args.workers, top_k=args.top_k, res=args.res, threads=args.threads,
            decode=args.decode, ray_address=args.ray_address, group_by=args.group_by, overwrite=args.overwrite,
            experts=tuple(e.strip() for e in args.experts.split(",") if e.strip()) if args.experts else None,
        )
        items = collect_items(args.input, path_column=args.path_column, id_column=args.id_column, group_by=args.group_by)
        if args.limit:
            items = items[: args.limit]
        print(f"embed: {len(items):,} rows from {args.input}; engine {config.engine}; backbone {config.backbone}", file=sys.stderr)
        report = embed_collection(items, args.out, config, progress=None if args.quiet else sys.stderr)
        from .stages import run_requested  # post-pass stages (--text, --vlm-endpoint): local, after either engine

        stage_lines, stage_failed = run_requested(args, None if args.quiet else sys.stderr)
        report.messages += stage_lines
    except (InputError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except WeightsMissing as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ImportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report.summary())
    return 1 if report.bad or stage_failed else 0


def add_subcommand(subparsers) -> None:
    """Register ``embed`` on an argparse sub-parsers object."""
    from ..grid import DEFAULT_RESOLUTION

    p = subparsers.add_parser("embed", help="score a collection of photos into resumable Parquet shards (local or Ray engine)",
                              description="Backbone embeddings and every image expert's compact result for many photos. "
                                          "Rerun the same command to resume: finished shards are verified and skipped.")
    p.add_argument("input", metavar="INPUT", help="folder of photos (recursive), or a CSV/Parquet manifest with a path or URL column")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (Parquet shards, manifest.json, errors.csv)")
    p.add_argument("--engine", choices=["local", "ray"], default="local", help="local torch DataLoader (default) or Ray Data (pip install -r requirements-ray.txt)")
    p.add_argument("--ray-address", metavar="ADDR", help="join an existing Ray cluster (e.g. auto or ray://host:10001); default: start a local Ray")
    p.add_argument("--backbone", help="open_clip backbone ARCH/TAG (default ViT-L-14/openai; 'tiny-random' for plumbing tests)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, or cuda[:N]; bf16 on GPU, fp32 on CPU")
    p.add_argument("--decode", choices=["cpu", "gpu"], default="cpu", help="decode JPEGs on CPU workers (default) or on the GPU with nvJPEG (local engine)")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="photos per model batch (default 64)")
    p.add_argument("--shard-size", type=_positive_int, default=4096, help="rows per Parquet shard, a multiple of --batch-size (default 4096)")
    p.add_argument("--workers", type=_count, default=None, help="decode processes (default: cores - 1; 0 decodes in the main process)")
    p.add_argument("--threads", type=_positive_int, default=None, help="torch CPU threads for the model (default: torch's choice)")
    p.add_argument("--experts", help="comma-separated experts to store (default all: geoclip,land cover,population,scene,country)")
    p.add_argument("--top-k", type=_positive_int, default=32, help="GeoCLIP cells stored per photo (default 32)")
    p.add_argument("--res", type=int, choices=range(1, 5), default=DEFAULT_RESOLUTION, metavar="RES", help="base H3 resolution of the stored cells (1..4, default 3)")
    p.add_argument("--path-column", help="manifest column with the photo path or URL (default: path, file, filename, image, url, ...)")
    p.add_argument("--id-column", help="manifest column with unique ids (default: id, else the path)")
    p.add_argument("--group-by", metavar="COLUMN", help="album/case mode: score each group of this manifest column as photos of one place (albums.parquet)")
    p.add_argument("--limit", type=_positive_int, help="only the first N rows (quick looks)")
    p.add_argument("--overwrite", action="store_true", help="replace results of a different job in --out instead of refusing")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    from .stages import add_stage_arguments

    add_stage_arguments(p)
    p.set_defaults(func=cmd_embed)
