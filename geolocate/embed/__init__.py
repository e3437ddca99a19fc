"""Score photo collections at scale: ``python -m geolocate embed INPUT --out DIR``.

Photos (a folder, or a CSV/Parquet manifest of paths or URLs) go through decode -> backbone -> image
experts into resumable Parquet shards (:mod:`.store`), on a local torch DataLoader engine or on Ray Data
(:mod:`.ray_engine`, optional). :func:`experts_from_embeddings` turns stored rows back into the experts
``predict`` would build, for the ensemble and for benchmarks. docs/scale.md has the whole story.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "InputError": "inputs", "Item": "inputs", "collect_items": "inputs",
    "StoredRows": "load", "album_experts": "load", "experts_from_embeddings": "load", "load_rows": "load",
    "EmbedConfig": "run", "EmbedReport": "run", "embed_collection": "run",
}


def __getattr__(name: str) -> Any:
    """The public names, imported on first use: ``python -m geolocate`` must not load torch for every command."""
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EmbedConfig", "EmbedReport", "InputError", "Item", "StoredRows", "album_experts", "collect_items", "embed_collection",
           "experts_from_embeddings", "load_rows"]
