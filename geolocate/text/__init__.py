"""Text in the photo: a reader (:mod:`.ocr`), clues from text (:mod:`.clues`) and their experts (:mod:`.experts`).

``read_photo(photo)`` reads lines with boxes (PP-OCRv4, Tesseract for other scripts);
``extract_clues(lines)`` finds phone numbers, web addresses, languages, scripts, currencies and place
names; ``clue_experts(clues)`` turns them into one expert of kind ``text`` per clue type. The evidence
kind is :class:`geolocate.evidence.text.TextEvidence`.
"""

from .clues import CLUE_KINDS, Clue, Place, extract_clues
from .experts import clue_experts, country_posterior, expert_name


def warm_up(readers: bool = True) -> None:
    """Load what the first photo would wait for: the readers (~2-4 s, ~420 MB) and the clue tables (~5 s).

    Args:
        readers: also load PP-OCR and Tesseract (False: only the GeoNames index and the CLDR tables).
    """
    if readers:
        from .ocr import warm_up as load_readers

        load_readers()
    extract_clues(["Tel. +33 4 91 54 12 30 www.example.fr Lisboa 1,20 € Москва"])


__all__ = ["CLUE_KINDS", "Clue", "Place", "clue_experts", "country_posterior", "expert_name", "extract_clues", "warm_up"]
