"""Score photo collections at scale: ``python -m geolocate embed INPUT --out DIR``.

Photos (a folder, or a CSV/Parquet manifest of paths or URLs) go through decode -> backbone -> image
experts into resumable Parquet shards (:mod:`.store`), on a local torch DataLoader engine or on Ray Data
(:mod:`.ray_engine`, optional). :func:`experts_from_embeddings` turns stored rows back into the experts
``predict`` would build, for the ensemble and for benchmarks. docs/scale.md has the whole story.
"""

from .inputs import InputError, Item, collect_items
from .load import StoredRows, album_experts, experts_from_embeddings, load_rows
from .run import EmbedConfig, EmbedReport, embed_collection

__all__ = ["EmbedConfig", "EmbedReport", "InputError", "Item", "StoredRows", "album_experts", "collect_items", "embed_collection",
           "experts_from_embeddings", "load_rows"]
