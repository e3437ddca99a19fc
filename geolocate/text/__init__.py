"""Text in the photo: a reader (:mod:`.ocr`), clues from text (:mod:`.clues`) and their experts (:mod:`.experts`).

``read_photo(photo)`` reads lines with boxes (PP-OCRv4, Tesseract for other scripts);
``extract_clues(lines)`` finds phone numbers, web addresses, languages, scripts, currencies and place
names; ``clue_experts(clues)`` turns them into one expert of kind ``text`` per clue type. The evidence
kind is :class:`geolocate.evidence.text.TextEvidence`.
"""

from .clues import CLUE_KINDS, Clue, Place, extract_clues
from .experts import clue_experts, country_posterior, expert_name

__all__ = ["CLUE_KINDS", "Clue", "Place", "clue_experts", "country_posterior", "expert_name", "extract_clues"]
