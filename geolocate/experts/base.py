"""The expert interface: anything that scores places on Earth for one photo or record.

An expert returns an (unnormalised) log density per km² at the centres of any cells. The ensemble
normalises it over the base grid, mixes in a uniform floor and pools it with the others.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..grid import CellSet


class Expert(ABC):
    """A distribution over the globe from one source of evidence.

    Attributes:
        name: short unique label shown in tables and the UI.
        kind: one of "prior", "point", "attribute", "region", "image", "analyst".
    """

    name: str = "expert"
    kind: str = "prior"

    @abstractmethod
    def log_density(self, cells: CellSet) -> np.ndarray:
        """Unnormalised log density per km² at each cell, float64 shape (n,). Finite values only
        (use a large negative number for "essentially impossible")."""

    def describe(self) -> str:
        """One line for tables and tooltips."""
        return f"{self.kind}: {self.name}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class ArrayExpert(Expert):
    """An expert given as values on a fixed set of cells (e.g. a cached model output); finer cells
    inherit the value of their ancestor in that set.

    Args:
        name: label.
        cells: the cells the values refer to (one resolution), uint64 shape (m,), sorted or not.
        log_density: log density per km², shape (m,).
        kind: expert kind.
        fill: log density for cells with no ancestor among ``cells``.
    """

    def __init__(self, name: str, cells: np.ndarray, log_density: np.ndarray, kind: str = "prior", fill: float = -50.0):
        from ..grid import cell_resolutions

        cells = np.asarray(cells, dtype=np.uint64)
        order = np.argsort(cells)
        self.name, self.kind, self.fill = name, kind, float(fill)
        self._cells = cells[order]
        self._values = np.asarray(log_density, dtype=np.float64)[order]
        res = np.unique(cell_resolutions(self._cells))
        if len(res) > 1:
            raise ValueError("ArrayExpert cells must share one resolution")
        self._res = int(res[0]) if len(res) else 0

    def log_density(self, cells: CellSet) -> np.ndarray:
        from ..grid import cells_to_parents

        keys = cells_to_parents(cells.cells, self._res)
        pos = np.clip(np.searchsorted(self._cells, keys), 0, max(len(self._cells) - 1, 0))
        hit = self._cells[pos] == keys if len(self._cells) else np.zeros(len(keys), bool)
        return np.where(hit, self._values[pos] if len(self._cells) else self.fill, self.fill)
